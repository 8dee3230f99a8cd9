"""Measuring one column's marginal: every statistic public or paid for.

One function per column kind, registered by `ColumnKind`. Each asks its
`Meter` for the ρ of a stage just before the measurement (the meter charges
the budget then), so a crash or cancellation never leaves a measurement
unaccounted. Without a budget (ε = None) the meter measures exactly: the
non-DP reference the same code path gives.

Domain choices, documented here because they shape the output:
- continuous values outside the bounds are clipped into the end bins;
- values outside a *declared* category set count as null when the column is
  nullable and are left out of the histogram otherwise (a row still touches at
  most one bin, so the sensitivity stays 1); the synthetic column only ever
  holds declared values;
- a *discovered* category set is the categories whose noisy count passed the
  selection threshold; every other value folds into one "other" bin, emitted
  under `other_label`, whose count the fresh histogram measures (for a
  categorical column stored as numbers, where no label can stand for "other",
  the unselected values are handled like values outside a declared set);
- no cell makes a measurement fail (the job's state would tell whoever
  reads it about that cell): a cell of a boolean column that is no boolean,
  or of a numerical one that is no number, counts as null (`generators.columns`);
  NaN is null too, ±inf and values beyond the bounds are clipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generators.columns import to_boolean, to_float
from generators.dp_marginals.allocation import Step
from generators.dp_marginals.marginals import BinnedMarginal, CategoricalMarginal
from generators.privacy.accounting import ZCDPBudget
from generators.privacy.mechanisms import (
    Bounds,
    bin_edges,
    digitize,
    dp_bounds,
    dp_range,
    dp_select_categories,
    noisy_counts,
    to_distribution,
)
from synth.base.randomness import RandomStreams
from synth.base.schema import ColumnKind, ColumnSchema


@dataclass
class Meter:
    """Charges each stage of one column to the budget as it is measured.

    `noise` is the column's family of noise streams: each stage (one
    mechanism) draws from its own, `rng`, chosen when the stage is charged.
    """

    column: str
    steps: Mapping[str, Step]
    budget: ZCDPBudget | None
    noise: RandomStreams
    #: Rows per privacy unit: category selection's threshold moves up by k − 1.
    max_rows: int = 1
    _rng: np.random.Generator | None = field(default=None, init=False, repr=False)

    @property
    def rng(self) -> np.random.Generator:
        """The noise stream of the stage charged last (its own: no two stages share one)."""
        if self._rng is None:
            raise RuntimeError("charge a stage before drawing its noise")
        return self._rng

    def charge(self, stage: str) -> Step | None:
        """Spend the stage's ρ (and δ) now; None when the generator is not DP."""
        if self.budget is None:
            return None
        step = self.steps[stage]
        self.budget.spend(f"{step.purpose}:{self.column}:{stage}", step.rho, step.delta)
        self._rng = self.noise.generator(stage)
        return step

    def histogram(self, counts: np.ndarray, stage: str = "marginal") -> np.ndarray:
        """The released distribution of `counts` (Gaussian noise, clipped, normalised)."""
        step = self.charge(stage)
        measured = (
            counts.astype(np.float64) if step is None else noisy_counts(counts, step.rho, self.rng)
        )
        return to_distribution(measured)


@dataclass(frozen=True)
class Options:
    bins: int
    other_label: str
    #: Values that get a bin of their own when inside a column's range (sorted).
    points: tuple[float, ...] = ()


Measure = Callable[[pa.Array, ColumnSchema, Meter, Options], BinnedMarginal | CategoricalMarginal]


# --- continuous columns --------------------------------------------------------------


def _bounds(values: np.ndarray, col: ColumnSchema, meter: Meter) -> Bounds:
    """Public bounds when declared, else a powers-of-two DP range, then narrowed (`dp_range`)."""
    if col.needs_dp_measurement != "bounds":
        assert col.lower is not None and col.upper is not None
        lower, upper = col.lower, col.upper
        if col.is_integer:
            lower, upper = math.ceil(lower), math.floor(upper)
        return Bounds(lower, max(upper, lower + (1 if col.is_integer else 0)))
    coarse_step = meter.charge("bounds.coarse")
    if coarse_step is None:  # not DP: the exact range
        if values.size == 0:
            return Bounds(0.0, 1.0)
        lo, hi = float(values.min()), float(values.max())
        if col.is_integer:
            lo, hi = math.floor(lo), math.ceil(hi)
        return Bounds(lo, hi if hi > lo else lo + 1.0)
    coarse = dp_bounds(values, coarse_step.rho, meter.rng, integer=col.is_integer)
    refine_step = meter.charge("bounds.refine")
    assert refine_step is not None
    return dp_range(
        values, coarse.lower, coarse.upper, refine_step.rho, meter.rng, integer=col.is_integer
    )


