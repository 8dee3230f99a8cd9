"""`DPMarginals`: every column's histogram, measured independently with Gaussian noise.

The honest baseline of the DP synthetic-data literature (the "independent"
or "MST without edges" model): it keeps each column's distribution and
nothing about how columns relate. Under zCDP the Gaussian histograms compose
by adding ρ; the total converts to (ε, δ) once. It is also the fast one:
fitting is a few vectorised passes over the table, sampling a few numpy
draws per column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from generators.base import Generator, PrivacyReport, renamed_keyword
from generators.dp_marginals.allocation import Allocation, allocate, details, spends
from generators.dp_marginals.marginals import (
    MARGINAL_TYPES,
    BinnedMarginal,
    CategoricalMarginal,
)
from generators.dp_marginals.measure import MEASURES, Meter, Options
from generators.privacy.accounting import ZCDPBudget
from synth.base.errors import InvalidArgument, PrivacyError
from synth.base.progress import Progress, ProgressFn
from synth.base.randomness import RandomStreams
from synth.base.schema import TableSchema
from synth.base.spend import Spend

ColumnModel = BinnedMarginal | CategoricalMarginal


class DPMarginals(Generator):
    """Independent DP marginals: Gaussian-noised histograms, one per modelled column.

    Hyper-parameters (keyword-only):
    - `bins`: bins per numerical/datetime column (integer columns with a
      narrower range get one bin per value);
    - `zero_point`: give the exact value 0 a bin of its own in numerical
      columns whose range holds it (a public choice: zero-inflated columns
      such as capital gains keep their spike instead of a smeared first bin);
    - `preprocessing_share`: the part of a column's ρ spent discovering its
      bounds or category set when the schema does not declare them
      (`discovery_share` is its deprecated old name);
    - `selection_delta_share`: the part of δ given to category selection
      (only used when some categorical column has no declared categories);
    - `other_label`: the value emitted for categories that did not pass the
      DP selection threshold;
    - `require_public_bounds`: refuse to plan when a numerical or datetime
      column has no declared bounds, instead of paying for DP bounds.
    """

    kind = "dp_marginals"
    version = "1"
    checkpointing = False
    # It takes no `allow_non_private`: `epsilon=None` measures exactly without asking,
    # and the service alone decides whether a source may have such a model.
    non_private = False
    devices = ("cpu",)
    _renamed_params: ClassVar[Mapping[str, str]] = {"discovery_share": "preprocessing_share"}

    def __init__(
        self,
        *,
        epsilon: float | None,
        delta: float | None = None,
        bins: int = 128,
        zero_point: bool = True,
        preprocessing_share: float = 0.25,
        selection_delta_share: float = 0.5,
        other_label: str = "__other__",
        require_public_bounds: bool = False,
        discovery_share: float | None = None,
    ) -> None:
        super().__init__(epsilon=epsilon, delta=delta)
        preprocessing_share = renamed_keyword(
            "DPMarginals", "discovery_share", discovery_share,
            "preprocessing_share", preprocessing_share, 0.25,
        )
        if not 2 <= bins <= 1_000_000:
            raise InvalidArgument(f"bins must be between 2 and 1,000,000, got {bins}")
        if not 0 < preprocessing_share < 1:
            raise InvalidArgument(
                f"preprocessing_share must be in (0, 1), got {preprocessing_share}"
            )
        if not 0 < selection_delta_share < 1:
            raise InvalidArgument(
                f"selection_delta_share must be in (0, 1), got {selection_delta_share}"
            )
        self.bins = int(bins)
        self.zero_point = bool(zero_point)
        self.preprocessing_share = float(preprocessing_share)
        self.selection_delta_share = float(selection_delta_share)
        self.other_label = str(other_label)
        self.require_public_bounds = bool(require_public_bounds)
        self.marginals: list[ColumnModel] = []

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "bins": self.bins,
            "zero_point": self.zero_point,
            "preprocessing_share": self.preprocessing_share,
            "selection_delta_share": self.selection_delta_share,
            "other_label": self.other_label,
            "require_public_bounds": self.require_public_bounds,
        }

    # --- privacy plan ---------------------------------------------------------------

    def _allocation(self, schema: TableSchema, epsilon: float, delta: float) -> Allocation:
        if self.require_public_bounds:
            missing = [c.name for c in schema.modelled() if c.needs_dp_measurement == "bounds"]
            if missing:
                raise PrivacyError(
                    "require_public_bounds is set but these columns declare no bounds: "
                    + ", ".join(missing)
                    + ". Declare lower/upper in the schema, or allow DP bounds."
                )
        return allocate(
            schema,
            epsilon,
            delta,
            preprocessing_share=self.preprocessing_share,
            selection_delta_share=self.selection_delta_share,
        )

    def _plan(self, schema: TableSchema, n_rows: int, epsilon: float, delta: float) -> list[Spend]:
        alloc = self._allocation(schema, epsilon, delta)
        return spends(alloc, alloc.planned_epsilon())

    # --- fit --------------------------------------------------------------------------

    def _fit(
        self, table: pa.Table, schema: TableSchema, streams: RandomStreams, progress: ProgressFn
    ) -> PrivacyReport:
        cols = schema.modelled()
        alloc: Allocation | None = None
        budget: ZCDPBudget | None = None
        if self.epsilon is not None:
            # The same refusals as planning (δ ≥ 1/n, ...), with the same public size.
            self.plan(schema, self.n_train_rows)
            delta = self.resolved_delta(self.n_train_rows)
            assert delta is not None
            alloc = self._allocation(schema, self.epsilon, delta)
            budget = ZCDPBudget(
                self.epsilon, delta, selection_delta=alloc.selection_delta, max_rows=alloc.max_rows
            )
        opts = Options(
            bins=self.bins, other_label=self.other_label, points=(0.0,) if self.zero_point else ()
        )
        progress(Progress("fit", 0.0, 0.0, f"measuring {len(cols)} column marginals"))
        marginals: list[ColumnModel] = []
        noise = streams.child("noise")
        for i, col in enumerate(cols):
            steps = alloc.for_column(col.name) if alloc is not None else {}
            # One family of streams per column, one stream per stage (bounds, categories, marginal).
            meter = Meter(
                col.name, steps, budget, noise.child(col.name), schema.max_rows_per_unit
            )
            arr = table.column(col.name).combine_chunks()
            marginals.append(MEASURES[col.kind](arr, col, meter, opts))
            spent = budget.spent()[0] if budget is not None else 0.0
            progress(Progress("fit", (i + 1) / len(cols), spent, f"measured {col.name}"))
        self.marginals = marginals
        if alloc is None or budget is None:
            return PrivacyReport(epsilon=None, delta=None, accountant="none")
        eps, delta_spent = budget.spent()
        return PrivacyReport(
            epsilon=eps,
            delta=delta_spent,
            accountant="zcdp",
            spends=tuple(spends(alloc, eps)),
            details=details(alloc),
        )

    # --- sampling and state ---------------------------------------------------------------

    def _sample_modelled(
        self, n: int, rng: np.random.Generator
    ) -> dict[str, pa.Array | np.ndarray]:
        return {m.name: m.sample(n, rng) for m in self.marginals}

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        configs: list[dict[str, Any]] = []
        arrays: dict[str, np.ndarray] = {}
        for i, m in enumerate(self.marginals):
            config, arrs = m.to_state()
            configs.append({"kind": m.kind, **config})
            arrays.update({f"{i}.{k}": v for k, v in arrs.items()})
        return {"marginals": configs}, arrays

    def _from_state(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        marginals: list[ColumnModel] = []
        for i, c in enumerate(config["marginals"]):
            kind = c.get("kind")
            if kind not in MARGINAL_TYPES:
                raise InvalidArgument(f"saved marginal {i} has unknown kind {kind!r}")
            prefix = f"{i}."
            arrs = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            marginals.append(MARGINAL_TYPES[kind].from_state(c, arrs))
        self.marginals = marginals
