"""Column shapes and column-pair trends, defined exactly as SDMetrics' QualityReport.

Why copy SDMetrics' definitions rather than pick our own: owners compare our
numbers with the ones they know, and the tests check agreement to 1e-3. The
quirks are kept on purpose and named where they occur: nulls are dropped for
KS/TV and kept as a cell of their own in contingency tables; in mixed pairs
each table bins its numerical column with its *own* 10 histogram edges (and
`np.digitize` puts nulls in the top bin, with the maximum); a pair counts in
the average only when the real data shows a relation (|Pearson r| > 0.5, or
Cramér's V > 0.3), as SDMetrics' report thresholds say.

Everything runs on numpy arrays, one vectorised pass per column or pair.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from evaluators.inputs import CONTINUOUS, Inputs

#: SDMetrics rounds continuous values to this many decimals before KS.
_KS_DECIMALS = 14
#: SDMetrics' regularisation for synthetic categories the real data lacks.
_TV_EPS = 1e-6
_N_BINS = 10


@dataclass(frozen=True)
class ColumnShape:
    column: str
    metric: str  # "KSComplement" | "TVComplement"
    score: float  # NaN when a table has no non-null value


@dataclass(frozen=True)
class PairTrend:
    column_1: str
    column_2: str
    metric: str  # "CorrelationSimilarity" | "ContingencySimilarity"
    score: float  # computed for every pair, counted only when `counted`
    real_correlation: float  # NaN for contingency pairs
    synthetic_correlation: float
    real_association: float  # Cramér's V of the real table; NaN for correlation pairs
    counted: bool  # the real data shows a relation strong enough to count


@dataclass(frozen=True)
class Fidelity:
    column_shapes: float
    column_pair_trends: float  # mean over counted pairs (SDMetrics' number)
    column_pair_trends_all: float  # mean over every computable pair
    overall: float
    shapes: tuple[ColumnShape, ...]
    pairs: tuple[PairTrend, ...]


def ks_complement(real: np.ndarray, synthetic: np.ndarray) -> float:
    """1 − the two-sample Kolmogorov–Smirnov statistic; nulls (NaN) dropped."""
    a = np.sort(np.round(real[~np.isnan(real)], _KS_DECIMALS))
    b = np.sort(np.round(synthetic[~np.isnan(synthetic)], _KS_DECIMALS))
    if a.size == 0 or b.size == 0:
        return math.nan
    both = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, both, side="right") / a.size
    cdf_b = np.searchsorted(b, both, side="right") / b.size
    return float(1.0 - np.max(np.abs(cdf_a - cdf_b)))


def tv_complement(real_codes: np.ndarray, synthetic_codes: np.ndarray) -> float:
    """1 − the total variation distance of category frequencies; code 0 (null) dropped."""
    size = int(max(real_codes.max(initial=0), synthetic_codes.max(initial=0))) + 1
    n_real = np.bincount(real_codes, minlength=size)[1:].astype(np.float64)
    n_syn = np.bincount(synthetic_codes, minlength=size)[1:].astype(np.float64)
    if n_real.sum() == 0 or n_syn.sum() == 0:
        return math.nan
    seen = (n_real > 0) | (n_syn > 0)
    n_real, n_syn = n_real[seen], n_syn[seen]
    n_real = np.where(n_real == 0, _TV_EPS, n_real)
    f_real = n_real / n_real.sum()
    f_syn = n_syn / n_syn.sum()
    return float(1.0 - 0.5 * np.abs(f_syn - f_real).sum())


def correlation_similarity(
    r1: np.ndarray, r2: np.ndarray, s1: np.ndarray, s2: np.ndarray
) -> tuple[float, float, float]:
    """(score, real r, synthetic r): 1 − |r_real − r_syn| / 2 on pairwise-complete rows."""
    if any(_n_unique_non_null(x) == 1 for x in (r1, r2, s1, s2)):
        return math.nan, math.nan, math.nan  # SDMetrics: correlation undefined for constants
    rr = _pearson(r1, r2)
    rs = _pearson(s1, s2)
    if math.isnan(rr) or math.isnan(rs):
        return math.nan, rr, rs
    return 1.0 - abs(rr - rs) / 2.0, rr, rs


def contingency_similarity(
    real_a: np.ndarray, real_b: np.ndarray, syn_a: np.ndarray, syn_b: np.ndarray
) -> tuple[float, float]:
    """(score, Cramér's V of the real table) for two integer-coded columns (codes ≥ 0)."""
    n_a = int(max(real_a.max(initial=0), syn_a.max(initial=0))) + 1
    n_b = int(max(real_b.max(initial=0), syn_b.max(initial=0))) + 1
    real_cells = np.bincount(real_a.astype(np.int64) * n_b + real_b, minlength=n_a * n_b)
    syn_cells = np.bincount(syn_a.astype(np.int64) * n_b + syn_b, minlength=n_a * n_b)
    p_real = real_cells / real_a.size
    p_syn = syn_cells / syn_a.size
    score = 1.0 - 0.5 * float(np.abs(p_real - p_syn).sum())
    return score, _cramers_v(real_cells.reshape(n_a, n_b))


def _cramers_v(table: np.ndarray) -> float:
    """Cramér's V without continuity correction, on the rows/columns that occur."""
    t = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0].astype(np.float64)
    if min(t.shape) < 2:
        return math.nan
    n = t.sum()
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / n
    chi2 = float(((t - expected) ** 2 / expected).sum())
    return math.sqrt(chi2 / n / (min(t.shape) - 1))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if x.size < 2:
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    den = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    if den == 0.0:
        return math.nan
    return max(-1.0, min(1.0, float((dx * dy).sum()) / den))


