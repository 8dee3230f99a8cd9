"""The layout from public declarations, DP measurements, or (non-DP mode) the data.

Three ways to learn what a column looks like, behind one small interface:

* `PublicOnly` never reads a row. With no preprocessing budget, every
  numerical column needs declared bounds and every categorical column a
  declared category list, else fitting is refused (`PrivacyError`). Modes
  are then equal-width intervals and frequencies uniform.
* `DPMeasurer` spends an equal share of a zCDP budget on each measurement:
  DP bounds (log-magnitude histogram), DP category selection (Gaussian
  thresholding; the rest folds into "other"), and one noisy histogram per
  column (null share, point masses at the bounds, fine bins whose noisy CDF
  gives the quantile modes; or the category frequencies).
* `ExactMeasurer` (non-DP mode only) reads the data as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generators.columns import to_float
from generators.dpctgan.layout import CategoricalSpec, ColumnSpec, Layout, NumericalSpec
from generators.dpctgan.transformer import as_strings, slot_codes
from generators.privacy import ZCDPBudget, dp_bounds, dp_select_categories, noisy_counts
from synth.base.errors import PrivacyError
from synth.base.randomness import RandomStreams
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema

BOOL_VALUES = ("false", "true")


@dataclass(frozen=True)
class ModeConfig:
    """How finely numerical columns are split into modes."""

    n_modes: int = 10
    fine_bins: int = 128
    #: A bound holding at least this share of rows becomes a point-mass mode.
    point_share: float = 0.02


class Measurer(Protocol):
    def histogram(self, counts: np.ndarray, purpose: str) -> np.ndarray: ...

    def bounds(self, values: np.ndarray, integer: bool, purpose: str) -> tuple[float, float]: ...

    def select(self, values: list[str], counts: np.ndarray, purpose: str) -> list[str]: ...


def count_measurements(schema: TableSchema) -> tuple[int, int]:
    """(Gaussian measurements, threshold selections) a DP layout makes: public facts only."""
    gauss, select = 0, 0
    for c in schema.modelled():
        gauss += 1
        if c.needs_dp_measurement == "bounds":
            gauss += 1
        if c.needs_dp_measurement == "categories":
            select += 1
    return gauss, select


def missing_declarations(schema: TableSchema) -> list[str]:
    """Columns that cannot be laid out without reading the data."""
    return [
        f"{c.name} (no public {c.needs_dp_measurement})"
        for c in schema.modelled()
        if c.needs_dp_measurement
    ]


class DPMeasurer:
    """Each measurement spends ρ_total / (number of measurements) of a zCDP budget.

    Each measurement draws its noise from its own stream of `noise`, keyed by
    its purpose ("age: bounds", ...): no two mechanisms share a stream.
    """

    def __init__(self, budget: ZCDPBudget, schema: TableSchema, noise: RandomStreams) -> None:
        gauss, select = count_measurements(schema)
        self.budget = budget
        self.noise = noise
        self.rho = budget.rho_total / max(gauss + select, 1)
        self.sel_delta = budget.selection_delta / max(select, 1)

    def histogram(self, counts: np.ndarray, purpose: str) -> np.ndarray:
        self.budget.spend(purpose, self.rho)
        return noisy_counts(counts, self.rho, self.noise.generator(purpose))

    def bounds(self, values: np.ndarray, integer: bool, purpose: str) -> tuple[float, float]:
        self.budget.spend(purpose, self.rho)
        b = dp_bounds(values, self.rho, self.noise.generator(purpose), integer=integer)
        return b.lower, b.upper

    def select(self, values: list[str], counts: np.ndarray, purpose: str) -> list[str]:
        self.budget.spend(purpose, self.rho, self.sel_delta)
        rng = self.noise.generator(purpose)
        return dp_select_categories(values, counts, self.rho, self.sel_delta, rng).values


class ExactMeasurer:
    """Non-DP mode: the data as it is (only for sources that allow non-private models)."""

    def histogram(self, counts: np.ndarray, purpose: str) -> np.ndarray:
        return counts.astype(np.float64)

    def bounds(self, values: np.ndarray, integer: bool, purpose: str) -> tuple[float, float]:
        v = values[np.isfinite(values)]
        if v.size == 0:
            return 0.0, 1.0
        lo, hi = float(v.min()), float(v.max())
        return (lo, hi) if hi > lo else (lo, lo + 1.0)

    def select(self, values: list[str], counts: np.ndarray, purpose: str) -> list[str]:
        order = np.argsort(-counts, kind="stable")
        return [values[i] for i in order if counts[i] > 0]


def _freq(noisy: np.ndarray) -> tuple[float, ...]:
    p = np.clip(noisy, 0.0, None)
    total = p.sum()
    p = np.full(p.shape, 1.0 / p.size) if total <= 0 else p / total
    return tuple(float(x) for x in p)


def _numerical(
    col: ColumnSchema, arr: pa.ChunkedArray | None, m: Measurer | None, cfg: ModeConfig
) -> NumericalSpec:
    integer = col.is_integer
    values = None if arr is None else to_float(arr, col)
    if col.needs_dp_measurement == "bounds":
        assert m is not None and values is not None
        lower, upper = m.bounds(values, integer, f"{col.name}: bounds")
    else:
        assert col.lower is not None and col.upper is not None
        lower, upper = col.lower, col.upper
    if m is None or values is None:  # public only: equal-width modes, nothing read
        eq = np.linspace(lower, upper, cfg.n_modes + 1)
        return NumericalSpec(col.name, lower, upper, integer, tuple(map(float, (eq[:-1] + eq[1:]) / 2)),
                             tuple(map(float, np.diff(eq) / 2)), col.nullable)  # freq: uniform
    noisy = _mode_histogram(col, values, lower, upper, m, cfg)
    return _quantile_modes(col, lower, upper, noisy, cfg)


def _mode_histogram(col: ColumnSchema, values: np.ndarray, lower: float, upper: float,
                    m: Measurer, cfg: ModeConfig) -> np.ndarray:
    """One measured histogram: [null?] [== lower] [fine interior bins] [== upper]; one row, one bin."""
    fine = np.linspace(lower, upper, cfg.fine_bins + 1)
    null = np.isnan(values)
    x = np.clip(values[~null], lower, upper)
    at_lo, at_hi = x == lower, x == upper
    inner = x[~at_lo & ~at_hi]
    idx = np.clip(np.searchsorted(fine, inner, side="right") - 1, 0, cfg.fine_bins - 1)
    counts = np.concatenate([
        [null.sum()] if col.nullable else [],
        [at_lo.sum()], np.bincount(idx, minlength=cfg.fine_bins), [at_hi.sum()],
    ])
    return np.clip(m.histogram(counts, f"{col.name}: mode histogram"), 0.0, None)


def _quantile_modes(col: ColumnSchema, lower: float, upper: float, noisy: np.ndarray,
                    cfg: ModeConfig) -> NumericalSpec:
    """Modes from the measured histogram: point masses at heavy bounds, the rest cut at quantiles."""
    fine = np.linspace(lower, upper, cfg.fine_bins + 1)
    body = noisy[1:] if col.nullable else noisy
    total = max(body.sum(), 1.0)
    point_lo, inner_counts, point_hi = body[0], body[1:-1], body[-1]
    centers: list[float] = []
    halves: list[float] = []
    mass: list[float] = []
    if point_lo / total >= cfg.point_share:
        centers.append(lower)
        halves.append(0.0)
        mass.append(point_lo)
    if inner_counts.sum() > 0:
        cdf = np.cumsum(inner_counts) / inner_counts.sum()
        qs = np.arange(1, cfg.n_modes) / cfg.n_modes
        cut = fine[1:][np.clip(np.searchsorted(cdf, qs, side="left"), 0, cfg.fine_bins - 1)]
        edges = np.unique(np.concatenate([[lower], cut, [upper]]))
    else:
        edges = np.array([lower, upper])
    centers += list(map(float, (edges[:-1] + edges[1:]) / 2))
    halves += list(map(float, np.diff(edges) / 2))
    cum = np.concatenate([[0.0], np.cumsum(inner_counts)])
    at = np.clip(np.searchsorted(fine, edges, side="left"), 0, cfg.fine_bins)
    inner_mass = cum[at[1:]] - cum[at[:-1]]
    if not mass:  # rows at the bounds without a point mode of their own join the end modes
        inner_mass[0] += point_lo
    if point_hi / total >= cfg.point_share:
        mass += list(inner_mass)
        centers.append(upper)
        halves.append(0.0)
        mass.append(point_hi)
    else:
        inner_mass[-1] += point_hi
        mass += list(inner_mass)
    if col.nullable:
        mass.append(noisy[0])
    return NumericalSpec(col.name, lower, upper, col.is_integer, tuple(centers), tuple(halves),
                         col.nullable, _freq(np.asarray(mass)))


def _categorical(col: ColumnSchema, arr: pa.ChunkedArray | None, m: Measurer | None) -> CategoricalSpec:
    boolean = col.kind is ColumnKind.BOOLEAN
    values: tuple[str, ...]
    if boolean:
        values, other = BOOL_VALUES, False
    elif not col.needs_dp_measurement:
        assert col.categories is not None
        values, other = tuple(col.categories), False
    else:
        assert m is not None and arr is not None
        vc = pc.value_counts(pc.drop_null(as_strings(arr)))
        names = [str(v) for v in vc.field("values").to_pylist()]
        counts = vc.field("counts").to_numpy(zero_copy_only=False)
        values, other = tuple(m.select(names, counts, f"{col.name}: category selection")), True
    width = len(values) + int(other) + int(col.nullable)
    if m is None or arr is None:
        freq = tuple([1.0 / width] * width)
    else:
        codes = slot_codes(arr, values, other=other, nullable=col.nullable)
        noisy = m.histogram(np.bincount(codes, minlength=width), f"{col.name}: frequencies")
        freq = _freq(noisy)
    return CategoricalSpec(col.name, values, other, col.nullable, freq, boolean)


def build_layout(
    table: pa.Table | None,
    schema: TableSchema,
    measurer: Measurer | None,
    cfg: ModeConfig | None = None,
) -> Layout:
    """The layout of the modelled columns. `measurer=None` reads no row at all."""
    cfg = cfg or ModeConfig()
    if measurer is None:
        missing = missing_declarations(schema)
        if missing:
            raise PrivacyError(
                "cannot prepare the data without reading it: no preprocessing budget "
                "(preprocessing_share=0) and no public declaration for "
                + ", ".join(missing)
                + ". Declare bounds/categories in the schema or give preprocessing a budget share."
            )
        table = None
    specs: list[ColumnSpec] = []
    for col in schema.modelled():
        arr = None if table is None else table.column(col.name)
        if col.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME):
            specs.append(_numerical(col, arr, measurer, cfg))
        else:
            specs.append(_categorical(col, arr, measurer))
    return Layout(tuple(specs))
