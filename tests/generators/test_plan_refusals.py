"""Refusals that can be predicted happen in `plan`, before the service charges the ledger.

A refusal that `fit` makes from the schema, the row count and the
hyper-parameters alone costs the owner budget for nothing when it comes after
the charge (and after the rows were read). Each one here raised only in `fit`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from generators import AIM, DPCTGAN, DPMarginals
from generators.base import Generator
from synth.base.errors import InvalidArgument, PrivacyError
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema


def _numbers(d: int, n: int = 40) -> tuple[pa.Table, TableSchema]:
    rng = np.random.default_rng(0)
    table = pa.table({f"x{i}": rng.integers(0, 10, n) for i in range(d)})
    cols = tuple(ColumnSchema(f"x{i}", ColumnKind.NUMERICAL, "int64", False, 0.0, 9.0) for i in range(d))
    return table, TableSchema(columns=cols)


def test_dpctgan_refuses_in_plan_a_target_no_noise_multiplier_reaches(adult_schema: TableSchema) -> None:
    """ε = 0.02 over 20 epochs: Opacus finds no σ ≤ 10^6. `calibrate_noise` ran only after
    preprocessing, so the service had charged the ledger and read the rows."""
    gen = DPCTGAN(epsilon=0.02, epochs=20, device="cpu")
    with pytest.raises(PrivacyError, match="cannot train within"):
        gen.plan(adult_schema, 3000)
    assert DPCTGAN(epsilon=1.0, epochs=20, device="cpu").plan(adult_schema, 3000)  # a feasible one plans


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_dpctgan_refuses_in_plan_a_device_that_is_not_there(adult_schema: TableSchema) -> None:
    for epsilon in (1.0, None):
        gen = DPCTGAN(epsilon=epsilon, device="cuda", allow_non_private=True)
        with pytest.raises(InvalidArgument, match="no CUDA device"):
            gen.plan(adult_schema, 3000)


def test_aim_refuses_in_plan_rounds_its_one_way_marginals_would_overspend() -> None:
    """Ten columns take 0.9 · 10 / T of the rounds' ρ: T = 9 used it all and `fit` raised
    PrivacyError (or divided by zero) after reading the data; T = 10 leaves a tenth."""
    table, schema = _numbers(10)
    with pytest.raises(PrivacyError, match=r"rounds=9 is too few for 10 modelled columns.*at least 10"):
        AIM(epsilon=1.0, rounds=9).plan(schema, table.num_rows)
    gen = AIM(epsilon=1.0, rounds=9, iters=2, final_iters=2, max_iters=2)
    with pytest.raises(PrivacyError, match="too few"):  # fit asks plan first: no row is read
        gen.fit(table, schema, rng=np.random.default_rng(0))
    ok = AIM(epsilon=1.0, rounds=10, iters=2, final_iters=2, max_iters=2)
    assert ok.plan(schema, table.num_rows)
    report = ok.fit(table, schema, rng=np.random.default_rng(0))
    assert report.epsilon is not None and report.epsilon <= 1.0


@pytest.mark.parametrize(
    "gen",
    [DPMarginals(epsilon=1.0), DPMarginals(epsilon=None), AIM(epsilon=1.0), DPCTGAN(epsilon=1.0, device="cpu"),
     DPCTGAN(epsilon=None, allow_non_private=True, device="cpu")],
    ids=["dp_marginals", "dp_marginals_exact", "aim", "dpctgan", "dpctgan_exact"],
)
def test_every_generator_refuses_in_plan_an_empty_table_or_nothing_to_model(gen: Generator) -> None:
    _, schema = _numbers(2)
    with pytest.raises(InvalidArgument, match="empty table"):
        gen.plan(schema, 0)
    ids = TableSchema(columns=(ColumnSchema("id", ColumnKind.ID, "int64", False),))
    with pytest.raises(InvalidArgument, match="nothing to model"):
        gen.plan(ids, 100)



def test_a_library_fit_refuses_before_preprocessing_what_its_plan_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fit() without plan(): DP-CTGAN once measured its columns, then found no σ for ε."""
    touched: list[str] = []
    monkeypatch.setattr(DPCTGAN, "_preprocess", lambda *a, **k: touched.append("pre"))
    table, schema = _numbers(2, n=200)
    gen = DPCTGAN(epsilon=0.02, delta=1e-6, epochs=20, batch_size=50)
    with pytest.raises(PrivacyError):
        gen.fit(table, schema, rng=np.random.default_rng(0))
    assert touched == []
