"""Privacy units: bounding each unit's rows, and the DP size every plan uses.

Neighbouring tables differ by one privacy unit, added or removed (Opacus'
and OpenDP's default relation). A unit is one row, or every row sharing a
value of the schema's `privacy_unit.column`. Two consequences:

- **Contribution bounding.** Before any statistic is taken, each unit keeps
  at most k of its rows (`bound_contributions`), chosen uniformly at random
  from a stream of its own, so one unit moves any count by at most k. The
  generators then scale their noise: a ρ-zCDP algorithm over rows is
  k²ρ-zCDP over groups of k rows (Bun & Steinke 2016, Prop. 27), so they run
  at ρ/k² (`generators.privacy.zcdp.unit_rho`).
- **The size is not public.** Under add/remove, an exact count tells two
  neighbours apart. Everything that shapes a model from the table's size
  (δ's default, DP-SGD's sampling rate and steps, AIM's total, a model's
  `train_rows`) uses `measure_size`'s noisy count of units instead: the
  geometric mechanism (discrete Laplace of integer scale t, ε = 1/t). With
  k = "auto" the same call also chooses k from a noisy histogram of the
  units' row counts (one unit sits in one bin, so ε = 1/t for the whole
  histogram), as the smallest k that keeps `coverage` of the units whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from generators.privacy.discrete_gaussian import sample_discrete_laplace
from synth.base.errors import InvalidArgument
from synth.base.schema import AUTO, MAX_ROWS_PER_UNIT, TableSchema
from synth.base.units import unit_ids

#: Histogram bins for choosing k: units with more rows than this share the last bin.
AUTO_MAX_ROWS_LIMIT = 64
#: The share of units whose rows k keeps whole when k is chosen automatically.
DEFAULT_COVERAGE = 0.9


def rows_per_unit(table: pa.Table, schema: TableSchema) -> np.ndarray:
    """How many rows each unit holds (all ones without a unit column)."""
    if schema.privacy_unit is None:
        return np.ones(table.num_rows, dtype=np.int64)
    ids = unit_ids(table, schema.privacy_unit.column)
    return np.bincount(ids) if ids.size else np.zeros(0, dtype=np.int64)


def bound_contributions(
    table: pa.Table, schema: TableSchema, rng: np.random.Generator
) -> pa.Table:
    """Keep at most k rows of each unit, chosen uniformly at random; the rest are dropped.

    Rows keep their order. Without a unit column (or with k at least every
    unit's count) nothing is dropped and `rng` is not used.
    """
    if schema.privacy_unit is None:
        return table
    k = schema.max_rows_per_unit
    ids = unit_ids(table, schema.privacy_unit.column)
    if ids.size == 0 or np.bincount(ids).max() <= k:
        return table
    # A random priority per row; within each unit keep the k smallest.
    priority = rng.random(ids.size)
    order = np.lexsort((priority, ids))
    sorted_ids = ids[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_ids)) + 1]
    rank = np.arange(ids.size) - np.repeat(starts, np.diff(np.r_[starts, ids.size]))
    keep = np.sort(order[rank < k])
    return table.take(pa.array(keep))


@dataclass(frozen=True)
class MeasuredSize:
    """A DP count of privacy units, and k when it was chosen here; what it cost."""

    units: int
    #: The contribution bound chosen with it (0 when the schema declared one).
    max_rows: int
    epsilon: float
    mechanism: str = "geometric"


def laplace_scale(epsilon: float) -> int:
    """The integer scale t of the geometric mechanism: the smallest with 1/t ≤ ε."""
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise InvalidArgument(f"the size's epsilon must be a positive number, got {epsilon}")
    return max(1, math.ceil(1.0 / epsilon - 1e-12))


def size_epsilon(schema: TableSchema, epsilon: float) -> float:
    """What `measure_size` spends for this schema at this ε: 1/t (and 1/t' for "auto" k).

    From public facts only, so the ledger is charged exactly this before the
    rows are read; never more than `epsilon`.
    """
    if schema.privacy_unit is not None and schema.privacy_unit.max_rows == AUTO:
        first = 1.0 / laplace_scale(epsilon / 2)
        return first + 1.0 / laplace_scale(epsilon - first)
    return 1.0 / laplace_scale(epsilon)


def measure_size(
    table: pa.Table,
    schema: TableSchema,
    epsilon: float,
    rng: np.random.Generator,
    *,
    coverage: float = DEFAULT_COVERAGE,
) -> MeasuredSize:
    """A noisy count of the table's units, (ε, 0)-DP; with max_rows "auto", k too.

    With "auto", ε is split in two halves: the count, and a histogram of the
    units' row counts (bins 1 .. AUTO_MAX_ROWS_LIMIT, the last open) from
    which k is the smallest bound whose noisy cumulative share reaches
    `coverage`. The count is at least 1 (a public floor), never the exact one.
    """
    counts = rows_per_unit(table, schema)
    auto = schema.privacy_unit is not None and schema.privacy_unit.max_rows == AUTO
    count_eps = epsilon / 2 if auto else epsilon
    t = laplace_scale(count_eps)
    units = max(1, int(counts.size + sample_discrete_laplace(t, 1, rng)[0]))
    spent = 1.0 / t
    k = 0
    if auto:
        t_hist = laplace_scale(epsilon - spent)
        spent += 1.0 / t_hist
        k = choose_max_rows(counts, t_hist, rng, coverage=coverage)
    return MeasuredSize(units=units, max_rows=k, epsilon=spent)


def choose_max_rows(
    counts: np.ndarray, t: int, rng: np.random.Generator, *, coverage: float = DEFAULT_COVERAGE
) -> int:
    """k from a noisy histogram of rows per unit ((1/t)-DP: each unit is in one bin)."""
    if not 0 < coverage <= 1:
        raise InvalidArgument(f"coverage must be in (0, 1], got {coverage}")
    bins = np.bincount(np.minimum(counts, AUTO_MAX_ROWS_LIMIT), minlength=AUTO_MAX_ROWS_LIMIT + 1)
    noisy = np.maximum(bins[1:] + sample_discrete_laplace(t, AUTO_MAX_ROWS_LIMIT, rng), 0)
    total = noisy.sum()
    if total <= 0:
        return 1
    reached = np.flatnonzero(np.cumsum(noisy) >= coverage * total)
    return int(min(reached[0] + 1, MAX_ROWS_PER_UNIT))
