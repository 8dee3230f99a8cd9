"""The `generator="auto"` rule: each row of the table, and only public facts."""

from __future__ import annotations

import pytest

from generators.auto import (
    DPCTGAN_BATCH,
    DPCTGAN_CPU_SECONDS,
    DPCTGAN_EPOCHS,
    DPCTGAN_GPU_MEASURED_COLUMNS,
    DPCTGAN_GPU_SECONDS_PER_STEP,
    MAX_AIM_COLUMNS,
    MIN_ROWS_EPSILON_PER_COLUMN,
    RULES,
    TRAINING_SECONDS_BUDGET,
    Facts,
    choose_generator,
)
from generators.registry import available_generators
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema


def schema(n_cat: int, n_num: int, *, categories: int | None = 5) -> TableSchema:
    cats = tuple(f"v{i}" for i in range(categories)) if categories else None
    cols = [ColumnSchema(f"c{i}", ColumnKind.CATEGORICAL, "string", categories=cats) for i in range(n_cat)]
    cols += [ColumnSchema(f"x{i}", ColumnKind.NUMERICAL, "double", lower=0, upper=1) for i in range(n_num)]
    return TableSchema(tuple(cols))


ADULT_LIKE = schema(9, 6)


WIDE = schema(2, 120)


@pytest.mark.parametrize(
    ("s", "rows", "eps", "gpu", "expected"),
    [
        (ADULT_LIKE, 32_561, 1.0, False, "aim"),  # measured: aim wins at ε = 1, 3 and 10
        (ADULT_LIKE, 32_561, 10.0, True, "aim"),  # a GPU does not change that
        (ADULT_LIKE, 2_000, 1.0, False, "aim"),  # nor does a small table
        (schema(1, 12), 500_000, 10.0, True, "aim"),  # nor mostly continuous columns at large ε
        (ADULT_LIKE, 32_561, None, False, "dpctgan"),  # no DP asked for
        (WIDE, 300_000, 1.0, True, "dpctgan"),  # too wide for aim, GPU present
        (WIDE, 30_000, 10.0, False, "dpctgan"),  # too wide; trains on the CPU within the hour
        (WIDE, 1_000_000, 1.0, False, "dp_marginals"),  # too wide; hours on the CPU
        (WIDE, 50_000, 1.0, True, "dp_marginals"),  # rows × ε per column too small for DP-SGD
    ],
)
def test_rule_cases(s: TableSchema, rows: int, eps: float | None, gpu: bool, expected: str) -> None:
    kind, reason = choose_generator(s, rows, eps, gpu_available=gpu)
    assert kind == expected
    assert reason


def test_refused_by_aims_memory_cap_goes_elsewhere() -> None:
    huge = schema(60, 0, categories=None)  # undeclared categoricals: up to max_categories each
    assert MAX_AIM_COLUMNS >= 60
    kind, reason = choose_generator(huge, 4_000_000, 1.0, gpu_available=False)
    assert kind == "dp_marginals" and "memory" in reason  # hours of DP-SGD on the CPU
    assert choose_generator(huge, 4_000_000, 1.0, gpu_available=True)[0] == "dpctgan"  # ~51 min


def test_the_thresholds_are_where_the_rule_says() -> None:
    def fallback(rows: int, eps: float, gpu: bool, columns: int = 150) -> str:
        f = Facts(columns=columns, rows=rows, epsilon=eps, aim_fits=True, gpu=gpu)
        return next(r.pick(f) for r in RULES if r.when(f))

    edge = MIN_ROWS_EPSILON_PER_COLUMN * 150
    assert fallback(edge, 1.0, True) == "dpctgan"
    assert fallback(edge - 1, 1.0, True) == "dp_marginals"
    assert fallback(edge // 10, 10.0, True) == "dpctgan"  # rows × ε, not rows alone
    assert fallback(edge, 1.0, True, columns=300) == "dp_marginals"  # per column
    cpu_rows = int(TRAINING_SECONDS_BUDGET / (DPCTGAN_CPU_SECONDS * 150 * DPCTGAN_EPOCHS)) - 1
    assert fallback(cpu_rows, 20.0, False) == "dpctgan"
    assert fallback(cpu_rows * 2, 20.0, False) == "dp_marginals"
    assert fallback(cpu_rows * 2, 20.0, True) == "dpctgan"
    # a GPU's cost is per step of DPCTGAN_BATCH rows, whatever the width
    gpu_steps = int(TRAINING_SECONDS_BUDGET / DPCTGAN_GPU_SECONDS_PER_STEP) // DPCTGAN_EPOCHS
    gpu_rows = gpu_steps * DPCTGAN_BATCH
    assert fallback(gpu_rows, 1.0, True) == "dpctgan"
    assert fallback(gpu_rows + DPCTGAN_BATCH, 1.0, True) == "dp_marginals"
    assert fallback(gpu_rows, 1.0, True, columns=DPCTGAN_GPU_MEASURED_COLUMNS) == "dpctgan"
    # past the widest table measured on a GPU, the CPU's cost is the estimate
    wider = DPCTGAN_GPU_MEASURED_COLUMNS + 1
    assert fallback(gpu_rows, 1.0, True, columns=wider) == "dp_marginals"
    wide_rows = int(TRAINING_SECONDS_BUDGET / (DPCTGAN_CPU_SECONDS * wider * DPCTGAN_EPOCHS))
    assert fallback(wide_rows, 200.0, True, columns=wider) == "dpctgan"  # ε large enough for the rows


def test_every_choice_is_a_registered_generator() -> None:
    assert {"aim", "dpctgan", "dp_marginals"} <= set(available_generators())
    odd = Facts(columns=1, rows=1, epsilon=0.01, aim_fits=True, gpu=True)
    assert RULES[-1].when(odd) and RULES[-1].pick(odd) == "aim"
