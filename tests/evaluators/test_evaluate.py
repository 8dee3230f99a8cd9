"""The entry point: sanity laws on Adult, input handling and clear errors."""

from __future__ import annotations

import json

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import evaluators
from evaluators import EvaluateOptions, EvaluationResult, evaluate
from synth.base.errors import InvalidArgument

FAST = EvaluateOptions(max_dcr_queries=3000, max_mia_targets=2000, singling_out_attacks=200,
                       linkability_attacks=500, inference_attacks=500)
RISK = ("exact_matches", "distance", "membership", "singling_out", "linkability", "inference")


@pytest.fixture(scope="module")
def copy_eval(adult_split: tuple[pa.Table, pa.Table]) -> EvaluationResult:
    train, hold = adult_split
    return evaluate(train, train, hold, seed=1, options=FAST, metrics=RISK)


@pytest.fixture(scope="module")
def independent_eval(adult_split: tuple[pa.Table, pa.Table], adult_test: pa.Table) -> EvaluationResult:
    """adult_test: drawn from the same population as train, never seen by any generator."""
    train, hold = adult_split
    return evaluate(adult_test, train, hold, seed=1, options=FAST, metrics=RISK)


def _flag(ev: EvaluationResult, metric: str) -> bool:
    return next(f for f in ev.flags if f.metric.startswith(metric)).flagged


@pytest.mark.parametrize("metric", ["exact_matches", "dcr_share", "membership_auc", "singling_out"])
def test_a_copy_of_train_is_flagged(copy_eval: EvaluationResult, metric: str) -> None:
    assert _flag(copy_eval, metric)


@pytest.mark.parametrize("metric", ["exact_matches", "dcr_share", "membership_auc", "singling_out",
                                    "linkability", "inference"])
def test_an_independent_sample_is_not_flagged(independent_eval: EvaluationResult, metric: str) -> None:
    assert not _flag(independent_eval, metric)


def test_copy_numbers_are_extreme_and_independent_ones_at_chance(
    copy_eval: EvaluationResult, independent_eval: EvaluationResult
) -> None:
    c, i = copy_eval, independent_eval
    assert c.exact_matches is not None and i.exact_matches is not None
    assert c.exact_matches.share_train.value == 1.0
    assert i.exact_matches.share_train.value < 0.01
    assert c.distance is not None and i.distance is not None
    assert c.distance.dcr_share.low > 0.95
    assert i.distance.dcr_share.low < 0.5 < i.distance.dcr_share.high + 0.02
    assert c.membership is not None and i.membership is not None
    assert c.membership.auc.value > 0.95
    assert abs(i.membership.auc.value - 0.5) < 0.05


def test_json_is_plain_and_complete(independent_eval: EvaluationResult) -> None:
    d = json.loads(json.dumps(independent_eval.to_json_dict(), allow_nan=False))
    assert d["sizes"]["holdout"] > 0
    assert {f["metric"] for f in d["verdict"]["flags"]} >= {"exact_matches", "dcr_share", "membership_auc"}
    assert d["distance"]["dcr_share"]["low"] <= d["distance"]["dcr_share"]["value"] <= d["distance"]["dcr_share"]["high"]


def test_same_seed_same_numbers(adult_split: tuple[pa.Table, pa.Table]) -> None:
    train, hold = adult_split
    small = train.slice(0, 3000)
    runs = [evaluate(small, train, hold, seed=5, options=FAST, metrics=("distance", "singling_out")).to_json_dict()
            for _ in range(2)]
    for r in runs:
        r.pop("seconds")
    assert runs[0] == runs[1]


def test_arrow_polars_and_pandas_agree(adult_split: tuple[pa.Table, pa.Table]) -> None:
    train, hold = adult_split
    syn = hold.slice(0, 2000)
    got = []
    for conv in (lambda t: t, pl.from_arrow, lambda t: t.to_pandas()):
        ev = evaluate(conv(syn), conv(train), conv(hold), seed=0, metrics=("fidelity", "exact_matches"))
        assert ev.fidelity is not None
        got.append(ev.fidelity.overall)
    assert got[0] == pytest.approx(got[1]) == pytest.approx(got[2])


def test_ml_efficacy_and_detection(adult_split: tuple[pa.Table, pa.Table], shuffled: pa.Table) -> None:
    train, hold = adult_split
    opts = EvaluateOptions(detection_rows=1500, efficacy_rows=3000)
    honest = evaluate(hold, train, hold, target="income", seed=0, options=opts, metrics=("efficacy", "detection"))
    broken = evaluate(shuffled, train, hold, target="income", seed=0, options=opts, metrics=("efficacy", "detection"))
    assert honest.efficacy is not None and broken.efficacy is not None
    assert honest.efficacy.metric == "roc_auc"
    assert honest.efficacy.real_score > 0.85
    assert honest.efficacy.ratio > 0.95
    # no relation left to learn: whatever a noise-fitted model scores, it falls short of real
    assert broken.efficacy.ratio < 0.9
    assert honest.detection is not None and broken.detection is not None
    assert honest.detection.auc.value < 0.6
    assert broken.detection.auc.low > 0.75


