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


def register_approved(client: Client, source_id: str, data: Any = None, **kw: Any) -> Source:
    """`client.register_source`, then approve the proposed schema as is (a registered
    schema is pending, and training refuses it): for tests that train on the source.
    The raw-stub tests have `Stubs.register_approved`."""
    return client.approve_schema(client.register_source(source_id, data, **kw))
