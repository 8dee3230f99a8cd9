"""Per-group scores of protected columns (evaluators.subgroups), on small tables built here."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from evaluators.subgroups import subgroup_scores
from synth.base.errors import InvalidArgument


def _table(n_a: int, n_b: int, seed: int) -> pa.Table:
    """Group "a" and group "b"; `y` follows `x` in both groups (a learnable target)."""
    rng = np.random.default_rng(seed)
    group = ["a"] * n_a + ["b"] * n_b
    x = rng.normal(size=n_a + n_b)
    return pa.table({"g": group, "x": x, "y": np.where(x > 0, "hi", "lo").tolist()})


def _scores(synthetic: pa.Table, **kw: object) -> dict:  # type: ignore[type-arg]
    train, holdout = _table(300, 40, 1), _table(100, 20, 2)
    return subgroup_scores(
        synthetic,
        train,
        holdout,
        columns=("g",),
        rng=np.random.default_rng(0),
        **kw,  # type: ignore[arg-type]
    )


def test_a_faithful_table_keeps_every_group() -> None:
    # The train rows themselves: every group as faithful as can be, the same classifier.
    out = _scores(_table(300, 40, 1), target="y")
    groups = {g["group"]: g for g in out["columns"]["g"]["groups"]}
    assert set(groups) == {"a", "b"} and out["columns"]["g"]["withheld"] == 0
    assert groups["b"]["n_train"] == 40 and groups["b"]["n_holdout"] == 20
    for g in groups.values():
        assert g["quality"] == pytest.approx(1.0)
        assert g["tstr_ratio"] == pytest.approx(1.0)


def test_an_erased_minority_scores_zero_quality() -> None:
    out = _scores(_table(300, 40, 1).slice(0, 300), target="y")  # group "a" rows only
    groups = {g["group"]: g for g in out["columns"]["g"]["groups"]}
    assert groups["b"]["n_synthetic"] == 0 and groups["b"]["quality"] == 0.0
    assert groups["a"]["quality"] == pytest.approx(1.0)


def test_groups_under_min_group_rows_are_counted_not_named() -> None:
    out = _scores(_table(300, 40, 3), min_group_rows=30)  # b has 20 holdout rows
    col = out["columns"]["g"]
    assert [g["group"] for g in col["groups"]] == ["a"] and col["withheld"] == 1
    assert col["groups"][0]["tstr_ratio"] is None  # no target: no TSTR


def test_a_continuous_or_unknown_protected_column_is_refused() -> None:
    train = _table(300, 40, 1)
    for column in ("x", "nope"):
        with pytest.raises(InvalidArgument):
            subgroup_scores(train, train, train, columns=(column,), rng=np.random.default_rng(0))
