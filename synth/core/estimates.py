"""How much memory and time a job will take, from public facts, before it is admitted.

Every job kind has a formula here: training per generator (from the schema,
the row count and the hyper-parameters), generation (rows, columns and the
model's size on disk) and evaluation (rows of the three tables, columns).
A job whose estimate passes `ServiceConfig.max_job_memory_mb` or
`max_job_seconds` is refused with RESOURCE_EXHAUSTED before anything is
charged (`check`), naming the estimate, the limit and what to lower; a
process-isolated job runs under a memory cap derived from its estimate
(`memory_cap_mb`).

The formulas are deliberately simple (a sum of the large arrays a job holds,
and seconds linear in the work). Their constants were set against
`bench/bench_estimates.py` on the project's 2-core box (docs/design.md, "Job
limits and isolation", has the measured table): memory estimates sit above
every measured peak, seconds within a few times of the measurement (a loaded
machine doubles them). They bound what a request can ask, they do not
predict it to the second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from synth.base.errors import ResourceLimit
from synth.base.schema import ColumnKind, TableSchema
from synth.core.config import ServiceConfig

MIB = 2**20

#: Resident memory of a job process before its work: Python, numpy, pyarrow, polars
#: and the service's modules (measured 150-220 MiB with a small fit included).
BASE_MB = 250.0
#: What importing torch (and Opacus) adds (measured ~300 MiB on the CPU build).
TORCH_MB = 400.0
#: A categorical column without a declared category list is taken to have this
#: many categories (DP selection keeps only categories held by many rows);
#: declaring the categories makes the estimate exact in this respect.
UNDECLARED_CATEGORIES = 32

# --- seconds, per unit of work (the slower of the measured runs, 2 shared cores) --------

#: dp_marginals: seconds per row × column of the fit (adult, 32,561 × 15: 1.9 s).
DP_MARGINALS_SECONDS = 5e-6
#: aim: seconds per row × column (the discretisation) plus per column² (the rounds
#: select among all pairs); adult at ε = 1: 10 s, at ε = 3: 60-150 s (docs/bench/aim.md).
AIM_SECONDS_PER_CELL = 2e-5
AIM_SECONDS_PER_PAIR = 1.5
#: DP-CTGAN: seconds per row × column × epoch on the CPU (generators.auto's figure,
#: 2.0-4.1e-5 measured), scaled by the network's size relative to the default, plus
#: the set-up (DP layout measurements, noise calibration, torch's first calls).
DPCTGAN_CPU_SECONDS = 4e-5
DPCTGAN_SETUP_SECONDS = 30.0
#: DP-CTGAN trains the discriminator with Opacus' ghost clipping: no per-example
#: gradient is materialised, so memory grows with the batch × the layers' widths
#: (activations and backprops of both networks, the ghost norms, dropout masks, the
#: conditional vectors): this many float32 values per example per unit of width
#: (set against batch 2,000 with a 1,024 × 1,024 discriminator: 957 MiB measured).
DPCTGAN_FLOATS_PER_WIDTH = 24
#: Sampling: seconds per generated row × column (dp_marginals: 1M × 15 in 7.8 s,
#: written to Parquet; dpctgan runs its generator network: ~10× that).
SAMPLE_SECONDS = 5e-7
SAMPLE_SECONDS_NETWORK = 5e-6
#: Evaluation: seconds per row × column over the three tables, plus a fixed part
#: (adult, 73k rows × 15 columns: 75 s; 6.75k rows: 24 s, on the loaded 2-core box).
EVALUATE_SECONDS = 7e-5
EVALUATE_SETUP_SECONDS = 20.0
#: Evaluation memory per row × column over the three tables (one-hot encodings,
#: distance blocks and the attack's copies; 1M × 15 synthetic rows took 23 GB).
EVALUATE_BYTES_PER_CELL = 1_500
#: What the evaluators' imports and models add to the process (6.75k rows × 15: 584 MiB).
EVALUATE_BASE_MB = 350.0
#: Rows a generation holds at once (synth.core.generation.BATCH_ROWS) and bytes per cell
#: of a batch (the modelled arrays, their Arrow copy and the Parquet writer's buffer).
GENERATE_BATCH_ROWS = 100_000
GENERATE_BYTES_PER_CELL = 200


@dataclass(frozen=True)
class Estimate:
    """A job's expected peak memory and run time, and how they were reached."""

    memory_mb: float
    seconds: float
    #: The formula in words, for the plan and the refusal.
    basis: str
    #: What the caller can lower to shrink it.
    lower: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "memory_mb": round(self.memory_mb, 1),
            "seconds": round(self.seconds, 1),
            "basis": self.basis,
            "lower": self.lower,
        }


