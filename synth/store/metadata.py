"""The metadata database: any SQLAlchemy URL, a SQLite file by default.

SQLite runs in WAL mode and every transaction starts with BEGIN IMMEDIATE, so
a read-check-write (the budget charge) is serialised across threads and
processes; on PostgreSQL the same code takes a row lock (SELECT ... FOR UPDATE).

The store upgrades the schema to the newest migration on start-up (one server at
a time; a database from before migrations is recognised): see
synth.store.migrations.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import NullPool

from synth.store.migrations import upgrade


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url, poolclass=NullPool, connect_args={"timeout": 60, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _owner_only(database: str | None) -> None:
    """The SQLite file (and its WAL, which SQLite creates with the same mode) readable by
    the server's user alone: it holds exact row counts, evaluation scores and token hashes."""
    if database and database != ":memory:" and os.path.isfile(database):
        os.chmod(database, 0o600)


class MetadataStore:
    """Owns the engine; hands out transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = (
            _sqlite_engine(url)
            if url.startswith("sqlite")
            else create_engine(url, pool_pre_ping=True)
        )
        upgrade(self.engine)
        if self.is_sqlite:
            _owner_only(self.engine.url.database)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
