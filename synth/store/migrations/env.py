"""Alembic's environment, run by `alembic.command` (see `synth.store.migrations`).

Online, the migrations run on the connection passed in
`config.attributes["connection"]`, inside the transaction the caller holds
(and under its lock). Offline (`--sql`), they render against the URL in the
`sqlalchemy.url` option.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from synth.store.sqltables import metadata


def _run_online(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: autogenerate writes batch operations there.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "synth's migrations run on a connection passed in "
            "config.attributes['connection']; use synth.store.migrations.upgrade(engine)"
        )
    _run_online(connection)
