"""Draw rows of codes from a calibrated junction tree, clique by clique.

The root clique's cells are drawn from its marginal; every later clique's new
attributes are drawn from its marginal conditioned on the separator values
already drawn. One vectorised inverse-CDF lookup per clique, whatever n is.
"""

from __future__ import annotations

import numpy as np

from generators.aim.estimation import GraphicalModel
from generators.aim.factor import shape_of


def sample_codes(model: GraphicalModel, n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows of attribute codes (n × d, int64) from the model's distribution."""
    t = model.tree
    sizes = model.sizes
    codes = np.zeros((n, len(sizes)), dtype=np.int64)
    for i in t.order:
        clique = t.cliques[i]
        sep = t.separator[i] if t.parent[i] >= 0 else ()
        new = tuple(a for a in clique if a not in sep)
        if not new or n == 0:
            continue
        perm = [clique.index(a) for a in sep] + [clique.index(a) for a in new]
        n_sep = int(np.prod(shape_of(sep, sizes), dtype=np.int64))
        n_new = int(np.prod(shape_of(new, sizes), dtype=np.int64))
        table = np.clip(np.transpose(model.marginals[i], perm).reshape(n_sep, n_new), 0.0, None)
        rows = table.sum(axis=1, keepdims=True)
        cond = np.where(rows > 0, table / np.where(rows > 0, rows, 1.0), 1.0 / n_new)
        cdf = np.cumsum(cond, axis=1)
        cdf[:, -1] = 1.0
        s_idx = (
            np.ravel_multi_index(tuple(codes[:, a] for a in sep), shape_of(sep, sizes))
            if sep
            else np.zeros(n, dtype=np.int64)
        )
        # Row s's CDF is shifted to (s, s + 1]: one sorted array serves every row.
        flat = (cdf + np.arange(n_sep, dtype=np.float64)[:, None]).ravel()
        pos = np.searchsorted(flat, s_idx + rng.random(n), side="right")
        k = np.clip(pos - s_idx * n_new, 0, n_new - 1)
        picked = np.unravel_index(k, shape_of(new, sizes))
        for a, v in zip(new, picked, strict=True):
            codes[:, a] = v
    return codes
