"""The holdout split: a seeded, reproducible division of a table into train and holdout."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from synth.base.errors import InvalidTable
from synth.base.units import unit_ids


def split_holdout(
    table: pa.Table, *, fraction: float, seed: int, unit_column: str | None = None
) -> tuple[pa.Table, pa.Table]:
    """Split at random into (train, holdout); the same seed gives the same split.

    With `unit_column` (the schema's privacy unit) whole units are split, so
    one person's rows are never on both sides (the holdout then stands for
    people the model never saw, as the risk scores assume).
    """
    if not 0.0 <= fraction < 1.0:
        raise InvalidTable(f"holdout fraction must be in [0, 1), got {fraction}")
    ids = unit_ids(table, unit_column) if unit_column else np.arange(table.num_rows)
    n = int(ids.max()) + 1 if ids.size else 0
    n_hold = round(n * fraction)
    if fraction > 0 and n - n_hold < 1:
        what = "units" if unit_column else "rows"
        raise InvalidTable(f"a {fraction:.0%} holdout leaves no training {what} out of {n}")
    rng = np.random.default_rng(seed)
    held = np.zeros(n, dtype=bool)
    held[rng.permutation(n)[:n_hold]] = True
    hold_idx = np.flatnonzero(held[ids])
    train_idx = np.flatnonzero(~held[ids])
    return table.take(pa.array(train_idx)), table.take(pa.array(hold_idx))
