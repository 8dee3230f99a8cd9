"""Private-PGM: fit a graphical model to noisy marginals by mirror descent.

McKenna, Sheldon & Miklau (2019), Algorithm 1, as the `mbi` package does it
(step 2 / (L·n), Armijo line search), written in numpy: potentials live on
the maximal measured cliques, exact marginals come from belief propagation
on a junction tree in log space, and the loss is the σ-weighted squared
error of every noisy marginal. No data is read here: only the noisy
measurements and the public row count.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from generators.aim.factor import Clique, contract, expand, logsumexp_to, shape_of, sum_to
from generators.aim.junction_tree import JunctionTree, junction_tree


@dataclass(frozen=True)
class NoisyMarginal:
    """A noisy marginal: counts over `clique` plus Gaussian noise of std `std` (per cell or one)."""

    clique: Clique
    y: np.ndarray
    std: np.ndarray | float


class GraphicalModel:
    """Calibrated marginals (counts summing to `total`) on a junction tree's cliques."""

    def __init__(
        self,
        sizes: Sequence[int],
        tree: JunctionTree,
        marginals: Sequence[np.ndarray],
        total: float,
    ) -> None:
        self.sizes = tuple(int(s) for s in sizes)
        self.tree = tree
        self.marginals = list(marginals)
        self.total = float(total)
        self._cache: dict[Clique, np.ndarray] = {}

    def project(self, clique: Clique) -> np.ndarray:
        """The model's counts over `clique` (any one or two attributes, or a subset of a clique)."""
        clique = tuple(sorted(clique))
        if clique in self._cache:
            return self._cache[clique]
        home = self.tree.home(clique)
        if home >= 0:
            out = sum_to(self.marginals[home], self.tree.cliques[home], clique)
        elif len(clique) == 2:
            out = self._pair_across(clique[0], clique[1])
        else:
            raise NotImplementedError("marginals of 3+ attributes across cliques")
        self._cache[clique] = out
        return out

    def _path(self, i: int, j: int) -> list[int]:
        up_i, up_j = [i], [j]
        while self.tree.parent[up_i[-1]] >= 0:
            up_i.append(self.tree.parent[up_i[-1]])
        while self.tree.parent[up_j[-1]] >= 0:
            up_j.append(self.tree.parent[up_j[-1]])
        common = next(x for x in up_i if x in set(up_j))
        return up_i[: up_i.index(common) + 1] + list(reversed(up_j[: up_j.index(common)]))

    def _pair_across(self, a: int, b: int) -> np.ndarray:
        """P(a, b) for attributes in different cliques: carry P(a, separator) along the path.

        On a junction tree, a is independent of the next clique given the separator,
        so P(a, next) = P(a, sep) · P(next) / P(sep), summed down to what the step after needs.
        """
        t = self.tree
        path = self._path(t.home((a,)), t.home((b,)))
        seps = [
            tuple(sorted(set(t.cliques[x]) & set(t.cliques[y])))
            for x, y in itertools.pairwise(path)
        ]
        f_attrs = tuple(sorted({a, *seps[0]}))
        f = sum_to(self.marginals[path[0]], t.cliques[path[0]], f_attrs)
        for step, nxt in enumerate(path[1:]):
            sep = seps[step]
            last = step == len(seps) - 1
            out = tuple(sorted({a, b} if last else {a, *seps[step + 1]}))
            mu_s = np.maximum(self.project(sep), 1e-300) if sep else np.array(self.total)
            f = contract(
                [(f, f_attrs), (self.marginals[nxt], t.cliques[nxt]), (1.0 / mu_s, sep)], out
            )
            f_attrs = out
        return f


def calibrate(
    tree: JunctionTree, sizes: Sequence[int], potentials: Sequence[np.ndarray], total: float
) -> list[np.ndarray]:
    """Sum-product in log space: the exact clique marginals (as counts) of the potentials.

    Two exponentials per clique: one for its upward message, one for its
    marginal. A downward message needs no more, because the upward message it
    divides out depends on the separator only: log Σ exp(b - u) = log Σ exp(b) - u.
    """
    cl = tree.cliques
    kids: dict[int, list[int]] = {i: [] for i in range(len(cl))}
    for i in tree.order[1:]:
        kids[tree.parent[i]].append(i)
    up: dict[int, np.ndarray] = {}
    partial: list[np.ndarray] = [np.empty(0)] * len(cl)
    for i in reversed(tree.order):
        b = potentials[i]
        for j in kids[i]:
            b = b + expand(up[j], tree.separator[j], cl[i])
        partial[i] = b
        if tree.parent[i] >= 0:
            up[i] = logsumexp_to(b, cl[i], tree.separator[i])
    root = tree.order[0]
    log_z = float(logsumexp_to(partial[root], cl[root], ()))
    mu: list[np.ndarray] = [np.empty(0)] * len(cl)
    mu[root] = np.exp(partial[root] - log_z) * total
    for i in tree.order[1:]:
        p, s = tree.parent[i], tree.separator[i]
        with np.errstate(divide="ignore"):
            down = np.log(sum_to(mu[p], cl[p], s) / total) + log_z - up[i]
        mu[i] = np.exp(partial[i] + expand(down, s, cl[i]) - log_z) * total
    return mu


