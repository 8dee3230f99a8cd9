"""Helpers shared by the service tests."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from synth.client import Client, Source
from synth.server import RunningServer

#: The subjects the service tests call as: an owner (the default), a second owner, an admin.
OWNER, OTHER_OWNER, ADMIN = "alice", "bob", "root"
_TOKENS: dict[tuple[int, str, str], str] = {}


def token_for(server: RunningServer, subject: str = OWNER, roles: str = "owner") -> str:
    """A bearer token for `subject` with `roles` on `server` (made once per server)."""
    key = (id(server), subject, roles)
    if key not in _TOKENS:
        _TOKENS[key] = server.service.stores.tokens.create(subject, roles, description="test")[1]
    return _TOKENS[key]


def owner_token(server: RunningServer) -> str:
    return token_for(server, OWNER, "owner")


def admin_token(server: RunningServer) -> str:
    return token_for(server, ADMIN, "admin")


def connect(server: RunningServer, *, token: str | None = None, **kw: Any) -> Client:
    """`Client.connect` to `server` as its test owner (or with `token`)."""
    return Client.connect(server.address, token=token or owner_token(server), **kw)


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue()


def distinct_csv(table: pa.Table, i: int, rows: int = 3000) -> bytes:
    """`rows` rows of `table` starting at row `i`, as CSV: a table of its own for each `i`
    (the same rows registered again under another id are refused: no fresh budget)."""
    return csv_bytes(table.slice(i, rows))


def register_approved(client: Client, source_id: str, data: Any = None, **kw: Any) -> Source:
    """`client.register_source`, then approve the proposed schema as is (a registered
    schema is pending, and training refuses it): for tests that train on the source.
    The raw-stub tests have `Stubs.register_approved`."""
    return client.approve_schema(client.register_source(source_id, data, **kw))
