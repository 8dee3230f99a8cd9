"""Exact k-nearest-neighbour search in blocks, never an n × m matrix in memory.

Squared Euclidean distances come from one float32 matrix product per block
(|q|² + |r|² − 2 q·r), which BLAS runs at full speed; the best k candidates of
each block are kept with `torch.topk` and merged. The winners' distances are
then recomputed exactly in float64 from the rows themselves, so an identical
row is at distance exactly 0 and rounding in the product never decides a tie.
Memory is bounded by `block_bytes` whatever the table sizes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

Tick = Callable[[float], None]


def knn(
    queries: np.ndarray,
    refs: np.ndarray,
    *,
    k: int = 1,
    block_bytes: int = 128 << 20,
    tick: Tick | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(squared distances, indices), each n_queries × k, nearest first.

    `tick(fraction)` is called after every block; it may raise to stop.
    """
    n, m = queries.shape[0], refs.shape[0]
    if m == 0:
        raise ValueError("no reference rows to search")
    k = min(k, m)
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    r = torch.from_numpy(np.ascontiguousarray(refs, dtype=np.float32))
    q_sq = (q * q).sum(dim=1, keepdim=True)
    r_sq = (r * r).sum(dim=1)
    ref_chunk = max(k, min(m, 65536))
    q_block = max(1, min(n, block_bytes // (4 * ref_chunk)))
    best_d = torch.empty((n, k), dtype=torch.float32)
    best_i = torch.empty((n, k), dtype=torch.int64)
    total = max(1, n)
    with torch.no_grad():
        for qs in range(0, n, q_block):
            qe = min(n, qs + q_block)
            cand_d, cand_i = [], []
            for rs in range(0, m, ref_chunk):
                re = min(m, rs + ref_chunk)
                d = torch.addmm(r_sq[rs:re].unsqueeze(0), q[qs:qe], r[rs:re].T, alpha=-2.0)
                d += q_sq[qs:qe]
                kk = min(k, re - rs)
                v, i = torch.topk(d, kk, dim=1, largest=False, sorted=False)
                cand_d.append(v)
                cand_i.append(i + rs)
            dd = torch.cat(cand_d, dim=1)
            ii = torch.cat(cand_i, dim=1)
            v, pos = torch.topk(dd, k, dim=1, largest=False, sorted=True)
            best_d[qs:qe] = v
            best_i[qs:qe] = torch.gather(ii, 1, pos)
            if tick is not None:
                tick(qe / total)
    idx = best_i.numpy()
    exact = exact_sq_distances(queries, refs, idx)
    order = np.argsort(exact, axis=1, kind="stable")
    return np.take_along_axis(exact, order, 1), np.take_along_axis(idx, order, 1)


def exact_sq_distances(queries: np.ndarray, refs: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Squared distances of each query to its listed reference rows, in float64."""
    out = np.empty(idx.shape, dtype=np.float64)
    q64 = queries.astype(np.float64)
    for j in range(idx.shape[1]):
        diff = q64 - refs[idx[:, j]].astype(np.float64)
        out[:, j] = (diff * diff).sum(axis=1)
    return out
