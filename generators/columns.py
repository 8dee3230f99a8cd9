"""Turning sampled values back into the schema's Arrow types, and the columns no model learns.

Id columns get fresh unique values; PII columns get fake values from Faker,
seeded from the batch's generator. Neither reads the source.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from faker import Faker

from synth.base.schema import ColumnKind, ColumnSchema, TableSchema

_FAKE_BY_NAME = (
    ("email", "email"),
    ("phone", "phone_number"),
    ("ssn", "ssn"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("address", "address"),
    ("city", "city"),
    ("name", "name"),
)


def _fake_values(col: ColumnSchema, n: int, rng: np.random.Generator) -> pa.Array:
    fake = Faker()
    fake.seed_instance(int(rng.integers(0, 2**31)))
    method = "pystr"
    lname = col.name.lower()
    for hint, m in _FAKE_BY_NAME:
        if hint in lname:
            method = m
            break
    make = getattr(fake, method)
    return pa.array([make() for _ in range(n)], type=pa.string())


def _fresh_ids(col: ColumnSchema, n: int, rng: np.random.Generator, offset: int) -> pa.Array:
    if pa.types.is_integer(col.dtype):
        return pa.array(np.arange(offset + 1, offset + n + 1, dtype=np.int64)).cast(col.dtype)
    raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.uint64)
    return pa.array([f"{a:016x}{b:016x}" for a, b in raw], type=pa.string())


def unmodelled_columns(
    schema: TableSchema, n: int, rng: np.random.Generator, *, offset: int
) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    for col in schema.columns:
        if col.kind is ColumnKind.ID:
            out[col.name] = _fresh_ids(col, n, rng, offset)
        elif col.kind is ColumnKind.PII:
            out[col.name] = _fake_values(col, n, rng)
    return out


def cast_column(values: pa.Array | np.ndarray, col: ColumnSchema) -> pa.Array:
    """Cast a sampled column to its Arrow type: ints rounded, datetimes from epoch seconds."""
    t = col.dtype
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == t else values.cast(t)
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        mask = np.isnan(arr)
        if pa.types.is_integer(t):
            info = np.iinfo(t.to_pandas_dtype())
            ints = np.clip(np.rint(np.where(mask, 0, arr)), info.min, info.max).astype(np.int64)
            return pa.array(ints, mask=mask).cast(t)
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            micros = np.rint(np.where(mask, 0, arr) * 1e6).astype(np.int64)
            ts = pa.array(micros, type=pa.timestamp("us"), mask=mask)
            if pa.types.is_date(t):
                return pc.cast(ts, pa.date32())
            return ts.cast(pa.timestamp(t.unit, tz=t.tz), safe=False)
        if pa.types.is_boolean(t):
            return pa.array(np.where(mask, False, arr > 0.5), mask=mask)
        return pa.array(np.where(mask, 0.0, arr), mask=mask).cast(t)
    if arr.dtype == object:
        return pa.array(list(arr), type=t if pa.types.is_string(t) else None).cast(t)
    return pa.array(arr).cast(t)


def cast_columns(
    cols: Mapping[str, pa.Array | np.ndarray], schema: TableSchema, arrow_schema: pa.Schema
) -> pa.RecordBatch:
    arrays = [cast_column(cols[c.name], c) for c in schema.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


def to_float(arr: pa.Array | pa.ChunkedArray, col: ColumnSchema) -> np.ndarray:
    """A numerical or datetime column as float64 (datetimes in epoch seconds), NaN for null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        micros = pc.cast(pc.cast(arr, pa.timestamp("us", tz=getattr(t, "tz", None))), pa.int64())
        out = micros.to_numpy(zero_copy_only=False).astype(np.float64) / 1e6
    elif pa.types.is_boolean(t):
        out = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    else:
        out = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    out = np.asarray(out, dtype=np.float64)
    if arr.null_count:
        out = out.copy()
        out[np.asarray(arr.is_null())] = np.nan
    return out
