"""Encode a table into the layout's float matrix and decode generator output back.

Vectorised over whole columns (Arrow compute and numpy); no per-row Python.
Encoding reads real rows, so it runs only after the layout is fixed (from
public declarations and DP measurements) and only to feed DP-SGD.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generators.columns import to_float
from generators.dpctgan.layout import OTHER, CategoricalSpec, Layout, NumericalSpec
from synth.base.schema import TableSchema


def as_strings(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A categorical or boolean column as plain strings (booleans as "false"/"true")."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def slot_codes(
    arr: pa.Array | pa.ChunkedArray, values: tuple[str, ...], *, other: bool, nullable: bool
) -> np.ndarray:
    """Slot index of each row: a listed value, else "other", null last.

    Without an "other" slot, unlisted values go to the null slot when there
    is one, else to slot 0 (they can only exist when the owner's declared
    category list is incomplete).
    """
    s = as_strings(arr)
    idx = pc.index_in(s, value_set=pa.array(list(values), type=pa.string()))
    codes = idx.to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(codes.astype(np.float64)), -1, codes).astype(np.int64)
    is_null = np.asarray(s.is_null(), dtype=bool)
    null_slot = len(values) + int(other)
    unlisted = (codes < 0) & ~is_null
    if other:
        codes[unlisted] = len(values)
    else:
        codes[unlisted] = null_slot if nullable else 0
    if nullable:
        codes[is_null] = null_slot
    else:
        codes[is_null] = len(values) if other else 0
    return codes


def numerical_codes(v: np.ndarray, spec: NumericalSpec) -> tuple[np.ndarray, np.ndarray]:
    """(mode index, α) of each value; null rows get the null slot and α = 0."""
    centers = np.asarray(spec.centers)
    halves = np.asarray(spec.halves)
    null = np.isnan(v)
    x = np.clip(np.where(null, spec.lower, v), spec.lower, spec.upper)
    interval = np.flatnonzero(halves > 0)
    mode = np.zeros(len(x), dtype=np.int64)
    if interval.size:
        lo = centers[interval] - halves[interval]
        mode = interval[np.clip(np.searchsorted(lo, x, side="right") - 1, 0, interval.size - 1)]
    for p in np.flatnonzero(halves == 0):  # at most two point masses (the bounds)
        mode[x == centers[p]] = p
    h = halves[mode]
    alpha = np.where(h > 0, (x - centers[mode]) / np.where(h > 0, h, 1.0), 0.0)
    alpha = np.clip(alpha, -1.0, 1.0)
    if spec.nullable:
        mode[null] = spec.n_modes
    alpha[null] = 0.0
    return mode, alpha


def encode(table: pa.Table, schema: TableSchema, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """(encoded rows float32 [n, width], categorical slot codes int64 [n, n_categorical])."""
    n = table.num_rows
    out = np.zeros((n, layout.width), dtype=np.float32)
    cats: list[np.ndarray] = []
    rows = np.arange(n)
    for off, spec in zip(layout.offsets(), layout.columns, strict=True):
        arr = table.column(spec.name)
        if isinstance(spec, NumericalSpec):
            mode, alpha = numerical_codes(to_float(arr, schema[spec.name]), spec)
            out[:, off] = alpha
            out[rows, off + 1 + mode] = 1.0
        else:
            codes = slot_codes(arr, spec.values, other=spec.other, nullable=spec.nullable)
            out[rows, off + codes] = 1.0
            cats.append(codes)
    codes_all = np.stack(cats, axis=1) if cats else np.zeros((n, 0), dtype=np.int64)
    return out, codes_all


def _decode_categorical(slot: np.ndarray, spec: CategoricalSpec, dtype: pa.DataType) -> pa.Array:
    if spec.boolean:
        table_values: list[object] = [v == "true" for v in spec.values]
    else:
        table_values = list(spec.values)
    if spec.other:
        table_values.append(OTHER if pa.types.is_string(dtype) else None)
    if spec.nullable:
        table_values.append(None)
    lookup = pa.array(table_values, type=pa.bool_() if spec.boolean else pa.string())
    return lookup.take(pa.array(slot, type=pa.int64()))


def decode(alphas: np.ndarray, slots: np.ndarray, schema: TableSchema, layout: Layout
           ) -> dict[str, pa.Array | np.ndarray]:
    """Columns from the generator's draws: α per numerical column, a slot per one-hot span."""
    out: dict[str, pa.Array | np.ndarray] = {}
    a = 0
    for k, spec in enumerate(layout.columns):
        slot = slots[:, k]
        if isinstance(spec, NumericalSpec):
            null = slot >= spec.n_modes
            m = np.minimum(slot, spec.n_modes - 1)
            centers, halves = np.asarray(spec.centers), np.asarray(spec.halves)
            v = centers[m] + np.clip(alphas[:, a], -1, 1).astype(np.float64) * halves[m]
            v = np.clip(v, spec.lower, spec.upper)
            v[null] = np.nan
            out[spec.name] = v
            a += 1
        else:
            out[spec.name] = _decode_categorical(slot, spec, schema[spec.name].dtype)
    return out


def split_encoded(x: np.ndarray, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """(α, slot) arrays of encoded rows, the form `decode` takes (argmax of each one-hot)."""
    alphas, slots = [], []
    for s in layout.spans():
        if s.activation == "tanh":
            alphas.append(x[:, s.start])
        else:
            slots.append(np.argmax(x[:, s.start : s.stop], axis=1))
    n = x.shape[0]
    return (np.stack(alphas, axis=1) if alphas else np.zeros((n, 0)),
            np.stack(slots, axis=1) if slots else np.zeros((n, 0), dtype=np.int64))