# --- training -----------------------------------------------------------------------------


def training(
    kind: str, params: Mapping[str, Any], schema: TableSchema, n_rows: int, *, gpu: bool = False
) -> Estimate:
    """The fit of generator `kind` with constructor `params` on `n_rows` rows of `schema`."""
    columns = max(1, len(schema.modelled()))
    if kind == "dpctgan":
        return _dpctgan(params, schema, n_rows, gpu=gpu)
    if kind == "aim":
        return _aim(params, schema, n_rows)
    data_mb = n_rows * columns * 8 * 4 / MIB  # the table, its codes and two working copies
    seconds = DP_MARGINALS_SECONDS * n_rows * columns
    if kind != "dp_marginals":  # a generator registered from outside: the same generic formula
        seconds *= 10
    return Estimate(
        memory_mb=BASE_MB + data_mb,
        seconds=seconds,
        basis=f"{n_rows:,} rows × {columns} columns × 32 bytes",
        lower="the rows of the source or the columns modelled",
    )


def _aim(params: Mapping[str, Any], schema: TableSchema, n_rows: int) -> Estimate:
    from generators.aim.plan import peak_bytes

    columns = max(1, len(schema.modelled()))
    max_model_cells = int(float(params.get("max_model_size_mb", 20.0)) * MIB / 8)
    need, _ = peak_bytes(
        schema,
        n_rows,
        max_bins=int(params.get("max_bins", 32)),
        max_categories=int(params.get("max_categories", 256)),
        max_model_cells=max_model_cells,
        workload_max_cells=int(params.get("workload_max_cells", 10_000)),
    )
    pairs = columns * (columns - 1) / 2
    rounds = params.get("rounds") or 16 * columns
    seconds = AIM_SECONDS_PER_CELL * n_rows * columns + AIM_SECONDS_PER_PAIR * pairs * rounds / (
        16 * columns
    )
    return Estimate(
        memory_mb=BASE_MB + need / MIB,
        seconds=seconds,
        basis=(
            f"aim's own peak estimate ({need / MIB:,.0f} MiB: codes of {n_rows:,} rows, the "
            f"workload's marginals, a model of up to {max_model_cells:,} cells) plus the process; "
            f"{pairs:,.0f} column pairs"
        ),
        lower="max_model_size_mb, max_categories, max_bins or rounds",
    )


def dpctgan_width(schema: TableSchema, n_modes: int) -> tuple[int, int]:
    """(encoded row width, conditional vector width) of DP-CTGAN's layout, from the schema."""
    width = cond = 0
    for c in schema.modelled():
        if c.kind is ColumnKind.CATEGORICAL:
            k = (len(c.categories) if c.categories is not None else UNDECLARED_CATEGORIES) + 2
            width, cond = width + k, cond + k
        elif c.kind is ColumnKind.BOOLEAN:
            width, cond = width + 3, cond + 3
        else:  # numerical, datetime: a scalar, one slot per mode, a null slot
            width, cond = width + n_modes + 2, cond + n_modes + 2
    return width, cond


def _dense_params(in_dim: int, dims: list[int], out_dim: int, *, residual: bool) -> tuple[int, int]:
    """(parameters, activations per example) of a stack of Linear layers."""
    total, acts, d = 0, 0, in_dim
    for h in dims:
        total += d * h + h
        acts += h
        d = d + h if residual else h
    return total + d * out_dim + out_dim, acts + out_dim


def _dpctgan(params: Mapping[str, Any], schema: TableSchema, n_rows: int, *, gpu: bool) -> Estimate:
    columns = max(1, len(schema.modelled()))
    n_modes = int(params.get("n_modes", 10))
    batch = int(params.get("batch_size", 500))
    epochs = int(params.get("epochs", 20))
    gdims = [int(d) for d in params.get("generator_dim", (256, 256))]
    ddims = [int(d) for d in params.get("discriminator_dim", (256, 256))]
    emb = int(params.get("embedding_dim", 128))
    width, cond = dpctgan_width(schema, n_modes)
    g_params, g_acts = _dense_params(emb + cond, gdims, width, residual=True)
    d_params, d_acts = _dense_params(width + cond, ddims, 1, residual=False)
    data = n_rows * width * 4 * 2  # the encoded table (float32) and the slot codes' copy
    weights = (g_params + d_params) * 4 * 4  # weights, gradients, Adam's two moments
    activations = DPCTGAN_FLOATS_PER_WIDTH * batch * (g_acts + d_acts + width + cond) * 4
    need = data + weights + activations
    default_d, _ = _dense_params(width + cond, [256, 256], 1, residual=False)
    scale = max(1.0, d_params / max(default_d, 1))
    seconds = DPCTGAN_CPU_SECONDS * n_rows * columns * epochs * scale
    if gpu:
        from generators.auto import DPCTGAN_GPU_SECONDS_PER_STEP

        steps = math.ceil(n_rows / batch) * epochs
        seconds = min(seconds, DPCTGAN_GPU_SECONDS_PER_STEP * steps * scale)
    seconds += DPCTGAN_SETUP_SECONDS
    return Estimate(
        memory_mb=BASE_MB + TORCH_MB + need / MIB,
        seconds=seconds,
        basis=(
            f"an encoded width of {width:,} ({columns} columns, n_modes={n_modes}); "
            f"{g_params + d_params:,} network parameters, batch {batch:,} × the layers' widths "
            f"({activations / MIB:,.0f} MiB), the encoded table ({data / MIB:,.0f} MiB); "
            f"{epochs} epochs of {n_rows:,} rows"
        ),
        lower="batch_size, discriminator_dim, generator_dim, n_modes or epochs",
    )


