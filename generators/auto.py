"""`generator="auto"`: pick aim, dpctgan or dp_marginals from public facts about the job.

The rule is a small table, read top to bottom; the first row whose condition
holds decides. It looks only at what the service knows before reading data:
the schema, the row count, the ε asked for and whether a GPU is present.
Every threshold comes from `bench/bench_auto.py` and `bench/bench_aim.py`
(docs/bench/aim.md, "The generator="auto" rule"):

- aim won every measured case, on quality and pair trends, at ε from 1 to
  10: adult (32k × 15), a 2k-row sample of it, Metro traffic (48k × 9,
  mostly continuous) and adult widened to 60 columns. It is the default.
- aim needs ε (it has no non-private mode) and a model that fits the memory
  cap, and its time grows with the width (candidates are all pairs).
  Past those limits the choice is between DP-SGD and independent marginals:
- DP-CTGAN beat independent marginals where rows × ε per column was large
  (adult: 2,171 and 21,707; Metro: 5,356 and 53,560) and lost where it was
  small (2,000 rows of adult: 133 and 1,333; adult widened to 60 columns:
  543): DP-SGD's noise per step shrinks with rows and ε, and a wider table
  needs a bigger network to learn from the same noisy gradients.
- DP-CTGAN costs 2–4e-5 CPU-seconds per row × column × epoch on two cores.
  On a GPU (an H200) a DP step is bound by kernel launches, not by the
  width: 14–19 ms per step of 500 rows from 15 to 480 columns (wider
  tables are estimated at the CPU's cost, which bounds it). Either way it is used only while its
  estimated training stays under an hour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from synth.base.errors import ResourceLimit
from synth.base.schema import TableSchema

#: Wider tables than this go to a generator whose cost is linear in the columns.
MAX_AIM_COLUMNS = 100
#: Below this rows × ε per modelled column, independent marginals beat DP-CTGAN
#: (measured: lost at 1,333, won at 2,171).
MIN_ROWS_EPSILON_PER_COLUMN = 2_000
#: DP-CTGAN's CPU cost per row × column × epoch, the slower of bench_auto's two
#: measurements (adult: 191 s for 32,561 × 15 × 20 = 2.0e-5; Metro: 354 s for
#: 48,204 × 9 × 20 = 4.1e-5; two shared cores).
DPCTGAN_CPU_SECONDS = 4e-5
#: DP-CTGAN's seconds per DP step (batch 500) on a GPU: above the slowest measured
#: on an H200 (adult and adult widened to 30, 60, 120, 240 and 480 columns:
#: 0.88–1.24 s per 65-step epoch, with no trend in the width; docs/bench/dpctgan.md, run 3).
DPCTGAN_GPU_SECONDS_PER_STEP = 0.02
#: The widest table that GPU figure was measured on; wider ones are estimated at
#: the CPU's cost (an upper bound: the GPU was 2.2× faster than 16 CPU threads).
DPCTGAN_GPU_MEASURED_COLUMNS = 480
DPCTGAN_BATCH = 500
DPCTGAN_EPOCHS = 20
#: The longest DP-CTGAN training the rule starts.
TRAINING_SECONDS_BUDGET = 3600.0


@dataclass(frozen=True)
class Facts:
    """What the rule looks at: public facts only."""

    columns: int
    rows: int
    epsilon: float | None
    aim_fits: bool
    gpu: bool

    @property
    def dpctgan_seconds(self) -> float:
        """Estimated DP-CTGAN training time on the device the job would get."""
        if self.gpu and self.columns <= DPCTGAN_GPU_MEASURED_COLUMNS:
            steps = -(-self.rows // DPCTGAN_BATCH) * DPCTGAN_EPOCHS
            return DPCTGAN_GPU_SECONDS_PER_STEP * steps
        return DPCTGAN_CPU_SECONDS * self.rows * self.columns * DPCTGAN_EPOCHS


@dataclass(frozen=True)
class Rule:
    when: Callable[[Facts], bool]
    pick: Callable[[Facts], str]
    reason: str


def _without_aim(f: Facts) -> str:
    """aim cannot run: DP-CTGAN where it beats independent marginals and can train in time."""
    assert f.epsilon is not None
    if f.rows * f.epsilon / max(f.columns, 1) < MIN_ROWS_EPSILON_PER_COLUMN:
        return "dp_marginals"
    if f.dpctgan_seconds <= TRAINING_SECONDS_BUDGET:
        return "dpctgan"
    return "dp_marginals"


RULES: tuple[Rule, ...] = (
    Rule(
        lambda f: f.epsilon is None,
        lambda f: "dpctgan",
        "no ε asked for: only dpctgan trains without differential privacy",
    ),
    Rule(
        lambda f: not f.aim_fits,
        _without_aim,
        "aim's model for this domain would not fit the memory cap; dpctgan where rows × ε "
        "per column is large enough and it trains within the hour (on the GPU when there is one), "
        "else independent DP marginals",
    ),
    Rule(
        lambda f: f.columns > MAX_AIM_COLUMNS,
        _without_aim,
        f"more than {MAX_AIM_COLUMNS} modelled columns: aim's time grows with the columns "
        "squared; dpctgan where rows × ε per column is large enough and it trains in time, "
        "else independent DP marginals",
    ),
    Rule(
        lambda f: True,
        lambda f: "aim",
        "aim gave the best fidelity and downstream accuracy in every measured case",
    ),
)


def facts(schema: TableSchema, n_rows: int, epsilon: float | None, *, gpu_available: bool) -> Facts:
    modelled = schema.modelled()
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
