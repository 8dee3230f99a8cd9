"""Privacy units: contributions bounded before any statistic, the noise scaled by k,
and the size every plan uses measured with DP (issue 11, item 6)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from generators import create_generator
from generators.privacy import ZCDPBudget, cdp_rho
from generators.privacy.mechanisms import dp_select_categories
from generators.privacy.units import (
    bound_contributions,
    measure_size,
    rows_per_unit,
    size_epsilon,
    unit_ids,
)
from synth.base.errors import InvalidSchema, PrivacyError
from synth.base.schema import ColumnKind, ColumnSchema, PrivacyUnit, TableSchema


def _schema(max_rows: int | str | None = 2) -> TableSchema:
    cols = (
        ColumnSchema("person", ColumnKind.ID, "string", nullable=True),
        ColumnSchema("colour", ColumnKind.CATEGORICAL, "string", nullable=False),
        ColumnSchema("amount", ColumnKind.NUMERICAL, "int64", nullable=False, lower=0, upper=100),
    )
    unit = None if max_rows is None else PrivacyUnit("person", max_rows)  # type: ignore[arg-type]
    return TableSchema(columns=cols, privacy_unit=unit)


def _table(rows_per_person: list[int], *, nulls: int = 0) -> pa.Table:
    people = [f"p{i}" for i, k in enumerate(rows_per_person) for _ in range(k)] + [None] * nulls
    n = len(people)
    rng = np.random.default_rng(0)
    return pa.table(
        {
            "person": pa.array(people, pa.string()),
            "colour": pa.array(rng.choice(["red", "green", "blue"], n).tolist(), pa.string()),
            "amount": pa.array(rng.integers(0, 100, n), pa.int64()),
        }
    )


def test_each_unit_keeps_at_most_k_rows_chosen_at_random() -> None:
    table = _table([1, 5, 2, 9], nulls=3)
    bounded = bound_contributions(table, _schema(2), np.random.default_rng(1))
    per_unit = rows_per_unit(bounded, _schema(2))
    assert per_unit.max() == 2
    # Units at or under k keep every row; each null is a unit of its own row.
    assert bounded.num_rows == 1 + 2 + 2 + 2 + 3
    kept = bounded.column("person").to_pylist()
    assert kept.count(None) == 3 and kept.count("p0") == 1


def test_which_rows_a_unit_keeps_depends_on_the_stream() -> None:
    table = _table([50])
    picks = {
        tuple(bound_contributions(table, _schema(3), np.random.default_rng(s)).column("amount").to_pylist())
        for s in range(5)
    }
    assert len(picks) > 1


def test_without_a_unit_column_nothing_is_dropped() -> None:
    table = _table([3, 3])
    assert bound_contributions(table, _schema(None), np.random.default_rng(0)) is table
    assert rows_per_unit(table, _schema(None)).tolist() == [1] * 6


def test_unit_ids_give_nulls_units_of_their_own() -> None:
    ids = unit_ids(_table([2], nulls=2), "person")
    assert ids[0] == ids[1] and len(set(ids.tolist())) == 3


def test_the_zcdp_budget_runs_rows_at_rho_over_k_squared_and_reports_per_unit() -> None:
    one = ZCDPBudget(1.0, 1e-6)
    four = ZCDPBudget(1.0, 1e-6, max_rows=4)
    assert four.rho_total == pytest.approx(one.rho_total / 16)
    four.spend("all", four.rho_total)
    eps, _ = four.spent()
    assert eps == pytest.approx(1.0, rel=1e-6) and eps <= 1.0


def test_category_selection_moves_its_threshold_up_by_k_minus_one() -> None:
    rho, delta = 2.0, 1e-6  # little noise: a value of count k passes unless τ moved
    counts = np.array([5.0])
    passed_rows = [dp_select_categories(["a"], counts, rho, delta, np.random.default_rng(s)).values
                   for s in range(50)]
    passed_units = [
        dp_select_categories(["a"], counts, rho, delta, np.random.default_rng(s), max_rows=5).values
        for s in range(50)
    ]
    assert sum(map(len, passed_rows)) > 40  # five rows of one value pass a per-row threshold
    assert sum(map(len, passed_units)) == 0  # ... not one held by a single unit of five rows


@pytest.mark.parametrize("kind", ["dp_marginals", "aim"])
def test_marginal_generators_claim_the_same_epsilon_with_k_times_the_noise(kind: str) -> None:
    table = _table([3] * 400)
    rows = {}
    for k in (1, 3):
        gen = create_generator(kind, epsilon=1.0, delta=1e-6)
        schema = _schema(k)
        spends = gen.plan(schema, 400)
        report = gen.fit(table, schema, size=400, rng=np.random.default_rng(0))
        assert sum(s.epsilon for s in spends) == pytest.approx(1.0, rel=1e-6)
        assert report.epsilon is not None and report.epsilon <= 1.0 * (1 + 1e-9)
        rows[k] = report.details.get("rho_total", report.details.get("rho_target"))
    assert rows[3] == pytest.approx(rows[1] / 9)


def test_dpctgan_refuses_units_of_more_than_one_row_before_any_charge() -> None:
    gen = create_generator("dpctgan", epsilon=1.0, delta=1e-6)
    with pytest.raises(PrivacyError, match="one row"):
        gen.plan(_schema(2), 1000)
    assert gen.plan(_schema(1), 1000)


def test_an_auto_bound_must_be_measured_before_planning() -> None:
    gen = create_generator("dp_marginals", epsilon=1.0, delta=1e-6)
    with pytest.raises(InvalidSchema, match="auto"):
        gen.plan(_schema("auto"), 1000)


def test_the_fit_uses_the_public_size_never_the_tables_count() -> None:
    table = _table([1] * 300)
    gen = create_generator("dp_marginals", epsilon=1.0)
    gen.fit(table, _schema(1), size=12_345, rng=np.random.default_rng(0))
    assert gen.n_train_rows == 12_345
    assert gen.delta is None and gen.resolved_delta(12_345) == pytest.approx(8e-6)


def test_aims_total_comes_from_its_noisy_marginals() -> None:
    table = _table([1] * 500)
    gen = create_generator("aim", epsilon=1.0, delta=1e-6)
    gen.fit(table, _schema(1), size=500, rng=np.random.default_rng(0))
    assert gen.model is not None
    assert gen.model.total != 500.0 and abs(gen.model.total - 500) < 100


def test_the_size_is_a_noisy_count_of_units_at_the_charged_epsilon() -> None:
    table = _table([2] * 1000)
    schema = _schema(2)
    got = [measure_size(table, schema, 0.5, np.random.default_rng(s)).units for s in range(40)]
    assert all(abs(u - 1000) < 40 for u in got)
    assert len(set(got)) > 5  # noisy: not the exact count every time
    assert measure_size(table, schema, 0.5, np.random.default_rng(0)).epsilon == size_epsilon(schema, 0.5)
    assert size_epsilon(schema, 0.3) <= 0.3 and size_epsilon(schema, 0.3) == pytest.approx(1 / 4)


def test_an_auto_bound_covers_most_units_and_costs_no_more_than_asked() -> None:
    table = _table([1] * 300 + [2] * 300 + [3] * 300 + [20] * 50)
    schema = _schema("auto")
    got = measure_size(table, schema, 2.0, np.random.default_rng(0))
    assert got.max_rows == 3  # 90 % of units hold 3 rows or fewer
    assert got.epsilon <= 2.0 and got.epsilon == size_epsilon(schema, 2.0)
    assert abs(got.units - 950) < 20


def test_cdp_rho_is_what_the_budget_divides() -> None:
    assert ZCDPBudget(1.0, 1e-6, max_rows=2).rho_total == pytest.approx(cdp_rho(1.0, 1e-6) / 4)


@pytest.mark.parametrize("k", [1, 7, "auto"])
def test_the_privacy_unit_survives_json_and_the_wire(k: int | str) -> None:
    from synth.schema_proto import schema_from_proto, schema_to_proto

    schema = _schema(k)
    assert TableSchema.from_json(schema.to_json()) == schema
    assert schema_from_proto(schema_to_proto(schema)) == schema


@pytest.mark.parametrize(
    ("unit", "match"),
    [
        (PrivacyUnit("nobody", 1), "not a column"),
        (PrivacyUnit("person", 0), "max_rows"),
        (PrivacyUnit("person", 10_001), "max_rows"),
        (PrivacyUnit("person", "many"), "max_rows"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_privacy_unit_is_refused(unit: PrivacyUnit, match: str) -> None:
    with pytest.raises(InvalidSchema, match=match):
        TableSchema(columns=_schema(None).columns, privacy_unit=unit)


def test_the_holdout_split_keeps_each_units_rows_on_one_side() -> None:
    from synth.base.tableio import split_holdout

    table = _table([1, 2, 3, 4, 5] * 40, nulls=10)
    train, hold = split_holdout(table, fraction=0.3, seed=3, unit_column="person")
    seen_train = set(train.column("person").drop_null().to_pylist())
    seen_hold = set(hold.column("person").drop_null().to_pylist())
    assert not seen_train & seen_hold
    assert train.num_rows + hold.num_rows == table.num_rows
    assert abs(len(seen_hold) - 0.3 * 200) <= 10  # a share of units, not of rows
    by_rows, _ = split_holdout(table, fraction=0.3, seed=3)
    assert by_rows.num_rows == table.num_rows - round(0.3 * table.num_rows)
