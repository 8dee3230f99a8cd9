"""A fresh metadata database per server when the tests run against PostgreSQL.

`SYNTH_TEST_DATABASE_URL` names a PostgreSQL server (a SQLAlchemy URL such as
`postgresql+psycopg://postgres@/postgres?host=/tmp/pg`; `scripts/with-postgres.sh`
starts a throwaway one and sets it). When it is set, `fresh_database()` creates
a database with a random name there through an admin connection to the URL's
database, yields its URL, and drops it afterwards, so each server starts empty
and the tests stay isolated. When it is not set, it yields "" and the server
keeps its default SQLite file in the data folder.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

ENV = "SYNTH_TEST_DATABASE_URL"


def server_url() -> str:
    """The PostgreSQL server the tests should use, or "" for SQLite."""
    url = os.environ.get(ENV, "").strip()
    if url and make_url(url).get_backend_name() != "postgresql":
        raise RuntimeError(f"{ENV} must name a PostgreSQL server, not {url!r}")
    return url


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new empty database on the server of `SYNTH_TEST_DATABASE_URL`, or ""."""
    base = server_url()
    if not base:
        yield ""
        return
    url = make_url(base)
    admin_url = url if url.database else url.set(database="postgres")
    name = f"synth_test_{secrets.token_hex(6)}"
    # CREATE/DROP DATABASE cannot run in a transaction.
    admin = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                # FORCE: a server that was not stopped may still hold connections.
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
