"""Columns as small discrete domains, and back.

Each modelled column becomes one attribute of the graphical model:
- numbers and datetimes: bins cut at quantiles of a DP histogram tree on
  public bounds (or DP bounds), at most `max_bins` of them; sampled values
  are drawn within their bin from the same histogram, so a spike such as
  capital_gain = 0 decodes back to the spike;
- categories: the schema's public list, or the values whose noisy count
  passes a DP threshold plus one "other" code for the rest;
- booleans: false / true;
- nulls: one more code wherever the schema says the column is nullable.
The coder is data (JSON plus two arrays per numeric column), so a saved model
decodes exactly as the fitted one did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generators.columns import to_float
from generators.privacy import bin_edges, digitize, dp_bounds, dp_select_categories, noisy_counts
from generators.privacy.mechanisms import Bounds
from synth.base.randomness import RandomStreams
from synth.base.schema import ColumnKind, ColumnSchema

#: The value sampled for the "other" code of a DP-selected category set: no
#: source value below the threshold is ever released.
OTHER = "(other)"


@dataclass(frozen=True)
class ColumnCoder:
    """How one column maps to codes 0..size-1 (null last, when the column is nullable)."""

    name: str
    kind: str  # "numeric" | "categorical" | "boolean"
    nullable: bool
    integer: bool = False
    categories: tuple[str, ...] = ()
    other: bool = False
    cuts: tuple[int, ...] = ()  # coarse bin k = fine bins cuts[k] .. cuts[k+1]-1
    fine_edges: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fine_p: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_values(self) -> int:
        if self.kind == "numeric":
            return len(self.cuts) - 1
        if self.kind == "boolean":
            return 2
        return len(self.categories) + int(self.other)

    @property
    def size(self) -> int:
        return self.n_values + int(self.nullable)

    def encode(self, arr: pa.Array | pa.ChunkedArray, col: ColumnSchema) -> np.ndarray:
        null_code = self.n_values
        if self.kind == "categorical":
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            arr = arr.cast(pa.string())
            idx = pc.index_in(arr, value_set=pa.array(list(self.categories), type=pa.string()))
            codes = np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
            # A value outside a declared category list: "other" when there is one, else
            # null when the column may be null (as dp_marginals does), else the first category.
            unknown = len(self.categories) if self.other else (null_code if self.nullable else 0)
            codes = np.where(codes < 0, unknown, codes)
            isnull = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        else:
            v = to_float(arr, col)
            isnull = np.isnan(v)
            if self.kind == "boolean":
                codes = (np.nan_to_num(v) > 0.5).astype(np.int64)
            else:
                fine = digitize(np.nan_to_num(v, nan=float(self.fine_edges[0])), self.fine_edges)
                codes = np.searchsorted(np.asarray(self.cuts), fine, side="right") - 1
        if self.nullable:
            return np.where(isnull, null_code, codes)
        return np.where(isnull, 0, codes)

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Codes to values: floats (NaN for null) for numbers and booleans, objects for categories."""
        isnull = codes >= self.n_values
        if self.kind == "categorical":
            values = np.array(
                [*self.categories, OTHER] if self.other else list(self.categories), dtype=object
            )
            out = (
                values[np.minimum(codes, self.n_values - 1)]
                if self.n_values
                else np.full(len(codes), None)
            )
            out = np.asarray(out, dtype=object)
            out[isnull] = None
            return out
        if self.kind == "boolean":
            return np.where(isnull, np.nan, codes.astype(np.float64))
        return np.where(
            isnull, np.nan, self._within_bins(np.minimum(codes, self.n_values - 1), rng)
        )

    def _within_bins(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cuts = np.asarray(self.cuts)
        # Per coarse bin, the CDF of its fine bins (uniform where the histogram saw nothing).
        p = self.fine_p.copy()
        starts, ends = cuts[:-1], cuts[1:]
        mass = np.add.reduceat(p, starts)
        empty = np.repeat(mass <= 0, ends - starts)
        p[empty] = 1.0
        cum = np.cumsum(p)
        before = np.concatenate([[0.0], cum])[starts]
        totals = cum[ends - 1] - before
        target = before[codes] + rng.random(len(codes)) * totals[codes]
        fine = np.clip(np.searchsorted(cum, target, side="right"), starts[codes], ends[codes] - 1)
        lo, hi = self.fine_edges[fine], self.fine_edges[fine + 1]
        values = lo + rng.random(len(codes)) * (hi - lo)
        if self.integer:
            return values
        # A bound's atom decodes to the bound itself.
        last = len(self.fine_edges) - 2
        atom = _is_atom(lo, hi)
        values = np.where(atom & (fine == 0), lo, values)
        return np.where(atom & (fine == last), hi, values)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "nullable": self.nullable,
            "integer": self.integer,
            "categories": list(self.categories),
            "other": self.other,
            "cuts": list(self.cuts),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], arrays: dict[str, np.ndarray]) -> ColumnCoder:
        return cls(
            name=d["name"],
            kind=d["kind"],
            nullable=bool(d["nullable"]),
            integer=bool(d["integer"]),
            categories=tuple(d["categories"]),
            other=bool(d["other"]),
            cuts=tuple(int(c) for c in d["cuts"]),
            fine_edges=arrays.get(f"fine_edges/{d['name']}", np.zeros(0)),
            fine_p=arrays.get(f"fine_p/{d['name']}", np.zeros(0)),
        )


