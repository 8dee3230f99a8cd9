"""Which rows belong to one privacy unit (a person, a customer): one integer per row.

Shared by the holdout split (a unit's rows stay on one side) and the
generators' contribution bounding (`generators.privacy.units`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def unit_ids(table: pa.Table, column: str) -> np.ndarray:
    """An integer per row naming its unit; each null value is a unit of its own."""
    arr = table.column(column).combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(pa.string())
    encoded = pc.dictionary_encode(arr)
    idx = encoded.indices.to_numpy(zero_copy_only=False).astype(np.float64)
    ids = np.where(np.isnan(idx), -1, idx).astype(np.int64)
    nulls = np.flatnonzero(ids < 0)
    ids[nulls] = len(encoded.dictionary) + np.arange(nulls.size)
    return ids
