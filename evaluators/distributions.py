"""What the report shows of each column: histograms and top-category shares of both tables.

It reads the real rows, so it withholds what fewer than `min_rows` of them
hold and never shows a real extreme (see `distributions`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import polars as pl

from evaluators.fidelity import continuous_values
from evaluators.inputs import CONTINUOUS, Inputs
from evaluators.result import ColumnDistribution
from synth.base.schema import ColumnKind, ColumnSchema


def distributions(
    inputs: Inputs,
    *,
    bins: int = 30,
    top: int = 12,
    min_rows: int = 10,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[ColumnDistribution, ...]:
    """Per-column histograms or top-category shares of both tables, for the report.

    What it shows of the real table is limited even though the evaluation is
    the owner's: a category, a histogram bin or the nulls that fewer than
    `min_rows` real rows hold are withheld (a category is left out, a bin's
    or the nulls' real share is 0 or NaN; `withheld` counts them), and no real
    minimum or maximum appears: the edges are the schema's declared bounds,
    else `bounds` (the model's DP bounds), else the bins span the synthetic
    table's range and their edges are not shown (`edges` empty).
    """
    out = []
    for c in inputs.columns:
        r, s = inputs.train[c.name], inputs.synthetic[c.name]
        nr, ns = max(1, r.len()), max(1, s.len())
        null_real = _share(r.null_count(), nr, min_rows)
        if c.kind in CONTINUOUS:
            xr, xs = continuous_values(r), continuous_values(s)
            is_dt = c.kind is ColumnKind.DATETIME
            source, (lo, hi) = _histogram_range(c, xs, bounds)
            edges = np.linspace(lo, hi, bins + 1)
            counts = np.histogram(np.clip(xr[~np.isnan(xr)], lo, hi), edges)[0]
            small = (counts > 0) & (counts < min_rows)
            hr = np.where(small, 0, counts) / nr
            hs = np.histogram(np.clip(xs[~np.isnan(xs)], lo, hi), edges)[0] / ns
            shown = source != "none"
            labels = tuple(_edge_label(e, is_dt) for e in edges[:-1]) if shown else ()
            out.append(ColumnDistribution(c.name, True, labels, tuple(hr.tolist()), tuple(hs.tolist()),
                                          tuple(edges.tolist()) if shown else (), null_real,
                                          s.null_count() / ns, is_dt, int(small.sum()), source))
        else:
            vr = r.cast(pl.String).drop_nulls().value_counts(name="n")
            vr = vr.sort(["n", c.name], descending=[True, False])
            kept = vr.filter(pl.col("n") >= min_rows)
            cats = kept[c.name].to_list()[:top]
            real = [n / nr for n in kept["n"].to_list()[:top]]
            sv = s.cast(pl.String)
            syn = [float((sv == v).sum()) / ns for v in cats]
            out.append(ColumnDistribution(c.name, False, tuple(str(v) for v in cats), tuple(real),
                                          tuple(syn), (), null_real, s.null_count() / ns,
                                          withheld=vr.height - kept.height))
    return tuple(out)


def _share(count: int, total: int, min_rows: int) -> float:
    """count / total, or NaN (withheld) when fewer than `min_rows` rows but some hold it."""
    return math.nan if 0 < count < min_rows else count / total


def _histogram_range(
    col: ColumnSchema, synthetic: np.ndarray, bounds: Mapping[str, tuple[float, float]] | None
) -> tuple[str, tuple[float, float]]:
    """Where a histogram's range comes from ("public", "dp" or "none") and the range itself.

    Never from the real rows. Without public or DP bounds the synthetic table's
    range is used (the model's output), and its edges are not shown.
    """
    scale = 1e9 if col.kind is ColumnKind.DATETIME else 1.0  # schema seconds; values are ns
    pair: tuple[float, float] | None = None
    source = "none"
    if col.lower is not None and col.upper is not None:
        pair, source = (col.lower, col.upper), "public"
    elif bounds is not None and col.name in bounds:
        pair, source = bounds[col.name], "dp"
    if pair is not None:
        lo, hi = float(pair[0]) * scale, float(pair[1]) * scale
    else:
        ok = synthetic[np.isfinite(synthetic)]
        lo, hi = (float(ok.min()), float(ok.max())) if ok.size else (0.0, 1.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    # Spans past float64 (±1.8e308) have no finite bin width: values beyond ±1e300 land in the end bins.
    lo, hi = min(max(lo, -1e300), 1e300), min(max(hi, -1e300), 1e300)
    return source, (lo, hi if hi > lo else lo + max(1.0, abs(lo) * 1e-6))


def _edge_label(edge: float, is_datetime: bool) -> str:
    if is_datetime:
        return datetime.fromtimestamp(edge / 1e9, tz=UTC).strftime("%Y-%m-%d")
    return f"{edge:.4g}"
