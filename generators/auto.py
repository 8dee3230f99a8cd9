"""`generator="auto"`: pick aim, dpctgan or dp_marginals from public facts about the job.

The rule is a small table, read top to bottom; the first row whose condition
holds decides. It looks only at what the service knows before reading data:
the schema, the row count, the ε asked for and whether a GPU is present.
Why these rows (measured on adult.csv, docs/bench/aim.md; and the published
DP-synthesis benchmarks, e.g. Tao et al. 2021, McKenna et al. 2022):

- At every ε we measured, AIM beats DP-CTGAN and independent marginals on
  fidelity and on train-on-synthetic accuracy, and it is fast on a CPU: it
  is the default.
- AIM needs ε (it has no non-private mode) and a discretised domain whose
  model fits the memory cap; its rounds grow with the number of columns
  (16·d rounds over d² candidate pairs). Past those limits DP-CTGAN takes
  over when a GPU can train it in reasonable time, else independent DP
  marginals, which are linear in the columns and never refuse.
- With a large budget, many rows and mostly continuous columns, DP-SGD's
  noise is small and binning is AIM's main loss of detail: DP-CTGAN, if a
  GPU is present.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synth.errors import ResourceLimit
from synth.schema import ColumnKind, TableSchema

#: Wider tables than this go to a generator whose cost is linear in the columns.
MAX_AIM_COLUMNS = 100
#: "Large budget, many rows, mostly continuous" (the last row of the rule).
LARGE_EPSILON = 8.0
MANY_ROWS = 200_000
CONTINUOUS_SHARE = 0.5


@dataclass(frozen=True)
class Facts:
    """What the rule looks at: public facts only."""

    columns: int
    rows: int
    epsilon: float | None
    continuous_share: float
    aim_fits: bool
    gpu: bool


@dataclass(frozen=True)
class Rule:
    when: Callable[[Facts], bool]
    pick: Callable[[Facts], str]
    reason: str


def _gpu_or_marginals(f: Facts) -> str:
    return "dpctgan" if f.gpu else "dp_marginals"


RULES: tuple[Rule, ...] = (
    Rule(
        lambda f: f.epsilon is None,
        lambda f: "dpctgan",
        "no ε asked for: only dpctgan trains without differential privacy",
    ),
    Rule(
        lambda f: not f.aim_fits,
        _gpu_or_marginals,
        "aim's model for this domain would not fit the memory cap",
    ),
    Rule(
        lambda f: f.columns > MAX_AIM_COLUMNS,
        _gpu_or_marginals,
        f"more than {MAX_AIM_COLUMNS} modelled columns: aim's rounds grow with the columns squared",
    ),
    Rule(
        lambda f: f.gpu
        and f.epsilon is not None
        and f.epsilon >= LARGE_EPSILON
        and f.rows >= MANY_ROWS
        and f.continuous_share >= CONTINUOUS_SHARE,
        lambda f: "dpctgan",
        "large ε, many rows, mostly continuous columns and a GPU: DP-SGD noise is small "
        "and dpctgan keeps the detail that binning loses",
    ),
    Rule(
        lambda f: True,
        lambda f: "aim",
        "aim gives the best fidelity and downstream accuracy at this ε on a table of this shape",
    ),
)


def facts(schema: TableSchema, n_rows: int, epsilon: float | None, *, gpu_available: bool) -> Facts:
    modelled = schema.modelled()
    continuous = sum(c.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME) for c in modelled)
    aim_fits = True
    if epsilon is not None:
        from generators.aim import AIM

        try:
            AIM(epsilon=epsilon).plan(schema, n_rows)
        except ResourceLimit:
            aim_fits = False
    return Facts(
        columns=len(modelled),
        rows=n_rows,
        epsilon=epsilon,
        continuous_share=continuous / max(len(modelled), 1),
        aim_fits=aim_fits,
        gpu=gpu_available,
    )


def choose_generator(
    schema: TableSchema, n_rows: int, epsilon: float | None, *, gpu_available: bool
) -> tuple[str, str]:
    """(generator kind, one-line reason) for `generator="auto"`."""
    f = facts(schema, n_rows, epsilon, gpu_available=gpu_available)
    for rule in RULES:
        if rule.when(f):
            return rule.pick(f), rule.reason
    raise AssertionError("the last rule always matches")
