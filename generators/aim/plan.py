"""AIM's privacy plan and memory estimate, from public facts only (schema, row count).

The service charges the plan before the job reads a row, and refuses a
workload that would not fit in memory, or a round count the one-way
marginals would overspend, before anything is charged, so all are computed
here from the schema and the hyper-parameters alone; `fit` recomputes the
same numbers and spends exactly them.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from generators.aim.discretise import max_size, needs_budget
from generators.privacy import cdp_rho
from generators.privacy.zcdp import unit_rho
from synth.base.errors import PrivacyError, ResourceLimit
from synth.base.schema import TableSchema
from synth.base.spend import Spend

MECHANISM = "zcdp-gaussian+exponential"

#: Bytes per model cell held at once during estimation: potentials, beliefs,
#: messages, marginals and gradients of the current and the trial step, float64.
BYTES_PER_MODEL_CELL = 8 * 10


@dataclass(frozen=True)
class RhoSplit:
    """How AIM's ρ (and the selection share of δ) is divided between columns and rounds."""

    epsilon: float
    delta: float
    selection_delta: float  # part of δ set aside for DP category selection (0 if none)
    rho_total: float
    rho_column: dict[str, float]  # discretisation ρ per column that needs one
    delta_column: dict[str, float]  # selection δ per column that selects categories
    rho_rounds: float

    @property
    def rho_preprocessing(self) -> float:
        return sum(self.rho_column.values())


def split_budget(
    schema: TableSchema, epsilon: float, delta: float, *, preprocessing_share: float
) -> RhoSplit:
    """Each column that needs discretising gets preprocessing_share/d of ρ; the rounds the rest.

    ρ is per row: the per-unit ρ over k², k the schema's rows per privacy unit.
    """
    cols = schema.modelled()
    selecting = [c.name for c in cols if c.needs_dp_measurement == "categories"]
    sel_delta = delta / 2 if selecting else 0.0
    rho = unit_rho(cdp_rho(epsilon, delta - sel_delta), schema.max_rows_per_unit)
    per_col = preprocessing_share * rho / max(len(cols), 1)
    rho_column = {c.name: per_col for c in cols if needs_budget(c)}
    delta_column = {name: sel_delta / len(selecting) for name in selecting}
    return RhoSplit(
        epsilon=epsilon,
        delta=delta,
        selection_delta=sel_delta,
        rho_total=rho,
        rho_column=rho_column,
        delta_column=delta_column,
        rho_rounds=rho - sum(rho_column.values()),
    )


def check_rounds(schema: TableSchema, rounds: int | None) -> None:
    """Refuse a round count whose one-way marginals alone would use up the rounds' ρ.

    `run_aim` first measures every one-way marginal at ρ_rounds · 0.9 / T each
    (T = `rounds`), so d modelled columns take 0.9 · d / T of it; at T ≤ 0.9 · d
    nothing is left for the rounds and the budget refuses mid-fit, after the
    charge and the reading of the rows. Compared in integers: 10 T ≤ 9 d.
    """
    d = len(schema.modelled())
    if rounds is not None and 10 * rounds <= 9 * d:
        raise PrivacyError(
            f"aim: rounds={rounds} is too few for {d} modelled columns: measuring their one-way "
            f"marginals (0.9 of the rounds' budget over {rounds} rounds each) would use it all up; "
            f"give rounds of at least {9 * d // 10 + 1}, or leave rounds unset (16 per column)"
        )


def spends(split: RhoSplit) -> list[Spend]:
    """The ledger charges: (ε, δ) divided between discretisation and marginals in proportion to ρ.

    zCDP composes ρ, not ε, so the two charges add up to exactly the target
    (ε, δ) that the whole ρ converts to.
    """
    conv_delta = split.delta - split.selection_delta
    out = []
    if split.rho_column:
        share = split.rho_preprocessing / split.rho_total
        out.append(
            Spend(
                "preprocessing",
                split.epsilon * share,
                conv_delta * share + split.selection_delta,
                MECHANISM,
            )
        )
    share = split.rho_rounds / split.rho_total
    out.append(Spend("marginals", split.epsilon * share, conv_delta * share, MECHANISM))
    return out


def peak_bytes(
    schema: TableSchema,
    n_rows: int,
    *,
    max_bins: int,
    max_categories: int,
    max_model_cells: int,
    workload_max_cells: int,
) -> tuple[int, int]:
    """(estimated peak bytes, cells of the model of one-way marginals alone)."""
    sizes = [
        max_size(c, max_bins=max_bins, max_categories=max_categories) for c in schema.modelled()
    ]
    data = n_rows * len(sizes) * 8 * 3  # codes, plus a column's float copy while encoding
    pair_cells = sum(a * b for a, b in combinations(sizes, 2) if a * b <= workload_max_cells)
    answers = (pair_cells + sum(sizes)) * 8
    model = max_model_cells * BYTES_PER_MODEL_CELL
    return data + answers + model, sum(sizes)


def check_memory(
    schema: TableSchema,
    n_rows: int,
    *,
    max_bins: int,
    max_categories: int,
    max_model_cells: int,
    workload_max_cells: int,
    memory_cap_mb: float,
) -> None:
    """Raise `ResourceLimit` when the workload would not fit under the memory cap."""
    need, oneway = peak_bytes(
        schema,
        n_rows,
        max_bins=max_bins,
        max_categories=max_categories,
        max_model_cells=max_model_cells,
        workload_max_cells=workload_max_cells,
    )
    if oneway > max_model_cells:
        raise ResourceLimit(
            f"aim: the one-way marginals alone need {oneway:,} model cells, more than the "
            f"model-size limit of {max_model_cells:,}; declare fewer categories, lower "
            "max_categories / max_bins, or raise max_model_size_mb"
        )
    if need > memory_cap_mb * 2**20:
        raise ResourceLimit(
            f"aim: this workload needs about {need / 2**20:,.0f} MiB (rows, workload marginals "
            f"and a model of up to {max_model_cells:,} cells), over the memory cap of "
            f"{memory_cap_mb:,.0f} MiB; lower max_model_size_mb, max_categories or max_bins, "
            "or raise memory_cap_mb"
        )
