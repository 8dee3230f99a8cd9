"""`ColumnSchema.needs_dp_measurement`: the one rule every generator uses to decide what to measure."""

from __future__ import annotations

import pytest

from generators.aim.plan import split_budget as aim_split
from generators.dp_marginals.allocation import allocate
from generators.dpctgan.preprocess import count_measurements, missing_declarations
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema

COLUMNS = (
    ColumnSchema("age", ColumnKind.NUMERICAL, "int64"),
    ColumnSchema("income", ColumnKind.NUMERICAL, "double", lower=0.0, upper=1e6),
    ColumnSchema("seen", ColumnKind.DATETIME, "timestamp[us]"),
    ColumnSchema("day", ColumnKind.DATETIME, "timestamp[us]", lower=0.0, upper=1e9),
    ColumnSchema("city", ColumnKind.CATEGORICAL, "string"),
    ColumnSchema("sex", ColumnKind.CATEGORICAL, "string", categories=("f", "m")),
    ColumnSchema("smoker", ColumnKind.BOOLEAN, "bool"),
    ColumnSchema("user_id", ColumnKind.ID, "int64"),
    ColumnSchema("email", ColumnKind.PII, "string"),
)
EXPECTED = {
    "age": "bounds",
    "income": None,
    "seen": "bounds",
    "day": None,
    "city": "categories",
    "sex": None,
    "smoker": None,
    "user_id": None,
    "email": None,
}
SCHEMA = TableSchema(COLUMNS)


@pytest.mark.parametrize("col", COLUMNS, ids=lambda c: c.name)
def test_what_each_column_needs(col: ColumnSchema) -> None:
    assert col.needs_dp_measurement == EXPECTED[col.name]
    assert bool(col.needs_dp_measurement) is (EXPECTED[col.name] is not None)


def test_dpctgan_asks_the_rule() -> None:
    assert missing_declarations(SCHEMA) == [
        "age (no public bounds)", "seen (no public bounds)", "city (no public categories)"
    ]
    # one histogram per modelled column, one more per DP bounds; one selection per category set
    assert count_measurements(SCHEMA) == (7 + 2, 1)


def test_dp_marginals_asks_the_rule() -> None:
    alloc = allocate(SCHEMA, 1.0, 1e-6, preprocessing_share=0.25, selection_delta_share=0.5)
    bounds = {s.column for s in alloc.steps if s.purpose == "bounds"}
    categories = {s.column for s in alloc.steps if s.purpose == "categories"}
    assert bounds == {"age", "seen"}
    assert categories == {"city"}


def test_aim_asks_the_rule() -> None:
    split = aim_split(SCHEMA, 1.0, 1e-6, preprocessing_share=0.05)
    assert set(split.delta_column) == {"city"}  # only undeclared categories are selected
    # every number gets a histogram; of the rest, only the undeclared category set costs ρ
    assert set(split.rho_column) == {"age", "income", "seen", "day", "city"}