# --- generation and evaluation -------------------------------------------------------------


def generation(generator: str, columns: int, model_bytes: int, rows: int) -> Estimate:
    """Sampling `rows` rows of `columns` columns from a model whose files take `model_bytes`."""
    columns = max(1, columns)
    batch = min(rows, GENERATE_BATCH_ROWS)
    network = generator == "dpctgan"
    memory = (
        BASE_MB
        + (TORCH_MB if network else 0.0)
        + 3 * model_bytes / MIB  # the files, the loaded arrays and the model built from them
        + batch * columns * GENERATE_BYTES_PER_CELL / MIB
    )
    rate = SAMPLE_SECONDS_NETWORK if network else SAMPLE_SECONDS
    return Estimate(
        memory_mb=memory,
        seconds=rate * rows * columns,
        basis=(
            f"{rows:,} rows × {columns} columns in batches of {batch:,}; "
            f"a model of {model_bytes / MIB:,.1f} MiB"
        ),
        lower="rows (generate several smaller datasets)",
    )


def evaluation(columns: int, synthetic_rows: int, train_rows: int, holdout_rows: int) -> Estimate:
    """Scoring a dataset against its source's train and holdout parts."""
    cells = (synthetic_rows + train_rows + holdout_rows) * max(1, columns)
    return Estimate(
        memory_mb=BASE_MB + EVALUATE_BASE_MB + cells * EVALUATE_BYTES_PER_CELL / MIB,
        seconds=EVALUATE_SETUP_SECONDS + EVALUATE_SECONDS * cells,
        basis=(
            f"({synthetic_rows:,} synthetic + {train_rows:,} train + {holdout_rows:,} holdout "
            f"rows) × {columns} columns"
        ),
        lower="the dataset's rows (evaluate a smaller dataset of the same model)",
    )


# --- limits -------------------------------------------------------------------------------


def check(estimate: Estimate, config: ServiceConfig, what: str) -> None:
    """Refuse (RESOURCE_EXHAUSTED) a job whose estimate passes the server's limits."""
    if estimate.memory_mb > config.max_job_memory_mb:
        raise ResourceLimit(
            f"{what} would need about {estimate.memory_mb:,.0f} MiB of memory "
            f"({estimate.basis}), over this server's limit of {config.max_job_memory_mb:,} MiB "
            f"per job; lower {estimate.lower}",
            metadata={"estimate_mb": f"{estimate.memory_mb:.0f}"},
        )
    if estimate.seconds > config.max_job_seconds:
        raise ResourceLimit(
            f"{what} would take about {_duration(estimate.seconds)} ({estimate.basis}), over "
            f"this server's limit of {_duration(config.max_job_seconds)} per job; "
            f"lower {estimate.lower}",
            metadata={"estimate_seconds": f"{estimate.seconds:.0f}"},
        )


def memory_cap_mb(estimate_mb: float | None, config: ServiceConfig) -> int:
    """The memory a process-isolated job may take: its estimate with headroom, at most the limit.

    Headroom, because the estimate is rough and the cap bounds address space, not
    resident memory (torch's import alone maps ~600 MiB it never touches; a small
    DP-CTGAN fit on 2,000 rows grew the mapping by 1.5 GiB): three times the estimate,
    and at least 2 GiB more. A job stored before estimates existed gets the limit.
    """
    if estimate_mb is None:
        return config.max_job_memory_mb
    return int(min(config.max_job_memory_mb, max(3 * estimate_mb, estimate_mb + 2048)))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.0f} minutes"
    return f"{seconds / 3600:,.1f} hours"
