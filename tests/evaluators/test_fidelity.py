"""Fidelity: hand-checked tiny cases, laws on real data, and agreement with SDMetrics."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluators.fidelity import (
    contingency_similarity,
    correlation_similarity,
    fidelity,
    ks_complement,
    tv_complement,
)
from evaluators.inputs import prepare


def test_ks_complement_by_hand() -> None:
    # CDFs differ most at 3: real has all 3 values ≤ 3, synthetic 2 of 3.
    assert ks_complement(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])) == pytest.approx(2 / 3)
    # nulls are dropped, as SDMetrics does
    assert ks_complement(np.array([1.0, np.nan]), np.array([1.0])) == 1.0
    assert math.isnan(ks_complement(np.array([np.nan]), np.array([1.0])))


def test_tv_complement_by_hand() -> None:
    # codes: 0 null, 1 "a", 2 "b". real a,a,b (null dropped) vs synthetic a,b,b,b
    # TV = ½(|2/3 − 1/4| + |1/3 − 3/4|) = 5/12
    real = np.array([1, 1, 2, 0])
    syn = np.array([1, 2, 2, 2])
    assert tv_complement(real, syn) == pytest.approx(7 / 12)


def test_contingency_by_hand() -> None:
    # real: (0,0),(0,0),(1,1),(1,1); synthetic flips the relation: no shared cell
    score, v = contingency_similarity(
        np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])
    )
    assert score == 0.0
    assert v == pytest.approx(1.0)  # Cramér's V of a perfect 2×2 relation


def test_correlation_by_hand() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    score, rr, rs = correlation_similarity(x, x, x, -x)
    assert (rr, rs, score) == (pytest.approx(1.0), pytest.approx(-1.0), pytest.approx(0.0))
    # a constant column has no correlation: SDMetrics leaves the pair out
    assert math.isnan(correlation_similarity(x, np.ones(4), x, x)[0])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30),
       st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30))
def test_ks_complement_is_a_symmetric_score(a: list[float], b: list[float]) -> None:
    x, y = np.array(a), np.array(b)
    s = ks_complement(x, y)
    assert 0.0 <= s <= 1.0
    assert s == pytest.approx(ks_complement(y, x))
    assert ks_complement(x, x) == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=40), st.lists(st.integers(1, 5), min_size=1, max_size=40))
def test_tv_complement_bounds(a: list[int], b: list[int]) -> None:
    s = tv_complement(np.array(a), np.array(b))
    if all(v == 0 for v in a):
        assert math.isnan(s)
    else:
        assert -1e-9 <= s <= 1.0


def test_identical_tables_score_perfect(adult_split: tuple[pa.Table, pa.Table]) -> None:
    train = adult_split[0]
    f = fidelity(prepare(train, train, None, schema=None))
    assert f.overall == pytest.approx(1.0)
    assert all(s.score == pytest.approx(1.0) for s in f.shapes)


def test_shuffled_columns_lose_pair_trends(
    adult_split: tuple[pa.Table, pa.Table], shuffled: pa.Table
) -> None:
    f = fidelity(prepare(shuffled, adult_split[0], None, schema=None))
    assert f.column_shapes == pytest.approx(1.0)  # marginals untouched
    assert f.column_pair_trends < 0.8
    honest = fidelity(prepare(adult_split[1], adult_split[0], None, schema=None))
    assert honest.column_pair_trends > 0.95


def _sdmetrics_report(real: pd.DataFrame, syn: pd.DataFrame, kinds: dict[str, str]) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        report.generate(real, syn, {"columns": {c: {"sdtype": k} for c, k in kinds.items()}}, verbose=False)
    return report


def _agree(real: pa.Table, syn: pa.Table) -> None:
    inputs = prepare(syn, real, None, schema=None)
    ours = fidelity(inputs)
    kinds = {c.name: c.kind.value for c in inputs.columns}
    report = _sdmetrics_report(real.select(list(kinds)).to_pandas(), syn.select(list(kinds)).to_pandas(), kinds)
    props = report.get_properties().set_index("Property")["Score"]  # type: ignore[attr-defined]
    assert ours.column_shapes == pytest.approx(props["Column Shapes"], abs=1e-3)
    assert ours.column_pair_trends == pytest.approx(props["Column Pair Trends"], abs=1e-3)
    assert ours.overall == pytest.approx(report.get_score(), abs=1e-3)  # type: ignore[attr-defined]
    details = report.get_details("Column Shapes").set_index("Column")["Score"]  # type: ignore[attr-defined]
    for s in ours.shapes:
        assert s.score == pytest.approx(details[s.column], abs=1e-9), s.column


def test_agrees_with_sdmetrics_on_adult(adult: pa.Table, adult_test: pa.Table) -> None:
    _agree(adult, adult_test)


def test_agrees_with_sdmetrics_on_shuffled(adult_split: tuple[pa.Table, pa.Table], shuffled: pa.Table) -> None:
    _agree(adult_split[0], shuffled)


def test_agrees_with_sdmetrics_with_datetimes_and_nulls(metro: pa.Table) -> None:
    df = pl.from_arrow(metro)
    assert isinstance(df, pl.DataFrame)
    half = df.height // 2  # the fixture is in time order: two disjoint stretches of it
    real, syn = df[:half], df[half:]
    # nulls in a numerical and a categorical column, in different places in each table
    real = real.with_columns(pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("temp")).alias("temp"))
    syn = syn.with_columns(pl.when(pl.int_range(pl.len()) % 5 == 0).then(None).otherwise(pl.col("weather_main")).alias("weather_main"))
    _agree(real.to_arrow(), syn.to_arrow())


def test_agrees_with_sdmetrics_on_booleans_datetimes_and_nulls() -> None:
    """A seeded mixed table: booleans, datetimes and numbers with nulls, a related pair of each kind."""
    rng = np.random.default_rng(11)

    def table(n: int, shift: float) -> pa.Table:
        x = rng.normal(size=n) + shift
        flag = x + rng.normal(size=n) > 0
        when = np.datetime64("2020-01-01T00:00:00", "ns") + (x * 86_400e9).astype("timedelta64[ns]")
        cat = np.where(x > 0.5, "high", np.where(x < -0.5, "low", "mid")).astype(object)
        y = 2 * x + rng.normal(size=n)
        for arr in (cat, ):
            arr[rng.random(n) < 0.1] = None
        return pa.table({
            "x": pa.array(np.where(rng.random(n) < 0.05, np.nan, x), from_pandas=True),
            "y": y,
            "flag": pa.array(flag, mask=rng.random(n) < 0.05),
            "when": pa.array(when, mask=rng.random(n) < 0.05),
            "cat": pa.array(cat, pa.string()),
        })

    _agree(table(3000, 0.0), table(2000, 0.3))