# --- what discretising a column costs (public: from the schema alone) --------------


def needs_histogram(col: ColumnSchema) -> bool:
    """Numbers and datetimes are cut at a DP histogram's quantiles, public bounds or not."""
    return col.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME)


def needs_budget(col: ColumnSchema) -> bool:
    """A histogram, or a DP category selection (`ColumnSchema.needs_dp_measurement`)."""
    return needs_histogram(col) or col.needs_dp_measurement == "categories"


def max_size(col: ColumnSchema, *, max_bins: int, max_categories: int) -> int:
    """The largest domain the column can get, from public facts only (for the memory cap)."""
    null = int(col.nullable)
    if col.kind is ColumnKind.BOOLEAN:
        return 2 + null
    if col.kind is ColumnKind.CATEGORICAL:
        if col.needs_dp_measurement:
            return max_categories + 1 + null
        assert col.categories is not None
        return len(col.categories) + null
    return max_bins + null


# --- building coders from the data, with DP measurements ----------------------------


def _levels(bounds: Bounds, integer: bool, bins: int) -> int:
    """How many levels a histogram tree needs to reach single integers (floats: 2), at most 4."""
    if not integer:
        return 2
    span = bounds.upper - bounds.lower + 1
    return int(min(4, max(1, np.ceil(np.log(max(span, 2)) / np.log(bins) - 1e-9))))


def _top_edges(bounds: Bounds, integer: bool, bins: int) -> np.ndarray:
    """The first level's edges. Floats get an atom bin at each bound: {lower} and {upper}.

    Zero-inflated and capped amounts (rain = 0, a balance at its cap) put a
    point mass on a bound; equal-width bins would spread it over the first
    bin when decoding (SDMetrics' KS complement of rain_1h on Metro: 0.07).
    The bounds are public, so the atoms cost nothing beyond the histogram.
    """
    edges = bin_edges(bounds.lower, bounds.upper, bins, integer=integer)
    if integer:
        return edges
    lo, hi = float(edges[0]), float(edges[-1])
    inner = edges[1:-1]
    return np.concatenate([[lo, np.nextafter(lo, np.inf)], inner, [np.nextafter(hi, -np.inf), hi]])