def test_regression_efficacy(adult_split: tuple[pa.Table, pa.Table]) -> None:
    train, hold = adult_split
    ev = evaluate(hold, train, hold, target="education_num", seed=0, metrics=("efficacy",),
                  options=EvaluateOptions(efficacy_rows=5000))
    assert ev.efficacy is not None and ev.efficacy.metric == "r2"
    assert ev.efficacy.real_score > 0.9  # education determines education_num


def _tiny() -> pa.Table:
    return pa.table({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"]})


@pytest.mark.parametrize(
    ("syn", "train", "hold", "match"),
    [
        (pa.table({"a": [1.0]}), _tiny(), _tiny(), "missing"),
        (pa.table({"a": [1.0], "b": ["x"], "c": [1]}), _tiny(), _tiny(), "unexpected"),
        (pa.table({"b": ["x"], "a": [1.0]}), _tiny(), _tiny(), "order"),
        (_tiny().slice(0, 0), _tiny(), _tiny(), "synthetic table is empty"),
        (_tiny(), _tiny(), _tiny().slice(0, 0), "holdout table is empty"),
        (_tiny(), pa.table({"a": pa.array([None, None, None], pa.float64()), "b": ["x", "y", "x"]}),
         _tiny(), "entirely null"),
        (pa.table({"a": ["p", "q"], "b": ["x", "y"]}), _tiny(), _tiny(), "numerical in the schema"),
        ([1, 2], _tiny(), _tiny(), "pyarrow Table"),
    ],
)
def test_bad_inputs_get_clear_errors(syn: object, train: pa.Table, hold: pa.Table, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        evaluate(syn, train, hold, metrics=("fidelity",))


def test_unknown_metric_and_target_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="unknown metrics"):
        evaluate(_tiny(), _tiny(), _tiny(), metrics=("nope",))
    with pytest.raises(InvalidArgument, match="target column"):
        evaluate(_tiny(), _tiny(), _tiny(), target="zzz", metrics=("efficacy",))
    with pytest.raises(InvalidArgument, match="holdout"):
        evaluate(_tiny(), _tiny(), None)


def test_progress_is_reported_and_can_cancel(adult_split: tuple[pa.Table, pa.Table]) -> None:
    from synth.base.errors import Cancelled

    train, hold = adult_split
    seen: list[tuple[str, float]] = []
    evaluate(hold.slice(0, 500), train, hold, metrics=("fidelity", "distance"), progress=lambda p, f: seen.append((p, f)))
    assert ("fidelity", 1.0) in seen and any(p == "distance" and 0 < f < 1 for p, f in seen)

    def stop(phase: str, fraction: float) -> None:
        if phase == "distance" and fraction > 0:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        evaluate(hold.slice(0, 500), train, hold, metrics=("distance",), progress=stop)


def test_public_surface() -> None:
    assert sorted(evaluators.__all__) == sorted([
        "STEPS", "ColumnDistribution", "Estimate", "EvaluateOptions", "EvaluationResult", "Fidelity", "Flag",
        "Inputs", "evaluate", "fidelity", "prepare", "register_step",
    ])
    _ = pd  # pandas input is exercised above


def test_id_and_pii_columns_are_not_scored(adult_split: tuple[pa.Table, pa.Table]) -> None:
    from dataclasses import replace

    from synth.base.inference import infer_schema
    from synth.base.schema import ColumnKind

    train, hold = (t.slice(0, 3000).append_column("row_id", pa.array(range(3000))) for t in adult_split)
    schema = infer_schema(train)
    schema = schema.with_column(replace(schema["row_id"], kind=ColumnKind.ID))
    ev = evaluate(hold, train, hold, schema=schema, seed=0, metrics=("fidelity", "exact_matches"))
    assert "row_id" not in ev.columns and len(ev.columns) == 15
    assert ev.fidelity is not None and "row_id" not in {s.column for s in ev.fidelity.shapes}


def test_multiclass_efficacy_uses_accuracy(adult_split: tuple[pa.Table, pa.Table]) -> None:
    train, hold = adult_split
    ev = evaluate(hold, train, hold, target="relationship", seed=0, metrics=("efficacy",),
                  options=EvaluateOptions(efficacy_rows=3000))
    assert ev.efficacy is not None and ev.efficacy.metric == "accuracy"
    assert ev.efficacy.real_score > 0.6  # sex and marital status nearly decide relationship
    assert ev.efficacy.ratio > 0.95
