"""AIM's adaptive loop (McKenna, Mullins, Sheldon & Miklau, 2022, Algorithm 2).

Measure every one-way marginal; then, round after round, pick with the
exponential mechanism the workload marginal the current model gets most
wrong (L1 error minus the noise it would be measured with, weighted by its
overlap with the workload), among those that keep the model under a size
limit growing with the budget spent; measure it with Gaussian noise; refit.
When a measurement barely moves the model, halve σ. The last round spends
exactly what is left, so the whole ρ is used and never passed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from generators.aim.estimation import Fit, GraphicalModel, NoisyMarginal, maximal, mirror_descent
from generators.aim.factor import Clique, cells, joint_counts
from generators.aim.junction_tree import model_size
from generators.privacy import ZCDPBudget, noisy_counts

#: Called after each round with (round, ρ spent by the loop, ρ of the loop, clique, model cells).
RoundFn = Callable[[int, float, float, Clique, int], None]


@dataclass(frozen=True)
class AIMSettings:
    rounds: int | None
    max_model_cells: int
    workload_max_cells: int
    iters: int
    final_iters: int
    max_iters: int = 0
    settle: float = 0.1


def workload_candidates(sizes: list[int], max_cells: int) -> dict[Clique, float]:
    """All pairs within the cell limit, their one-way subsets, each scored by workload overlap."""
    d = len(sizes)
    workload = [w for w in combinations(range(d), 2) if cells(w, sizes) <= max_cells]
    cands: dict[Clique, float] = {}
    for cl in [(a,) for a in range(d)] + workload:
        cands[cl] = float(sum(len(set(cl) & set(w)) for w in workload)) or 1.0
    return cands


def _exponential(
    scores: dict[Clique, float], eps: float, sens: float, rng: np.random.Generator
) -> Clique:
    keys = list(scores)
    q = np.array([scores[k] for k in keys])
    logits = 0.5 * eps / sens * (q - q.max())
    p = np.exp(logits)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def run_aim(
    codes: np.ndarray,
    sizes: list[int],
    budget: ZCDPBudget,
    rho: float,
    rng: np.random.Generator,
    settings: AIMSettings,
    *,
    select: np.random.Generator,
    on_round: RoundFn,
    check: Callable[[int], None],
) -> tuple[GraphicalModel, list[NoisyMarginal], int]:
    """Spend exactly `rho` of `budget` on AIM's rounds; return (model, measurements, rounds run).

    `rng` draws the Gaussian noise of the measurements, `select` the exponential
    mechanism's choices: two mechanisms, two streams.

    It is long because it is one algorithm, the paper's Algorithm 2: every round
    reads and anneals the same σ, ε and ρ used, so its steps stay together and
    can be checked against the paper line by line.
    """
    d = codes.shape[1]
    cands = workload_candidates(sizes, settings.workload_max_cells)
    answers = {cl: joint_counts(codes, cl, sizes) for cl in cands}
    t_max = settings.rounds or 16 * d
    sigma = math.sqrt(t_max / (2 * 0.9 * rho))
    eps = math.sqrt(8 * 0.1 * rho / t_max)
    used = 0.0
    measurements: list[NoisyMarginal] = []
    for a in range(d):
        x = answers[(a,)]
        budget.spend(f"one-way marginal {a}", 0.5 / sigma**2)
        used += 0.5 / sigma**2
        # Discrete Gaussian at exactly the ρ charged above (CKS20 Thm 4: ρ-zCDP like the
        # continuous one); its variance is at most σ², so σ stays the estimation's std.
        measurements.append(NoisyMarginal((a,), noisy_counts(x, 0.5 / sigma**2, rng), sigma))
    total = estimate_total(measurements)
    fit = mirror_descent(sizes, measurements, total, iters=settings.iters, check=check)
    sizes_seen: dict[frozenset[Clique], int] = {}

    def size_with(model_cliques: list[Clique], cl: Clique) -> int:
        key = frozenset([*model_cliques, cl])
        if key not in sizes_seen:
            sizes_seen[key] = model_size(d, list(key), sizes)
        return sizes_seen[key]

    t = 0
    last = False
    while not last:
        t += 1
        if rho - used < 2 * (0.5 / sigma**2 + eps**2 / 8):
            remaining = rho - used
            sigma = math.sqrt(1 / (2 * 0.9 * remaining))
            eps = math.sqrt(8 * 0.1 * remaining)
            last = True
        used += eps**2 / 8 + 0.5 / sigma**2
        limit = settings.max_model_cells * used / rho
        model_cliques = maximal([m.clique for m in measurements])
        free = {s for c in model_cliques for r in range(1, len(c) + 1) for s in combinations(c, r)}
        model = fit.model
        scores: dict[Clique, float] = {}
        for cl, wgt in cands.items():
            if cl in free or size_with(model_cliques, cl) <= limit:
                bias = math.sqrt(2 / math.pi) * sigma * answers[cl].size
                scores[cl] = wgt * (float(np.abs(answers[cl] - model.project(cl)).sum()) - bias)
        sens = max(abs(cands[c]) for c in scores)
        budget.spend(f"round {t}: select", eps**2 / 8)
        cl = _exponential(scores, eps, sens, select)
        x = answers[cl]
        budget.spend(f"round {t}: measure {cl}", 0.5 / sigma**2)
        measurements.append(NoisyMarginal(cl, noisy_counts(x, 0.5 / sigma**2, rng), sigma))
        before = model.project(cl)
        fit = mirror_descent(
            sizes,
            measurements,
            total,
            iters=settings.iters,
            warm=fit.potentials,
            check=check,
            watch=cl,
            max_iters=settings.max_iters,
            settle=settings.settle,
        )
        after = fit.model.project(cl)
        on_round(t, used, rho, cl, fit.model.tree.size(sizes))
        if float(np.abs(after - before).sum()) <= sigma * math.sqrt(2 / math.pi) * x.size:
            sigma /= 2
            eps *= 2
    final: Fit = mirror_descent(
        sizes, measurements, total, iters=settings.final_iters, warm=fit.potentials, check=check
    )
    return final.model, measurements, t


def estimate_total(oneway: list[NoisyMarginal]) -> float:
    """The row count the model is scaled to, from the noisy one-way marginals alone.

    The exact count is not public (neighbours differ by one unit, added or
    removed), so, as the reference AIM does without a known total, each
    one-way marginal's sum estimates it with variance (cells · σ²); their
    inverse-variance average is post-processing, free of charge. At least 1.
    """
    weights = [1.0 / m.y.size for m in oneway]
    sums = [float(np.sum(m.y)) for m in oneway]
    est = sum(w * s for w, s in zip(weights, sums, strict=True)) / sum(weights)
    return max(est, 1.0)