def _is_atom(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Bins one float step wide: a bound's atom."""
    return hi <= np.nextafter(lo, np.inf)


def _split(lo: float, hi: float, integer: bool, bins: int) -> np.ndarray:
    if integer:
        return np.unique(np.clip(bin_edges(lo + 0.5, hi - 0.5, bins, integer=True), lo, hi))
    return np.linspace(lo, hi, bins + 1)


def _bins_to_split(
    edges: np.ndarray, mass: np.ndarray, integer: bool, sigma: float, bins: int
) -> list[tuple[int, np.ndarray]]:
    """(bin, its sub-bin edges) for each bin the next level measures: from noisy counts only.

    A bin is split only where its sub-bins would average more than 2σ: below
    that the next level measures mostly noise. Atoms and single integers stay.
    """
    return [
        (j, sub)
        for j in range(len(edges) - 1)
        if ((edges[j + 1] - edges[j] > 1.0) if integer else not _is_atom(edges[j], edges[j + 1]))
        for sub in [_split(float(edges[j]), float(edges[j + 1]), integer, bins)]
        if mass[j] > 2.0 * sigma * (len(sub) - 1)
    ]


def _spread(
    edges: np.ndarray, mass: np.ndarray, split: list[tuple[int, np.ndarray]], noisy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each split bin replaced by its sub-bins, its mass shared by their (thresholded) noisy counts."""
    new_e: list[np.ndarray] = []
    new_m: list[np.ndarray] = []
    subs = dict(split)
    at = 0
    for j in range(len(edges) - 1):
        if j in subs:
            sub = subs[j]
            c = noisy[at : at + len(sub) - 1]
            at += len(sub) - 1
            new_e.append(sub[:-1])
            new_m.append(mass[j] * (c / c.sum() if c.sum() > 0 else np.full(len(c), 1.0 / len(c))))
        else:
            new_e.append(edges[j : j + 1])
            new_m.append(mass[j : j + 1])
    return np.concatenate([*new_e, edges[-1:]]), np.concatenate(new_m)


def _tree_histogram(
    v: np.ndarray,
    bounds: Bounds,
    integer: bool,
    rho: float,
    rng: np.random.Generator,
    bins: int,
    *,
    zero_top: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """A noisy histogram whose heavy bins are split again, level by level (ρ / levels each).

    Each level is one histogram over disjoint bins (sensitivity 1); which bins
    are split depends only on the noisy counts of the level above. Integer
    columns go down to single values where the mass is, so a spike such as
    capital_gain = 0 stays a spike.
    """
    levels = _levels(bounds, integer, bins)
    rho_level = rho / levels
    sigma = 1.0 / np.sqrt(2 * rho_level)

    edges = _top_edges(bounds, integer, bins)
    noisy = noisy_counts(np.bincount(digitize(v, edges), minlength=len(edges) - 1), rho_level, rng)
    # On DP bounds (powers of two, up to 2× too wide) top-level counts under 3σ are
    # zeroed, or the empty range soaks up mass; on the owner's public bounds the
    # thin tails are real and kept (zeroing them cost 0.01 of SDMetrics quality on adult).
    mass = np.where(noisy > 3.0 * sigma, noisy, 0.0) if zero_top else np.clip(noisy, 0.0, None)
    if mass.sum() <= 0:
        mass = np.clip(noisy, 0.0, None)
    for _ in range(levels - 1):
        split = _bins_to_split(edges, mass, integer, sigma, bins)
        if not split:
            break
        where = digitize(v, edges)
        counts = np.concatenate(
            [np.bincount(digitize(v[where == j], s), minlength=len(s) - 1) for j, s in split]
        )
        noisy = noisy_counts(counts, rho_level, rng)
        edges, mass = _spread(edges, mass, split, np.where(noisy > 2.0 * sigma, noisy, 0.0))
    return edges, mass


def _quantile_cuts(p: np.ndarray, max_bins: int) -> tuple[int, ...]:
    """Group consecutive fine bins into at most `max_bins` bins of about equal mass."""
    total = p.sum()
    if total <= 0 or len(p) <= max_bins:
        step = max(1, int(np.ceil(len(p) / max_bins)))
        return tuple(sorted({*range(0, len(p), step), len(p)}))
    cdf = np.cumsum(p) / total
    at = np.searchsorted(cdf, np.arange(1, max_bins) / max_bins, side="left") + 1
    return tuple(sorted({0, *(int(x) for x in at if 0 < x < len(p)), len(p)}))


def numeric_coder(
    arr: pa.Array | pa.ChunkedArray,
    col: ColumnSchema,
    rho: float,
    noise: RandomStreams,
    *,
    max_bins: int,
    fine_bins: int,
) -> ColumnCoder:
    """The column's coder from DP bounds (unless public) and a DP tree histogram.

    `noise` is the column's family of streams: the bounds and the histogram
    each draw from their own.
    """
    v = to_float(arr, col)
    v = v[np.isfinite(v)]
    integer = col.is_integer
    measured = col.needs_dp_measurement == "bounds"
    if measured:
        bounds = dp_bounds(v, 0.2 * rho, noise.generator("bounds"), integer=integer)
        rho_hist = 0.8 * rho
    else:
        assert col.lower is not None and col.upper is not None
        bounds, rho_hist = Bounds(col.lower, col.upper), rho
    if integer:
        bounds = Bounds(float(np.floor(bounds.lower)), float(np.ceil(bounds.upper)))
    v = np.clip(v, bounds.lower, bounds.upper)
    fine_edges, fine_p = _tree_histogram(
        v, bounds, integer, rho_hist, noise.generator("histogram"), fine_bins, zero_top=measured
    )
    return ColumnCoder(
        name=col.name,
        kind="numeric",
        nullable=col.nullable,
        integer=integer,
        cuts=_quantile_cuts(fine_p, max_bins),
        fine_edges=fine_edges,
        fine_p=fine_p,
    )


def categorical_coder(
    arr: pa.Array | pa.ChunkedArray,
    col: ColumnSchema,
    rho: float,
    delta: float,
    noise: RandomStreams,
    *,
    max_categories: int,
    max_rows: int = 1,
) -> ColumnCoder:
    """The column's coder: its public categories, or those passing DP selection (`noise`'s
    "categories" stream; its threshold moves up by k − 1 for units of k rows)."""
    if col.kind is ColumnKind.BOOLEAN:
        return ColumnCoder(name=col.name, kind="boolean", nullable=col.nullable)
    if not col.needs_dp_measurement:
        assert col.categories is not None
        return ColumnCoder(
            name=col.name, kind="categorical", nullable=col.nullable, categories=col.categories
        )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    vc = pc.value_counts(arr.cast(pa.string()).drop_null())
    values = vc.field("values").to_pylist()
    counts = np.asarray(vc.field("counts").to_numpy(zero_copy_only=False), dtype=np.float64)
    chosen = dp_select_categories(
        values, counts, rho, delta, noise.generator("categories"), max_rows=max_rows
    )
    kept = tuple(sorted(chosen.values[:max_categories]))
    return ColumnCoder(
        name=col.name, kind="categorical", nullable=col.nullable, categories=kept, other=True
    )
