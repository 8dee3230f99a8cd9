"""The `aim` generator: privacy plan and accounting, types, persistence, seeds, memory cap, utility."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generators import create_generator, load_generator
from generators.aim import AIM
from generators.aim.discretise import OTHER
from synth.base.errors import Cancelled, InvalidArgument, ResourceLimit
from synth.base.inference import infer_schema
from synth.base.progress import Progress
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema

FAST = {"iters": 30, "final_iters": 100}


def mixed_table(n: int, rng: np.random.Generator) -> tuple[pa.Table, TableSchema]:
    """Every kind AIM models, nulls included, with a dependence between two columns."""
    group = rng.integers(0, 3, n)
    amount = np.where(group == 0, rng.normal(10, 2, n), rng.normal(50, 5, n))
    table = pa.table(
        {
            "id": pa.array(np.arange(n), pa.int64()),
            "group": pa.array([f"g{g}" for g in group]),
            "amount": pa.array(amount, mask=rng.random(n) < 0.1),
            "count": pa.array(rng.integers(0, 20, n).astype(np.int32)),
            "flag": pa.array(rng.random(n) < 0.3),
            "when": pa.array(
                [
                    dt.datetime(2024, 1, 1) + dt.timedelta(hours=int(h))
                    for h in rng.integers(0, 8760, n)
                ],
                pa.timestamp("us"),
            ),
            "rare": pa.array([f"r{i}" if i < 3 else "common" for i in range(n)]),
        }
    )
    schema = infer_schema(table)
    schema = schema.with_column(replace(schema["id"], kind=ColumnKind.ID))
    schema = schema.with_column(replace(schema["count"], lower=0, upper=19))
    schema = schema.with_column(replace(schema["rare"], kind=ColumnKind.CATEGORICAL))
    return table, schema


@pytest.fixture(scope="module")
def mixed() -> tuple[pa.Table, TableSchema]:
    return mixed_table(3000, np.random.default_rng(0))


@pytest.fixture(scope="module")
def fitted(mixed: tuple[pa.Table, TableSchema]) -> AIM:
    table, schema = mixed
    gen = AIM(epsilon=2.0, **FAST)
    gen.fit(table, schema, rng=np.random.default_rng(1))
    return gen


def test_registered_by_name() -> None:
    gen = create_generator("aim", epsilon=1.0)
    assert isinstance(gen, AIM) and gen.params()["epsilon"] == 1.0


def test_needs_epsilon() -> None:
    with pytest.raises(InvalidArgument):
        AIM(epsilon=None)


def test_report_matches_plan_and_spends_the_whole_budget(
    fitted: AIM, mixed: tuple[pa.Table, TableSchema]
) -> None:
    table, schema = mixed
    plan = AIM(epsilon=2.0, **FAST).plan(schema, table.num_rows)
    assert fitted.privacy is not None
    assert list(fitted.privacy.spends) == plan
    assert sum(s.epsilon for s in plan) == pytest.approx(2.0)
    assert fitted.privacy.epsilon is not None and fitted.privacy.delta is not None
    assert fitted.privacy.epsilon <= 2.0
    assert fitted.privacy.epsilon == pytest.approx(
        2.0, rel=1e-6
    )  # AIM's last round takes what is left
    assert fitted.privacy.delta <= sum(s.delta for s in plan) * (1 + 1e-9)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    epsilon=st.floats(0.05, 20.0),
    n=st.integers(60, 400),
    n_cat=st.integers(1, 3),
    n_num=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_epsilon_never_exceeds_the_target(
    epsilon: float, n: int, n_cat: int, n_num: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    cols = {f"c{i}": pa.array([f"v{x}" for x in rng.integers(0, 4, n)]) for i in range(n_cat)}
    cols |= {f"x{i}": pa.array(rng.normal(size=n)) for i in range(n_num)}
    table = pa.table(cols)
    schema = infer_schema(table)
    gen = AIM(epsilon=epsilon, iters=5, final_iters=5)
    plan = gen.plan(schema, n)
    assert sum(s.epsilon for s in plan) <= epsilon * (1 + 1e-12)
    report = gen.fit(table, schema, rng=rng)
    assert report.epsilon is not None and report.epsilon <= epsilon
    assert report.delta is not None and report.delta <= gen.resolved_delta(n)  # type: ignore[operator]
    assert report.details["rho"] <= report.details["rho_target"] * (1 + 1e-12)


def test_samples_have_the_schema_types_and_domains(
    fitted: AIM, mixed: tuple[pa.Table, TableSchema]
) -> None:
    _, schema = mixed
    out = fitted.sample_table(2000, seed=3)
    assert out.schema == schema.arrow_schema()
    assert out.column("id").to_pylist() == list(range(1, 2001))
    assert set(out.column("group").to_pylist()) <= {"g0", "g1", "g2", OTHER}
    counts = np.asarray(out.column("count").to_numpy())
    assert counts.min() >= 0 and counts.max() <= 19
    amount = out.column("amount")
    assert 0 < amount.null_count < 2000 * 0.25  # nulls modelled (10% in the source)
    when = out.column("when").cast(pa.int64()).to_numpy()
    # DP bounds are loose (powers of two), the DP histogram puts the mass back in 2024.
    lo, hi = (int(dt.datetime(y, 1, 1).timestamp() * 1e6) for y in (2023, 2026))
    assert lo < np.quantile(when, 0.02) and np.quantile(when, 0.98) < hi
    # Values seen once are never released by DP selection: they come back as "other".
    assert not {"r0", "r1", "r2"} & set(out.column("rare").to_pylist())


def test_dependence_between_columns_is_kept(fitted: AIM) -> None:
    out = fitted.sample_table(3000, seed=4).to_pandas()
    by_group = out.dropna().groupby("group")["amount"].mean()
    assert by_group["g0"] < 30 < by_group["g1"]


def test_save_and_load_give_identical_samples(fitted: AIM, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "weights.safetensors"]
    again = load_generator(tmp_path)
    assert isinstance(again, AIM)
    assert again.sample_table(1500, seed=9).equals(fitted.sample_table(1500, seed=9))
    assert again.privacy == fitted.privacy


def test_seeds_reproduce(fitted: AIM, mixed: tuple[pa.Table, TableSchema]) -> None:
    a = fitted.sample_table(500, seed=5)
    assert a.equals(fitted.sample_table(500, seed=5))
    assert not a.equals(fitted.sample_table(500, seed=6))
    table, schema = mixed
    other = AIM(epsilon=2.0, **FAST)
    other.fit(table, schema, rng=np.random.default_rng(1))
    assert other.sample_table(500, seed=5).equals(a)


def test_memory_cap_refuses_in_plan_before_any_data() -> None:
    wide = TableSchema(
        tuple(ColumnSchema(f"c{i}", ColumnKind.CATEGORICAL, "string") for i in range(40))
    )
    gen = AIM(epsilon=1.0, memory_cap_mb=64, max_categories=1000)
    with pytest.raises(ResourceLimit, match="memory cap"):
        gen.plan(wide, 1_000_000)  # no table exists: the refusal uses public facts only
    tight = AIM(epsilon=1.0, max_model_size_mb=0.0001)
    with pytest.raises(ResourceLimit, match="one-way marginals"):
        tight.plan(wide, 100)


def test_fit_refuses_before_spending(mixed: tuple[pa.Table, TableSchema]) -> None:
    table, schema = mixed
    events: list[Progress] = []
    gen = AIM(epsilon=1.0, memory_cap_mb=0.01)
    with pytest.raises(ResourceLimit):
        gen.fit(table, schema, rng=np.random.default_rng(0), progress=events.append)
    assert events == [] and gen.privacy is None


def test_progress_streams_rounds_and_epsilon_and_can_cancel(
    mixed: tuple[pa.Table, TableSchema],
) -> None:
    table, schema = mixed
    events: list[Progress] = []
    AIM(epsilon=1.0, **FAST).fit(
        table, schema, rng=np.random.default_rng(0), progress=events.append
    )
    rounds = [e for e in events if e.phase == "rounds"]
    assert rounds and all("round" in e.metrics for e in rounds)
    spent = [e.epsilon_spent for e in events]
    assert spent == sorted(spent) and spent[-1] == pytest.approx(1.0, rel=1e-6)
    assert all(0.0 <= e.fraction <= 1.0 for e in events)

    def cancel(e: Progress) -> None:
        if e.phase == "rounds":
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        AIM(epsilon=1.0, **FAST).fit(table, schema, rng=np.random.default_rng(0), progress=cancel)


def _pair_tvd(real: pa.Table, synth: pa.Table, cols: list[str]) -> float:
    """Mean total-variation distance of the two-way tables of `cols` (lower is better)."""
    r, s = (t.select(cols).to_pandas().astype("string").fillna("<null>") for t in (real, synth))
    out = []
    for a, b in itertools.combinations(cols, 2):
        pr = r.groupby([a, b]).size() / len(r)
        ps = s.groupby([a, b]).size() / len(s)
        pr, ps = pr.align(ps, join="outer", fill_value=0.0)
        out.append(0.5 * float(np.abs(pr - ps).sum()))
    return float(np.mean(out))


def test_beats_independent_marginals_on_adult_pairs(
    adult: pa.Table, adult_schema: TableSchema
) -> None:
    table = adult.slice(0, 8000)
    gen = AIM(epsilon=1.0, **FAST)
    gen.fit(table, adult_schema, rng=np.random.default_rng(0))
    synth = gen.sample_table(8000, seed=1)
    # Independent marginals with the same one-way fit: shuffle each column on its own.
    rng = np.random.default_rng(2)
    independent = pa.table(
        {c: synth.column(c).take(rng.permutation(8000)) for c in synth.column_names}
    )
    cols = ["marital_status", "relationship", "sex", "education", "occupation", "income"]
    ours, indep = _pair_tvd(table, synth, cols), _pair_tvd(table, independent, cols)
    assert ours < 0.75 * indep, (ours, indep)


@pytest.mark.parametrize("at", ["lower", "upper"])
def test_a_point_mass_on_a_float_bound_stays_a_point_mass(at: str) -> None:
    """Zero-inflated amounts (rain = 0 on most hours) come back as exact zeros, not a smear."""
    rng = np.random.default_rng(7)
    n = 5000
    spread = rng.uniform(0.0, 12.5, n)
    bound = 0.0 if at == "lower" else 12.5
    rain = np.where(rng.random(n) < 0.7, bound, spread)
    table = pa.table({"rain": pa.array(rain), "hour": pa.array(rng.integers(0, 24, n))})
    schema = infer_schema(table)
    schema = schema.with_column(replace(schema["rain"], lower=0.0, upper=12.5))
    schema = schema.with_column(replace(schema["hour"], lower=0, upper=23))
    gen = AIM(epsilon=1.0, **FAST)
    gen.fit(table, schema, rng=np.random.default_rng(8))
    out = gen.sample_table(n, seed=9).column("rain").to_numpy()
    share = float(np.mean(out == bound))
    assert abs(share - 0.7) < 0.05
    assert float(np.mean((out > 0.0) & (out < 12.5))) > 0.2
