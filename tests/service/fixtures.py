"""Helpers shared by the service tests."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from synth.client import Client, Source


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
