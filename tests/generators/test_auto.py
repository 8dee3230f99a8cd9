"""The `generator="auto"` rule: each row of the table, and only public facts."""

from __future__ import annotations

import pytest

from generators.auto import MANY_ROWS, MAX_AIM_COLUMNS, RULES, Facts, choose_generator
from generators.registry import available_generators
from synth.schema import ColumnKind, ColumnSchema, TableSchema


def schema(n_cat: int, n_num: int, *, categories: int | None = 5) -> TableSchema:
    cats = tuple(f"v{i}" for i in range(categories)) if categories else None
    cols = [ColumnSchema(f"c{i}", ColumnKind.CATEGORICAL, "string", categories=cats) for i in range(n_cat)]
    cols += [ColumnSchema(f"x{i}", ColumnKind.NUMERICAL, "double", lower=0, upper=1) for i in range(n_num)]
    return TableSchema(tuple(cols))


ADULT_LIKE = schema(9, 6)


@pytest.mark.parametrize(
    ("s", "rows", "eps", "gpu", "expected"),
    [
        (ADULT_LIKE, 32_561, 1.0, False, "aim"),  # the measured case: aim wins at ε = 1 and 3
        (ADULT_LIKE, 32_561, 3.0, True, "aim"),  # a GPU does not change that on a table this size
        (ADULT_LIKE, 32_561, None, False, "dpctgan"),  # no DP asked for
        (schema(2, 120), 10_000, 1.0, True, "dpctgan"),  # too wide for aim, GPU present
        (schema(2, 120), 10_000, 1.0, False, "dp_marginals"),  # too wide, CPU only
        (schema(1, 12), MANY_ROWS, 10.0, True, "dpctgan"),  # big ε, many rows, continuous, GPU
        (schema(1, 12), MANY_ROWS, 10.0, False, "aim"),  # the same without a GPU
        (schema(10, 2), MANY_ROWS, 10.0, True, "aim"),  # mostly categorical: aim
    ],
)
def test_rule_cases(s: TableSchema, rows: int, eps: float | None, gpu: bool, expected: str) -> None:
    kind, reason = choose_generator(s, rows, eps, gpu_available=gpu)
    assert kind == expected
    assert reason


def test_refused_by_aims_memory_cap_goes_elsewhere() -> None:
    huge = schema(60, 0, categories=None)  # undeclared categoricals: up to max_categories each
    assert MAX_AIM_COLUMNS >= 60
    kind, reason = choose_generator(huge, 5_000_000, 1.0, gpu_available=False)
    assert kind == "dp_marginals" and "memory" in reason
    assert choose_generator(huge, 5_000_000, 1.0, gpu_available=True)[0] == "dpctgan"


def test_every_choice_is_a_registered_generator() -> None:
    assert {"aim", "dpctgan", "dp_marginals"} <= set(available_generators())
    odd = Facts(columns=1, rows=1, epsilon=0.01, continuous_share=1.0, aim_fits=True, gpu=True)
    assert RULES[-1].when(odd) and RULES[-1].pick(odd) == "aim"