def measure_binned(arr: pa.Array, col: ColumnSchema, meter: Meter, opts: Options) -> BinnedMarginal:
    values = to_float(arr, col)
    missing = np.isnan(values)
    present = values[~missing]
    bounds = _bounds(present, col, meter)
    edges = bin_edges(bounds.lower, bounds.upper, opts.bins, integer=col.is_integer)
    n_bins = len(edges) - 1
    # Points are public choices (0 when the range holds it), never read off the data.
    candidates = opts.points if col.kind is ColumnKind.NUMERICAL else ()
    points = np.array(
        sorted(p for p in candidates if bounds.lower <= p <= bounds.upper), dtype=np.float64
    )
    at_point = np.isin(present, points)
    codes = digitize(present[~at_point], edges)
    hits = np.searchsorted(points, present[at_point]) + n_bins
    counts = np.bincount(np.concatenate([codes, hits]), minlength=n_bins + points.size)
    if col.nullable:
        counts = np.append(counts, int(missing.sum()))
    return BinnedMarginal(
        name=col.name,
        edges=edges,
        points=points,
        probs=meter.histogram(counts),
        lower=bounds.lower,
        upper=bounds.upper,
        integer=col.is_integer,
        nullable=col.nullable,
    )


# --- categorical columns ---------------------------------------------------------------


def _as_strings(arr: pa.Array, col: ColumnSchema) -> pa.Array:
    if col.kind is ColumnKind.BOOLEAN:
        # A cell that is no boolean ("maybe" in a text column) becomes null: no cell can fail the fit.
        arr = to_boolean(arr)
    return arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())


def _discover(strings: pa.Array, meter: Meter) -> list[str]:
    """The released category set: all values (not DP) or those passing the DP threshold."""
    vc = pc.value_counts(strings.drop_null())
    values = vc.field("values").to_pylist()
    counts = vc.field("counts").to_numpy(zero_copy_only=False)
    step = meter.charge("categories")
    if step is None:
        return sorted(values)
    return dp_select_categories(
        values, counts, step.rho, step.delta, meter.rng, max_rows=meter.max_rows
    ).values


def measure_categorical(
    arr: pa.Array, col: ColumnSchema, meter: Meter, opts: Options
) -> CategoricalMarginal:
    strings = _as_strings(arr, col)
    other: int | None = None
    if not col.needs_dp_measurement:  # declared categories, or a boolean's two values
        labels = list(col.categories if col.categories is not None else ("false", "true"))
    else:
        labels = _discover(strings, meter)
        # An "other" string cannot be cast back to a numeric column's type; there the
        # unselected values are treated like values outside a declared set.
        if pa.types.is_string(col.dtype):
            if opts.other_label not in labels:
                labels.append(opts.other_label)
            other = labels.index(opts.other_label)
    n_labels = len(labels)
    # A column stored as numbers whose values all stayed below the selection threshold
    # has no label to sample: its one bin is null (as DP-CTGAN and AIM emit "other" there).
    n_bins = max(n_labels + (1 if col.nullable else 0), 1)
    codes = pc.index_in(strings, value_set=pa.array(labels, type=pa.string()))
    code_np = codes.to_numpy(zero_copy_only=False)
    known = np.asarray(codes.is_valid())
    null = np.asarray(strings.is_null())
    outside = ~known & ~null
    idx = code_np[known].astype(np.int64)
    extra: list[np.ndarray] = []
    if other is not None:
        extra.append(np.full(int(outside.sum()), other, dtype=np.int64))
    if col.nullable:
        n_null = int(null.sum()) + (0 if other is not None else int(outside.sum()))
        extra.append(np.full(n_null, n_labels, dtype=np.int64))
    counts = np.bincount(np.concatenate([idx, *extra]), minlength=n_bins)
    return CategoricalMarginal(
        name=col.name, labels=tuple(labels), probs=meter.histogram(counts), nullable=col.nullable
    )


MEASURES: dict[ColumnKind, Measure] = {
    ColumnKind.NUMERICAL: measure_binned,
    ColumnKind.DATETIME: measure_binned,
    ColumnKind.CATEGORICAL: measure_categorical,
    ColumnKind.BOOLEAN: measure_categorical,
}
