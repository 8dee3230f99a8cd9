"""Scores within each group of a protected column, so a release cannot quietly erase a minority.

For every category of a protected (categorical) column: the fidelity of the
synthetic rows of that group against the real train rows of that group, and,
with a classification target, TSTR accuracy within the group (a classifier
trained on all synthetic rows, tested on the group's holdout rows) over TRTR
accuracy (the same classifier trained on the real train rows). A group held
by fewer than `min_group_rows` real rows (train or holdout) is not scored and
not named, only counted (`withheld`), as the report does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from evaluators.classifiers import Features, fit_softmax, predict_proba
from evaluators.encoding import Encoder
from evaluators.fidelity import fidelity
from evaluators.inputs import CONTINUOUS, Inputs, prepare
from synth.base.errors import InvalidArgument
from synth.base.schema import TableSchema


def subgroup_scores(
    synthetic: Any,
    train: Any,
    holdout: Any,
    *,
    columns: tuple[str, ...],
    schema: TableSchema | None = None,
    target: str | None = None,
    min_group_rows: int = 10,
    max_rows: int = 20_000,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """{"columns": {column: {"groups": [{"group", "n_train", "n_holdout", "quality",
    "tstr_ratio"}...], "withheld": k}}, "min_group_rows": m} (plain JSON types)."""
    if min_group_rows < 1:
        raise InvalidArgument(f"min_group_rows must be at least 1, got {min_group_rows}")
    inputs = prepare(synthetic, train, holdout, schema=schema)
    assert inputs.holdout is not None
    for col in columns:
        if col not in inputs.schema.names:
            raise InvalidArgument(f"protected column {col!r} is not a scored column")
        if inputs.kind(col) in CONTINUOUS:
            raise InvalidArgument(
                f"protected column {col!r} is continuous: groups need a categorical column"
            )
    classify = (
        target is not None
        and target in inputs.schema.names
        and inputs.kind(target) not in CONTINUOUS
    )
    model = _Tstr(inputs, target, max_rows, rng) if classify and target is not None else None
    out: dict[str, Any] = {}
    for col in columns:
        groups, withheld = [], 0
        real_counts = inputs.train[col].cast(pl.String).value_counts()
        for value, n_train in sorted(
            real_counts.iter_rows(), key=lambda r: (r[0] is None, str(r[0]))
        ):
            mask = _is(col, value)
            hold = inputs.holdout.filter(mask)
            if n_train < min_group_rows or hold.height < min_group_rows:
                withheld += 1
                continue
            syn = inputs.synthetic.filter(mask)
            entry: dict[str, Any] = {
                "group": "null" if value is None else str(value),
                "n_train": int(n_train),
                "n_holdout": hold.height,
                "n_synthetic": syn.height,
                "quality": 0.0,  # a group the synthetic table lost has no fidelity at all
                "tstr_ratio": None,
            }
            if syn.height:
                sub = Inputs(syn, inputs.train.filter(mask), hold, inputs.schema)
                q = fidelity(sub).overall
                entry["quality"] = q if math.isfinite(q) else None
            if model is not None:
                entry["tstr_ratio"] = model.ratio(hold)
            groups.append(entry)
        out[col] = {"groups": groups, "withheld": withheld}
    return {
        "columns": out,
        "min_group_rows": min_group_rows,
        "target": target if classify else None,
    }


def _is(col: str, value: str | None) -> pl.Expr:
    c = pl.col(col).cast(pl.String)
    return c.is_null() if value is None else c == value


class _Tstr:
    """Two classifiers of the target, one trained on synthetic rows, one on real train rows."""

    def __init__(
        self, inputs: Inputs, target: str, max_rows: int, rng: np.random.Generator
    ) -> None:
        feats = [c for c in inputs.columns if c.name != target]
        if not feats:
            raise InvalidArgument("TSTR needs at least one column besides the target")
        assert inputs.holdout is not None
        enc = Encoder(feats).fit(inputs.train, inputs.synthetic, inputs.holdout)
        self.features = Features(enc, inputs.train)
        self.target = target
        trn, syn = (
            _rows(f.filter(pl.col(target).is_not_null()), max_rows, rng)
            for f in (inputs.train, inputs.synthetic)
        )
        self.classes = sorted(
            set(trn[target].cast(pl.String).to_list()) | set(syn[target].cast(pl.String).to_list())
        )
        self.index = {c: i for i, c in enumerate(self.classes)}
        self.w_real = self._fit(trn)
        self.w_syn = self._fit(syn)

    def _fit(self, df: pl.DataFrame) -> np.ndarray:
        y = np.array([self.index[v] for v in df[self.target].cast(pl.String).to_list()])
        return fit_softmax(self.features.transform(df), y, len(self.classes))

    def ratio(self, hold: pl.DataFrame) -> float | None:
        hold = hold.filter(pl.col(self.target).is_not_null())
        if hold.height == 0:
            return None
        x = self.features.transform(hold)
        y = np.array([self.index.get(v, -1) for v in hold[self.target].cast(pl.String).to_list()])
        real = float((predict_proba(self.w_real, x).argmax(axis=1) == y).mean())
        syn = float((predict_proba(self.w_syn, x).argmax(axis=1) == y).mean())
        return syn / real if real > 0 else None


def _rows(df: pl.DataFrame, limit: int, rng: np.random.Generator) -> pl.DataFrame:
    if df.height <= limit:
        return df
    return df.select(pl.all().gather(np.sort(rng.choice(df.height, limit, replace=False))))
