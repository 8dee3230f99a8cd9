"""A one-run canary audit per privacy unit: each canary is a person with k rows.

The same audit as tests/audit/test_canary_audit.py (Steinke, Nasr &
Jagielski 2023), but each canary i is a *unit*: k rows sharing one person
id, all carrying token i, the unit in the table with probability 1/2.

- Declared as units (`privacy_unit`, max_rows = k): the generator bounds each
  person to k rows and scales its noise by k, so the bound stays within the
  claimed ε — which is now per person.
- Control, the same table with no unit declared: the generator protects rows
  only, a person's k rows add up (group privacy, about kε), and the audit
  must see it: its bound passes the claimed ε. Without this control "within
  ε" would prove nothing.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from generators import create_generator
from synth.base.schema import ColumnKind, ColumnSchema, PrivacyUnit, TableSchema
from tests.audit.canary import (
    CARRIERS_DP_MARGINALS,
    audit,
    canary_tokens,
    load_adult,
    one_thread,
    public_schema,
    scores_from_generator,
)

pytestmark = pytest.mark.slow

EPSILON, DELTA = 1.0, 1e-6
M, ROWS_PER_UNIT, BASE_ROWS = 10_000, 6, 5_000
K_POS = M // 50  # guess "in" for the top 2 %, as the row-level audit at ε = 1 does


def unit_canary_table(seed: int = 0) -> tuple[pa.Table, TableSchema, np.ndarray, tuple[str, ...]]:
    """(table, schema without a unit, included S_i, tokens): canary i is person c-i with k rows."""
    rng = np.random.default_rng(seed)
    base = load_adult(CARRIERS_DP_MARGINALS, BASE_ROWS)
    tokens = canary_tokens(M)
    schema = public_schema(base, CARRIERS_DP_MARGINALS, tokens)
    included = rng.random(M) < 0.5
    members = np.flatnonzero(included)
    token_col = pa.array(np.repeat(np.array(tokens, dtype=object)[members], ROWS_PER_UNIT).tolist(), pa.string())
    canaries = pa.table(
        {
            **{name: token_col for name in CARRIERS_DP_MARGINALS},
            "person": pa.array(np.repeat([f"c-{i}" for i in members], ROWS_PER_UNIT).tolist(), pa.string()),
        }
    )
    base = base.append_column("person", pa.array([f"b-{i}" for i in range(BASE_ROWS)], pa.string()))
    rows = pa.concat_tables([base, canaries.cast(base.schema)])
    table = rows.take(pa.array(rng.permutation(rows.num_rows)))
    person = ColumnSchema("person", ColumnKind.ID, "string", nullable=False)
    schema = replace(schema, columns=(*schema.columns, person))
    return table, schema, included, tokens


def _audit(declare_units: bool) -> float:
    table, schema, included, tokens = unit_canary_table()
    if declare_units:
        schema = replace(schema, privacy_unit=PrivacyUnit("person", ROWS_PER_UNIT))
    gen = create_generator("dp_marginals", epsilon=EPSILON, delta=DELTA)
    n_units = BASE_ROWS + int(included.sum())
    with one_thread():
        # The public size: the number of units (a DP count in the service; the exact one
        # here, fixed before the coin flips matter to the guesses).
        gen.fit(table, schema, size=n_units if declare_units else table.num_rows,
                rng=np.random.default_rng([7, 1]))
    canaries = SimpleNamespace(m=M, tokens=tokens, carriers=CARRIERS_DP_MARGINALS)
    scores = scores_from_generator(gen, canaries, 1_000_000, seed=9)  # type: ignore[arg-type]
    return audit(scores, included, k_pos=K_POS, k_neg=0, delta=DELTA, seed=11).epsilon_lower


def test_units_declared_keep_the_audit_within_the_claimed_epsilon_per_person() -> None:
    assert _audit(declare_units=True) <= EPSILON


def test_the_same_people_as_rows_are_caught_above_the_claim() -> None:
    """Power control: without the unit, k rows of one person add up past the claimed ε."""
    assert _audit(declare_units=False) > EPSILON + 0.5
