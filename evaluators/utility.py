"""Machine-learning efficacy and detection: do models see the synthetic table as the real one?

Efficacy: train on synthetic, test on the real holdout, against train on real
(train), test on the same holdout. Detection: how well a classifier tells
synthetic from real rows (out-of-fold ROC AUC; 0.5 means it cannot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from evaluators.classifiers import (
    Features,
    fit_ridge,
    fit_softmax,
    mlp_scores,
    predict_proba,
    predict_ridge,
)
from evaluators.encoding import Encoder
from evaluators.fidelity import continuous_values
from evaluators.inputs import CONTINUOUS, Inputs
from evaluators.stats import Estimate, auc
from synth.base.errors import InvalidArgument


@dataclass(frozen=True)
class Efficacy:
    target: str
    task: str  # "classification" | "regression"
    metric: str  # "roc_auc" (binary), "accuracy" (multi-class) or "r2"
    real_score: float  # train on real, test on holdout
    synthetic_score: float  # train on synthetic, test on holdout
    ratio: float  # synthetic / real

    def to_json_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Detection:
    auc: Estimate
    n_rows: int  # per side

    def to_json_dict(self) -> dict[str, object]:
        return {"auc": self.auc.to_json_dict(), "n_rows": self.n_rows}


def ml_efficacy(inputs: Inputs, target: str, *, max_rows: int, rng: np.random.Generator) -> Efficacy:
    if target not in inputs.schema.names:
        raise InvalidArgument(
            f"target column {target!r} is not a scored column; choose one of {inputs.schema.names}"
        )
    assert inputs.holdout is not None
    feats = [c for c in inputs.columns if c.name != target]
    if not feats:
        raise InvalidArgument("ML efficacy needs at least one column besides the target")
    enc = Encoder(feats).fit(inputs.train, inputs.synthetic, inputs.holdout)
    features = Features(enc, inputs.train)
    trn, syn, hold = (_rows(f.filter(pl.col(target).is_not_null()), max_rows, rng)
                      for f in (inputs.train, inputs.synthetic, inputs.holdout))
    if min(trn.height, syn.height, hold.height) == 0:
        raise InvalidArgument(f"target column {target!r} has no non-null value in some table")
    x_hold = features.transform(hold)
    if inputs.kind(target) in CONTINUOUS:
        y_hold = continuous_values(hold[target])

        def r2(df: pl.DataFrame) -> float:
            w = fit_ridge(features.transform(df), continuous_values(df[target]))
            resid = y_hold - predict_ridge(w, x_hold)
            return 1.0 - float((resid**2).sum()) / float(((y_hold - y_hold.mean()) ** 2).sum())

        real, synth = r2(trn), r2(syn)
        return Efficacy(target, "regression", "r2", real, synth, _ratio(synth, real))
    classes = sorted(set(trn[target].cast(pl.String).to_list()) | set(syn[target].cast(pl.String).to_list()))
    index = {c: i for i, c in enumerate(classes)}
    y_hold_s = hold[target].cast(pl.String).to_list()
    binary = len(classes) == 2

    def score(df: pl.DataFrame) -> float:
        y = np.array([index[v] for v in df[target].cast(pl.String).to_list()])
        w = fit_softmax(features.transform(df), y, len(classes))
        proba = predict_proba(w, x_hold)
        known = np.array([v in index for v in y_hold_s])
        y_true = np.array([index.get(v, -1) for v in y_hold_s])
        if binary:
            return auc(proba[known & (y_true == 1), 1], proba[known & (y_true == 0), 1]).value
        return float((proba.argmax(axis=1) == y_true).mean())

    real, synth = score(trn), score(syn)
    metric = "roc_auc" if binary else "accuracy"
    return Efficacy(target, "classification", metric, real, synth, _ratio(synth, real))


def detection(
    inputs: Inputs, *, max_rows: int, folds: int = 3, rng: np.random.Generator, confidence: float
) -> Detection:
    """Out-of-fold AUC of a classifier separating train rows (0) from synthetic rows (1)."""
    n = min(inputs.train.height, inputs.synthetic.height, max_rows)
    real = _rows(inputs.train, n, rng)
    syn = _rows(inputs.synthetic, n, rng)
    enc = Encoder(inputs.columns).fit(inputs.train, inputs.synthetic)
    features = Features(enc, inputs.train)
    x = np.vstack([features.transform(real), features.transform(syn)])
    y = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])
    fold = rng.permutation(2 * n) % folds
    scores = np.empty(2 * n)
    for f in range(folds):
        test = fold == f
        scores[test] = mlp_scores(x[~test], y[~test], x[test], rng=rng)
    return Detection(auc(scores[y == 1], scores[y == 0], confidence=confidence), n)


def _rows(df: pl.DataFrame, limit: int, rng: np.random.Generator) -> pl.DataFrame:
    if df.height <= limit:
        return df
    return df.select(pl.all().gather(np.sort(rng.choice(df.height, limit, replace=False))))


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else math.nan