def _n_unique_non_null(x: np.ndarray) -> int:
    v = x[~np.isnan(x)]
    if v.size == 0:
        return 0
    return 1 if v.min() == v.max() else 2


def continuous_values(s: pl.Series) -> np.ndarray:
    """Float64 values with NaN for nulls; datetimes as nanoseconds, as SDMetrics reads them."""
    if s.dtype.is_temporal():
        s = s.cast(pl.Datetime("ns")).dt.epoch("ns")
    return s.cast(pl.Float64).fill_null(np.nan).to_numpy()


def histogram_codes(x: np.ndarray) -> np.ndarray:
    """SDMetrics' discretisation: 10 equal-width bins of this table's own non-null range.

    `np.digitize` sends the maximum and nulls (NaN) alike to code 11.
    """
    edges = np.histogram_bin_edges(x[~np.isnan(x)], bins=_N_BINS)
    return np.digitize(x, bins=edges).astype(np.int64)


def discrete_codes(real: pl.Series, synthetic: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Shared integer codes ≥ 1 for the values of both tables; null is code 0."""
    both = pl.concat([real.cast(pl.String), synthetic.cast(pl.String)])
    codes = both.cast(pl.Categorical).to_physical().cast(pl.Int64) + 1
    out = codes.fill_null(0).to_numpy()
    return out[: real.len()], out[real.len():]


def fidelity(
    inputs: Inputs,
    *,
    correlation_threshold: float = 0.5,
    association_threshold: float = 0.3,
) -> Fidelity:
    """Column shapes, pair trends and their mean, as SDMetrics' QualityReport scores them."""
    real, syn = inputs.train, inputs.synthetic
    cols = inputs.columns
    cont = {c.name: (continuous_values(real[c.name]), continuous_values(syn[c.name]))
            for c in cols if c.kind in CONTINUOUS}
    coded = {c.name: discrete_codes(real[c.name], syn[c.name]) for c in cols if c.name not in cont}
    shapes = []
    for c in cols:
        if c.name in cont:
            shapes.append(ColumnShape(c.name, "KSComplement", ks_complement(*cont[c.name])))
        else:
            shapes.append(ColumnShape(c.name, "TVComplement", tv_complement(*coded[c.name])))
    binned = {n: (histogram_codes(r), histogram_codes(s)) for n, (r, s) in cont.items()}
    pairs = []
    for a, b in itertools.combinations(cols, 2):
        if a.name in cont and b.name in cont:
            (r1, s1), (r2, s2) = cont[a.name], cont[b.name]
            score, rr, rs = correlation_similarity(r1, r2, s1, s2)
            counted = not math.isnan(score) and abs(rr) > correlation_threshold
            pairs.append(PairTrend(a.name, b.name, "CorrelationSimilarity", score, rr, rs,
                                   math.nan, counted))
            continue
        (ra, sa) = binned[a.name] if a.name in cont else coded[a.name]
        (rb, sb) = binned[b.name] if b.name in cont else coded[b.name]
        score, assoc = contingency_similarity(ra, rb, sa, sb)
        counted = not math.isnan(assoc) and assoc > association_threshold
        pairs.append(PairTrend(a.name, b.name, "ContingencySimilarity", score, math.nan,
                               math.nan, assoc, counted))
    shape_scores = [s.score for s in shapes if not math.isnan(s.score)]
    col_shapes = float(np.mean(shape_scores)) if shape_scores else math.nan
    counted_scores = [p.score for p in pairs if p.counted]
    all_scores = [p.score for p in pairs if not math.isnan(p.score)]
    trends = float(np.mean(counted_scores)) if counted_scores else math.nan
    trends_all = float(np.mean(all_scores)) if all_scores else math.nan
    parts = [x for x in (col_shapes, trends) if not math.isnan(x)]
    overall = float(np.mean(parts)) if parts else math.nan
    return Fidelity(col_shapes, trends, trends_all, overall, tuple(shapes), tuple(pairs))


__all__ = [
    "ColumnShape",
    "Fidelity",
    "PairTrend",
    "contingency_similarity",
    "correlation_similarity",
    "fidelity",
    "ks_complement",
    "tv_complement",
]