#: Steps between cancellation checks (and settle tests) in `mirror_descent`.
BLOCK = 25


@dataclass
class Fit:
    """What `mirror_descent` returns: the model and the potentials to warm-start the next fit."""

    model: GraphicalModel
    potentials: dict[Clique, np.ndarray]
    loss: float


def maximal(cliques: Sequence[Clique]) -> list[Clique]:
    uniq = sorted(set(cliques), key=lambda c: (-len(c), c))
    return [c for c in uniq if not any(set(c) < set(o) for o in uniq)]


def mirror_descent(
    sizes: Sequence[int],
    measurements: Sequence[NoisyMarginal],
    total: float,
    *,
    iters: int,
    warm: dict[Clique, np.ndarray] | None = None,
    check: Callable[[int], None] | None = None,
    watch: Clique | None = None,
    max_iters: int = 0,
    settle: float = 0.1,
) -> Fit:
    """Fit potentials on the maximal measured cliques to the noisy marginals.

    Runs `iters` steps. With `watch` (the clique just measured), it goes on,
    a block of `BLOCK` steps at a time up to `max_iters`, while the model's
    marginal on `watch` still moves: while the last block moved it (L1) by
    more than `settle` times its whole move in this fit. AIM's σ-halving test
    reads that move, so a refit stopped early would understate it.
    `check(t)` is called every block (the caller raises there to cancel).

    It is long because it is one optimisation loop: the step size, the warm
    start and the three closures (marginals, loss, watched projection) share the
    cliques and the junction tree it builds; apart, they would pass that state around.
    """
    cliques = maximal([m.clique for m in measurements])
    tree = junction_tree(len(sizes), cliques, sizes)
    home = [tree.home(c) for c in cliques]
    owner = [
        next(k for k, c in enumerate(cliques) if set(m.clique) <= set(c)) for m in measurements
    ]
    theta = {c: np.zeros(shape_of(c, sizes)) for c in cliques}
    for old, values in (warm or {}).items():
        k = next((k for k, c in enumerate(cliques) if set(old) <= set(c)), None)
        if k is not None:
            theta[cliques[k]] = theta[cliques[k]] + expand(values, old, cliques[k])
    lip = np.zeros(len(cliques))
    for m, k in zip(measurements, owner, strict=True):
        ratio = np.prod(shape_of(cliques[k], sizes)) / np.prod(shape_of(m.clique, sizes))
        lip[k] += float(np.max(1.0 / np.square(m.std))) * ratio
    alpha = 2.0 / (float(lip.max()) * total)

    def marginals(th: dict[Clique, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        # Each tree clique's potential: the sum of its measured cliques' (a broadcast view).
        parts: list[np.ndarray | float] = [0.0] * len(tree.cliques)
        for c, h in zip(cliques, home, strict=True):
            parts[h] = parts[h] + expand(th[c], c, tree.cliques[h])
        pots = [
            np.broadcast_to(p, shape_of(c, sizes)) for p, c in zip(parts, tree.cliques, strict=True)
        ]
        jt = calibrate(tree, sizes, pots, total)
        return jt, [sum_to(jt[h], tree.cliques[h], c) for c, h in zip(cliques, home, strict=True)]

    def loss_grad(mu: list[np.ndarray]) -> tuple[float, list[np.ndarray]]:
        loss = 0.0
        grad = [np.zeros_like(x) for x in mu]
        for m, k in zip(measurements, owner, strict=True):
            diff = (sum_to(mu[k], cliques[k], m.clique) - m.y) / m.std
            loss += 0.5 * float(np.vdot(diff, diff))
            grad[k] += expand(diff / m.std, m.clique, cliques[k])
        return loss, grad

    def watched(jt: list[np.ndarray]) -> np.ndarray:
        assert watch is not None
        return GraphicalModel(sizes, tree, jt, total).project(watch)

    jt, mu = marginals(theta)
    loss, grad = loss_grad(mu)
    start = block_start = watched(jt) if watch is not None else np.zeros(0)
    for t in range(max(iters, max_iters) if watch is not None else iters):
        if t % BLOCK == 0:
            if t >= iters:
                now = watched(jt)
                if np.abs(now - block_start).sum() <= settle * np.abs(now - start).sum():
                    break
                block_start = now
            if check is not None:
                check(t)
        theta2 = {c: theta[c] - alpha * g for c, g in zip(cliques, grad, strict=True)}
        jt2, mu2 = marginals(theta2)
        loss2, grad2 = loss_grad(mu2)
        gain = sum(float(np.vdot(g, a - b)) for g, a, b in zip(grad, mu, mu2, strict=True))
        if loss - loss2 >= 0.5 * alpha * gain:
            theta, jt, mu, loss, grad = theta2, jt2, mu2, loss2, grad2
            alpha *= 1.01
        else:
            alpha *= 0.5
    return Fit(GraphicalModel(sizes, tree, jt, total), theta, loss)
