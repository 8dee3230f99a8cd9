"""The `aim` generator: AIM's adaptive marginal selection on our own Private-PGM.

    gen = AIM(epsilon=1.0)
    gen.plan(schema, n_rows)                 # ledger charges; ResourceLimit if too big
    gen.fit(table, schema, progress=print)   # streams= or rng= to fix the draws
    rows = gen.sample_table(10_000, seed=1)

Fit: discretise every modelled column (DP histograms / selection where the
schema declares nothing public), run AIM's rounds on the codes, keep the
calibrated junction-tree marginals. Sample: draw codes from the tree, decode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from generators.aim.discretise import (
    ColumnCoder,
    categorical_coder,
    needs_histogram,
    numeric_coder,
)
from generators.aim.estimation import GraphicalModel
from generators.aim.junction_tree import JunctionTree
from generators.aim.plan import RhoSplit, check_memory, check_rounds, spends, split_budget
from generators.aim.rounds import AIMSettings, run_aim
from generators.aim.sampling import sample_codes
from generators.base import Generator, PrivacyReport, renamed_keyword
from generators.privacy import ZCDPBudget
from synth.base.errors import InvalidArgument
from synth.base.progress import Progress, ProgressFn
from synth.base.randomness import RandomStreams
from synth.base.schema import TableSchema
from synth.base.spend import Spend

_MB = 2**20


class AIM(Generator):
    """AIM (McKenna et al. 2022) with a numpy Private-PGM: the best utility at low ε.

    Hyper-parameters (keyword-only, all JSON-able):
    - rounds: AIM's T (default 16 × columns); the loop usually stops earlier, at the budget.
    - max_bins: at most this many bins per numeric/datetime column (cut at DP quantiles).
    - fine_bins: resolution of each level of the DP histogram used for cuts and decoding.
    - max_categories: at most this many DP-selected values per undeclared categorical.
    - workload_max_cells: pairs with more cells than this are left out of the workload.
    - max_model_size_mb: junction-tree size limit (float64 cells), as in the reference.
    - memory_cap_mb: refuse (ResourceLimit, in `plan`) a workload estimated to need more.
    - preprocessing_share: share of ρ spent on discretisation (DP histograms and category
      selection), spread over all columns; `prep_share` is its deprecated old name.
    - iters / final_iters: mirror-descent steps after each round / at the end.
    - max_iters / settle: a round's refit goes on past `iters`, up to `max_iters`, while the
      measured marginal still moves by more than `settle` of its move (see `mirror_descent`).
    """

    kind = "aim"
    checkpointing = False
    non_private = False  # refuses epsilon=None
    devices = ("cpu",)
    _renamed_params: ClassVar[Mapping[str, str]] = {"prep_share": "preprocessing_share"}

    def __init__(
        self,
        *,
        epsilon: float | None,
        delta: float | None = None,
        rounds: int | None = None,
        max_bins: int = 32,
        fine_bins: int = 64,
        max_categories: int = 256,
        workload_max_cells: int = 10_000,
        max_model_size_mb: float = 20.0,
        memory_cap_mb: float = 4096.0,
        preprocessing_share: float = 0.05,
        iters: int = 100,
        final_iters: int = 500,
        max_iters: int = 1000,
        settle: float = 0.1,
        prep_share: float | None = None,
    ) -> None:
        super().__init__(epsilon=epsilon, delta=delta)
        preprocessing_share = renamed_keyword(
            "AIM", "prep_share", prep_share, "preprocessing_share", preprocessing_share, 0.05
        )
        if epsilon is None:
            raise InvalidArgument("aim is a differentially private generator: give an epsilon")
        if max_bins < 2 or fine_bins < 2 or max_categories < 1:
            raise InvalidArgument(
                "max_bins and fine_bins must be at least 2, max_categories at least 1"
            )
        if not 0 < preprocessing_share < 1:
            raise InvalidArgument(
                f"preprocessing_share must be in (0, 1), got {preprocessing_share}"
            )
        if rounds is not None and rounds < 1:
            raise InvalidArgument(f"rounds must be positive, got {rounds}")
        self.rounds = rounds
        self.max_bins = max_bins
        self.fine_bins = fine_bins
        self.max_categories = max_categories
        self.workload_max_cells = workload_max_cells
        self.max_model_size_mb = max_model_size_mb
        self.memory_cap_mb = memory_cap_mb
        self.preprocessing_share = preprocessing_share
        self.iters = iters
        self.final_iters = final_iters
        self.max_iters = max_iters
        self.settle = settle
        self.coders: list[ColumnCoder] = []
        self.model: GraphicalModel | None = None
        self.rounds_run = 0

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "rounds": self.rounds,
            "max_bins": self.max_bins,
            "fine_bins": self.fine_bins,
            "max_categories": self.max_categories,
            "workload_max_cells": self.workload_max_cells,
            "max_model_size_mb": self.max_model_size_mb,
            "memory_cap_mb": self.memory_cap_mb,
            "preprocessing_share": self.preprocessing_share,
            "iters": self.iters,
            "final_iters": self.final_iters,
            "max_iters": self.max_iters,
            "settle": self.settle,
        }

    @property
    def max_model_cells(self) -> int:
        return int(self.max_model_size_mb * _MB / 8)

    # --- plan ----------------------------------------------------------------------

    def _split(self, schema: TableSchema, n_rows: int, epsilon: float, delta: float) -> RhoSplit:
        check_memory(
            schema,
            n_rows,
            max_bins=self.max_bins,
            max_categories=self.max_categories,
            max_model_cells=self.max_model_cells,
            workload_max_cells=self.workload_max_cells,
            memory_cap_mb=self.memory_cap_mb,
        )
        return split_budget(schema, epsilon, delta, preprocessing_share=self.preprocessing_share)

    def _plan(self, schema: TableSchema, n_rows: int, epsilon: float, delta: float) -> list[Spend]:
        check_rounds(schema, self.rounds)
        return spends(self._split(schema, n_rows, epsilon, delta))

    # --- fit -------------------------------------------------------------------------

    def _fit(
        self, table: pa.Table, schema: TableSchema, streams: RandomStreams, progress: ProgressFn
    ) -> PrivacyReport:
        assert self.epsilon is not None
        n = self.n_train_rows  # the public size, as planned: never the table's own count
        delta = self.resolved_delta(n)
        assert delta is not None
        planned = self.plan(schema, n)
        split = self._split(schema, n, self.epsilon, delta)
        budget = ZCDPBudget(
            self.epsilon,
            delta,
            selection_delta=split.selection_delta,
            max_rows=schema.max_rows_per_unit,
        )
        cols = schema.modelled()
        progress(Progress("discretise", 0.0, 0.0, f"discretising {len(cols)} columns"))
        noise = streams.child("noise")
        coders, codes = self.discretise(table, schema, split, budget, noise.child("discretise"))
        sizes = [c.size for c in coders]
        report = _RoundsProgress(progress, budget, coders)
        settings = AIMSettings(
            rounds=self.rounds,
            max_model_cells=self.max_model_cells,
            workload_max_cells=self.workload_max_cells,
            iters=self.iters,
            final_iters=self.final_iters,
            max_iters=self.max_iters,
            settle=self.settle,
        )
        model, measurements, t = run_aim(
            codes,
            sizes,
            budget,
            split.rho_rounds,
            noise.generator("measure"),  # the Gaussian measurements of the rounds
            settings,
            select=noise.generator("select"),  # the exponential mechanism's choices
            on_round=report.on_round,
            check=report.check,
        )
        self.coders, self.model, self.rounds_run = coders, model, t
        eps, dlt = budget.spent()
        progress(Progress("done", 1.0, eps, f"{t} rounds, {len(measurements)} marginals measured"))
        return PrivacyReport(
            epsilon=eps,
            delta=dlt,
            accountant="zcdp",
            spends=tuple(planned),
            details={
                "rho": budget.rho_spent,
                "rho_target": budget.rho_total,
                "rounds": float(t),
                "measurements": float(len(measurements)),
                "model_cells": float(model.tree.size(sizes)),
            },
        )

    def discretise(
        self,
        table: pa.Table,
        schema: TableSchema,
        split: RhoSplit,
        budget: ZCDPBudget,
        noise: RandomStreams,
    ) -> tuple[list[ColumnCoder], np.ndarray]:
        """Each modelled column's coder (DP where not public, charged to `budget`) and the codes.

        `noise` is a family of streams: each column measures with its own.
        """
        cols = schema.modelled()
        coders = []
        for col in cols:
            arr = table.column(col.name)
            rho = split.rho_column.get(col.name, 0.0)
            if needs_histogram(col):
                budget.spend(f"histogram {col.name}", rho)
                coder = numeric_coder(
                    arr,
                    col,
                    rho,
                    noise.child(col.name),
                    max_bins=self.max_bins,
                    fine_bins=self.fine_bins,
                )
            else:
                sel_delta = split.delta_column.get(col.name, 0.0)
                if rho > 0:
                    budget.spend(f"categories {col.name}", rho, sel_delta)
                coder = categorical_coder(
                    arr,
                    col,
                    rho,
                    sel_delta,
                    noise.child(col.name),
                    max_categories=self.max_categories,
                    max_rows=schema.max_rows_per_unit,
                )
            coders.append(coder)
        codes = np.stack(
            [c.encode(table.column(c.name), col) for c, col in zip(coders, cols, strict=True)],
            axis=1,
        )
        return coders, codes

    # --- sample ----------------------------------------------------------------------

    def _sample_modelled(
        self, n: int, rng: np.random.Generator
    ) -> dict[str, pa.Array | np.ndarray]:
        assert self.model is not None
        codes = sample_codes(self.model, n, rng)
        return {c.name: c.decode(codes[:, i], rng) for i, c in enumerate(self.coders)}

    # --- persistence -------------------------------------------------------------------

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        assert self.model is not None
        t = self.model.tree
        config = {
            "coders": [c.to_json() for c in self.coders],
            "sizes": list(self.model.sizes),
            "total": self.model.total,
            "rounds_run": self.rounds_run,
            "tree": {
                "cliques": [list(c) for c in t.cliques],
                "parent": list(t.parent),
                "order": list(t.order),
                "separator": [list(s) for s in t.separator],
            },
        }
        arrays = {f"marginal/{i}": m for i, m in enumerate(self.model.marginals)}
        for c in self.coders:
            if c.kind == "numeric":
                arrays[f"fine_edges/{c.name}"] = c.fine_edges
                arrays[f"fine_p/{c.name}"] = c.fine_p
        return config, arrays

    def _from_state(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        tr = config["tree"]
        tree = JunctionTree(
            cliques=tuple(tuple(c) for c in tr["cliques"]),
            parent=tuple(tr["parent"]),
            order=tuple(tr["order"]),
            separator=tuple(tuple(s) for s in tr["separator"]),
        )
        marginals = [arrays[f"marginal/{i}"] for i in range(len(tree.cliques))]
        self.model = GraphicalModel(config["sizes"], tree, marginals, config["total"])
        self.coders = [ColumnCoder.from_json(c, arrays) for c in config["coders"]]
        self.rounds_run = int(config["rounds_run"])


class _RoundsProgress:
    """AIM's progress reports: the share of the rounds' ρ spent so far, and ε so far."""

    def __init__(self, progress: ProgressFn, budget: ZCDPBudget, coders: list[ColumnCoder]) -> None:
        self.progress = progress
        self.budget = budget
        self.coders = coders
        self.done = 0.0  # fraction of the rounds' budget spent so far
        self._epsilon: dict[float, float] = {}

    def spent(self) -> float:
        """ε spent so far (a bisection: cached per ρ)."""
        rho = self.budget.rho_spent
        if rho not in self._epsilon:
            self._epsilon[rho] = self.budget.spent()[0]
        return self._epsilon[rho]

    def on_round(self, t: int, used: float, rho: float, clique: tuple[int, ...], cells: int) -> None:
        names = ", ".join(self.coders[a].name for a in clique)
        self.done = min(used / rho, 1.0) * 0.95
        self.progress(
            Progress(
                "rounds",
                self.done,
                self.spent(),
                f"round {t}: measured ({names})",
                {"round": float(t), "model_cells": float(cells)},
            )
        )

    def check(self, _: int) -> None:
        self.progress(Progress("estimate", self.done, self.spent(), "fitting the graphical model"))
