"""An evaluation shows the owner aggregates of the real rows, never a rare value or an extreme.

The JSON and the HTML report are the source owner's, and even so they name no
value fewer than `min_group_rows` real rows hold (categories, histogram bins,
null counts) and no real minimum or maximum (histogram edges are public or DP
bounds, or not shown). Both say at the top that they hold real statistics.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from evaluators import EvaluateOptions, EvaluationResult, evaluate
from synth.base.errors import InvalidArgument
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema

N = 400
RARE_CITY = "Ogdenville"  # 3 rows
LONE_CITY = "Brockway"  # 1 row
MAX_AMOUNT = 98765.4321  # one row, far above the rest
MIN_AMOUNT = -4321.125
LATE = datetime(2099, 12, 31, 13, 14, 15, tzinfo=UTC)  # one row
FAST = EvaluateOptions(max_dcr_queries=200, max_mia_targets=200, singling_out_attacks=20,
                       singling_out_max_attempts=2000, linkability_attacks=50, inference_attacks=50,
                       detection_rows=200, efficacy_rows=400)


def _tables() -> tuple[pa.Table, pa.Table, TableSchema]:
    rng = np.random.default_rng(3)
    city = np.where(rng.random(N) < 0.55, "Springfield", "Shelbyville").astype(object)
    city[:3] = RARE_CITY
    city[3] = LONE_CITY
    amount = rng.uniform(10.0, 90.0, N)
    amount[10], amount[11] = MAX_AMOUNT, MIN_AMOUNT
    when = rng.integers(1_500_000_000, 1_600_000_000, N).astype("datetime64[s]").astype("datetime64[us]")
    when[20] = np.datetime64(LATE.replace(tzinfo=None), "us")
    age = rng.integers(20, 70, N)
    age[30:33] = 117  # a value three rows hold
    member = pa.array(rng.random(N) < 0.5, mask=np.arange(N) < 3)  # three nulls
    table = pa.table({"city": pa.array(city, pa.string()), "amount": amount, "when": pa.array(when),
                      "age": age, "member": member})
    schema = TableSchema(columns=(
        ColumnSchema("city", ColumnKind.CATEGORICAL, "string", False),
        ColumnSchema("amount", ColumnKind.NUMERICAL, "double", False),
        ColumnSchema("when", ColumnKind.DATETIME, "timestamp[us]", False),
        ColumnSchema("age", ColumnKind.NUMERICAL, "int64", False, 0.0, 120.0),  # public bounds
        ColumnSchema("member", ColumnKind.BOOLEAN, "bool", True),
    ))
    return table.slice(0, 300), table.slice(300), schema


def _run(k: int) -> tuple[EvaluationResult, str, str]:
    train, holdout, schema = _tables()
    # The worst case for the report: a "synthetic" table that copied its training rows.
    opts = EvaluateOptions(**{**FAST.__dict__, "min_group_rows": k})
    ev = evaluate(train, train, holdout, schema=schema, target="city", seed=0, options=opts)
    return ev, json.dumps(ev.to_json_dict()), ev.report_html()


def _forms(x: float) -> set[str]:
    """The ways a number can be written into the JSON or the report."""
    return {repr(x), f"{x:.4g}", f"{x:.3f}", f"{x:.2f}", f"{x:g}", f"{x:,.0f}", str(int(x))}


def _real_extremes() -> set[str]:
    train = _tables()[0]
    out: set[str] = set()
    for name in ("amount", "age"):
        v = train.column(name).to_numpy().astype(float)
        out |= _forms(float(v.min())) | _forms(float(v.max()))
    stamps = train.column("when").cast(pa.int64()).to_numpy()
    for us in (int(stamps.min()), int(stamps.max())):
        out |= _forms(us * 1000.0) | {datetime.fromtimestamp(us / 1e6, tz=UTC).strftime("%Y-%m-%d")}
    return out


@pytest.fixture(scope="module")
def default_k() -> tuple[EvaluationResult, str, str]:
    return _run(10)


def test_no_rare_value_and_no_real_extreme_in_the_json_or_the_report(
    default_k: tuple[EvaluationResult, str, str],
) -> None:
    _, doc, html = default_k
    assert MAX_AMOUNT == 98765.4321 and 117 in _tables()[0].column("age").to_pylist()
    for text in (doc, html):
        assert RARE_CITY not in text and LONE_CITY not in text
        assert "2099-12" not in text  # the late date, as a label or an edge
        leaked = sorted(f for f in _real_extremes() if f in text and len(f) >= 5)
        assert leaked == [], leaked


def test_rare_groups_are_withheld_and_counted(default_k: tuple[EvaluationResult, str, str]) -> None:
    ev, _, html = default_k
    by = {d.column: d for d in ev.distributions}
    assert by["city"].labels == ("Springfield", "Shelbyville") and by["city"].withheld == 2
    assert "2 categories held by fewer than 10 real rows not shown" in html
    assert math.isnan(by["member"].null_real)  # three nulls: withheld
    assert "nulls: real fewer than 10 rows" in html
    age = by["age"]
    assert age.bounds == "public" and age.edges[0] == 0.0 and age.edges[-1] == 120.0
    bin_117 = int(np.searchsorted(np.asarray(age.edges), 117.0, side="right")) - 1
    assert age.real[bin_117] == 0.0 and age.withheld >= 1  # the bin of the three 117s
    for name in ("amount", "when"):  # no public or DP bounds: unlabelled, spanning the synthetic range
        assert by[name].bounds == "none" and by[name].edges == () and by[name].labels == ()


def test_the_json_and_the_report_say_they_hold_real_statistics(
    default_k: tuple[EvaluationResult, str, str],
) -> None:
    _, doc, html = default_k
    parsed = json.loads(doc)
    assert parsed["contains_real_statistics"] is True
    assert "owner" in parsed["real_statistics_note"] and "fewer than 10" in parsed["real_statistics_note"]
    assert parsed["options"]["min_group_rows"] == 10
    head = html[: html.index("<h2>")]
    assert "Contains statistics of the real data" in head and "fewer than 10 real rows" in head


def test_with_k_one_rare_values_may_appear_but_extremes_still_do_not() -> None:
    ev, doc, html = _run(1)
    assert RARE_CITY in doc and RARE_CITY in html and LONE_CITY in html
    assert json.loads(doc)["contains_real_statistics"] is True
    assert {d.column: d for d in ev.distributions}["city"].withheld == 0
    for text in (doc, html):
        assert "2099-12" not in text
        assert sorted(f for f in _real_extremes() if f in text and len(f) >= 5) == []


def test_dp_bounds_given_to_the_evaluation_label_the_axis() -> None:
    train, holdout, schema = _tables()
    ev = evaluate(train, train, holdout, schema=schema, seed=0, metrics=("fidelity",),
                  bounds={"amount": (-8192.0, 131072.0)})
    amount = {d.column: d for d in ev.distributions}["amount"]
    assert amount.bounds == "dp" and amount.edges[0] == -8192.0 and amount.edges[-1] == 131072.0
    assert "axis: the model&#x27;s DP bounds" in ev.report_html()


def test_min_group_rows_below_one_is_refused() -> None:
    train, holdout, schema = _tables()
    with pytest.raises(InvalidArgument, match="min_group_rows"):
        evaluate(train, train, holdout, schema=schema, metrics=("fidelity",),
                 options=EvaluateOptions(min_group_rows=0))
