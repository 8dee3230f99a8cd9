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
    """Cast a sampled column to its Arrow type: ints rounded, datetimes from epoch seconds.

    Values beyond the type's range are clipped to it; a label that is no value
    of the type (an "other" label of a categorical column stored as numbers)
    becomes null.
    """
    t = col.dtype
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        if col.kind is ColumnKind.BOOLEAN and pa.types.is_string(values.type) and not pa.types.is_string(t):
            values = pc.equal(values, "true")  # the labels "false"/"true", for a boolean stored as 0/1
        if values.type == t:
            return values
        return _cast_or_null(values, t) if pa.types.is_string(values.type) else values.cast(t)
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        mask = np.isnan(arr)
        if pa.types.is_integer(t):
            dtype = np.dtype(t.to_pandas_dtype())
            info = np.iinfo(dtype)
            # float(2^63 - 1) is 2^63, which does not fit: clip to the largest float that does.
            hi = float(info.max) if float(info.max) <= info.max else np.nextafter(float(info.max), 0.0)
            ints = np.clip(np.rint(np.where(mask, 0, arr)), float(info.min), hi).astype(dtype)
            return pa.array(ints, mask=mask, type=t)
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            per_micro = {"s": 1e-6, "ms": 1e-3, "us": 1.0, "ns": 1e3}[getattr(t, "unit", "us")]
            limit = np.nextafter(2.0**63, 0.0) / max(per_micro, 1.0)  # what the unit can hold
            micros = np.rint(np.clip(np.where(mask, 0, arr) * 1e6, -limit, limit)).astype(np.int64)
            ts = pa.array(micros, type=pa.timestamp("us"), mask=mask)
            if pa.types.is_date(t):
                return pc.cast(ts, pa.date32())
            return ts.cast(pa.timestamp(t.unit, tz=t.tz), safe=False)
        if pa.types.is_boolean(t) or col.kind is ColumnKind.BOOLEAN:
            flags = pa.array(np.where(mask, False, arr > 0.5), mask=mask)
            return flags if pa.types.is_boolean(t) else flags.cast(t)  # "true"/"false" as text
        return pa.array(np.where(mask, 0.0, arr), mask=mask).cast(t)
    if arr.dtype == object:
        if pa.types.is_string(t):
            return pa.array(list(arr), type=t)
        inferred = pa.array(list(arr))
        return _cast_or_null(inferred, t) if pa.types.is_string(inferred.type) else inferred.cast(t)
    return pa.array(arr).cast(t)


def cast_columns(
    cols: Mapping[str, pa.Array | np.ndarray], schema: TableSchema, arrow_schema: pa.Schema
) -> pa.RecordBatch:
    arrays = [cast_column(cols[c.name], c) for c in schema.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


def to_float(arr: pa.Array | pa.ChunkedArray, col: ColumnSchema) -> np.ndarray:
    """A numerical or datetime column as float64 (datetimes in epoch seconds), NaN for null.

    No cell can make it raise (a fit that fails on one cell tells the job's
    reader something about it): text that is no number is NaN, like a null;
    integers beyond 2^53 round to the nearest float64; datetimes are read
    from their stored integer, so no unit conversion can overflow or lose
    sub-microsecond digits.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        out = _epoch_seconds(arr)
    elif col.kind is ColumnKind.BOOLEAN:
        out = pc.cast(to_boolean(arr), pa.float64()).to_numpy(zero_copy_only=False)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        out = _cast_or_null(arr, pa.float64()).to_numpy(zero_copy_only=False)
    else:
        out = pc.cast(arr, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    out = np.asarray(out, dtype=np.float64)
    if arr.null_count:
        out = out.copy()
        out[np.asarray(arr.is_null())] = np.nan
    return out


def _epoch_seconds(arr: pa.Array) -> np.ndarray:
    """Seconds since the epoch from the stored integers (UTC whatever the time zone).

    Every value that fits microseconds gives the same float as before (the
    value in microseconds / 1e6); the others no longer raise.
    """
    t = arr.type
    ints = np.asarray(
        pc.cast(arr, pa.int32() if pa.types.is_date32(t) else pa.int64())
        .fill_null(0)
        .to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    if pa.types.is_date32(t):
        return ints.astype(np.float64) * 86_400.0
    unit = "ms" if pa.types.is_date64(t) else t.unit
    if unit == "s":
        return ints.astype(np.float64)
    if unit == "ms":
        return ints / 1e3
    if unit == "us":
        return ints / 1e6
    micros, nanos = np.divmod(ints, 1000)
    return micros / 1e6 + nanos / 1e9


def to_boolean(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A boolean column whatever type stores it; a cell that is no boolean becomes null.

    Text is read by Arrow's parser ("true"/"false"/"1"/"0", any case), so a
    column declared boolean but holding "maybe" fits instead of failing; numbers
    are true when non-zero.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_boolean(arr.type):
        return arr
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return _cast_or_null(arr, pa.bool_())
    return pc.cast(arr, pa.bool_())


def _cast_or_null(arr: pa.Array, to: pa.DataType) -> pa.Array:
    """Text cast by Arrow's parser; a cell it cannot parse becomes null (the others as cast alone)."""
    try:
        return pc.cast(arr, to)
    except pa.ArrowInvalid:
        pass
    distinct = pc.unique(arr.drop_null())
    parsed = []
    for v in distinct:
        try:
            parsed.append(v.cast(to).as_py())
        except pa.ArrowInvalid:
            parsed.append(None)
    return pa.array(parsed, type=to).take(pc.index_in(arr, value_set=distinct))
