"""A junction tree for a set of cliques: triangulate, then join the maximal cliques.

Exact inference on a graphical model costs the total size of its junction
tree's cliques, so this size is what AIM's model-size limit and the memory
cap are measured in. Triangulation is greedy (min-fill, ties by size), which
adds no edge to a graph that is already chordal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from generators.aim.factor import Clique, cells


@dataclass(frozen=True)
class JunctionTree:
    """Maximal cliques and a spanning tree over them, rooted at clique 0.

    `order` lists cliques root first, each after its parent; `parent[i]` is -1
    for the root; `separator[i]` is clique i ∩ its parent (empty between
    disconnected parts of the graph).
    """

    cliques: tuple[Clique, ...]
    parent: tuple[int, ...]
    order: tuple[int, ...]
    separator: tuple[Clique, ...]

    def size(self, sizes: Sequence[int]) -> int:
        return sum(cells(c, sizes) for c in self.cliques)

    def children(self, i: int) -> list[int]:
        return [j for j in self.order if self.parent[j] == i]

    def home(self, clique: Clique) -> int:
        """Index of the smallest tree clique containing `clique` (-1 if none does)."""
        best, best_len = -1, 1 << 62
        s = set(clique)
        for i, c in enumerate(self.cliques):
            if s <= set(c) and len(c) < best_len:
                best, best_len = i, len(c)
        return best


def _eliminate(n_attrs: int, cliques: Sequence[Clique], sizes: Sequence[int]) -> list[Clique]:
    adj: list[set[int]] = [set() for _ in range(n_attrs)]
    for c in cliques:
        for a in c:
            adj[a].update(b for b in c if b != a)
    remaining = set(range(n_attrs))
    found: list[Clique] = []
    while remaining:
        best_v, best_cost = -1, (1 << 62, 1 << 62)
        for v in sorted(remaining):
            nb = adj[v] & remaining
            fill = sum(len(nb - adj[x] - {x}) for x in nb) // 2
            if fill > best_cost[0]:
                continue
            cost = (fill, sizes[v] * math.prod(sizes[x] for x in nb))
            if cost < best_cost:
                best_v, best_cost = v, cost
        nb = adj[best_v] & remaining
        for x in nb:
            adj[x].update(nb - {x})
        found.append(tuple(sorted({best_v, *nb})))
        remaining.discard(best_v)
    sets = [set(c) for c in found]
    maximal = [c for c, sc in zip(found, sets, strict=True) if not any(sc < o for o in sets)]
    return sorted(set(maximal), key=lambda c: (-len(c), c))


def junction_tree(n_attrs: int, cliques: Sequence[Clique], sizes: Sequence[int]) -> JunctionTree:
    """Triangulate the graph whose edges join the attributes of each clique; build the tree.

    Every attribute appears in some tree clique (isolated ones on their own).
    """
    maximal = _eliminate(n_attrs, cliques, sizes)
    k = len(maximal)
    # Maximum-weight spanning tree on separator sizes (Prim's, from clique 0).
    in_tree = [False] * k
    parent = [-1] * k
    best = [-1] * k
    in_tree[0] = True
    order = [0]
    for j in range(1, k):
        best[j] = len(set(maximal[0]) & set(maximal[j]))
        parent[j] = 0
    for _ in range(k - 1):
        j = max((x for x in range(k) if not in_tree[x]), key=lambda x: (best[x], -x))
        in_tree[j] = True
        order.append(j)
        for x in range(k):
            if not in_tree[x]:
                w = len(set(maximal[j]) & set(maximal[x]))
                if w > best[x]:
                    best[x], parent[x] = w, j
    sep = tuple(
        tuple(sorted(set(maximal[i]) & set(maximal[parent[i]]))) if parent[i] >= 0 else ()
        for i in range(k)
    )
    return JunctionTree(tuple(maximal), tuple(parent), tuple(order), sep)


def model_size(n_attrs: int, cliques: Sequence[Clique], sizes: Sequence[int]) -> int:
    """Cells of the junction tree the cliques would need (what exact inference costs)."""
    return junction_tree(n_attrs, cliques, sizes).size(sizes)
