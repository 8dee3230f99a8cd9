"""Helpers shared by the service tests."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue()
