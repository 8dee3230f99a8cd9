"""The conditional vector: which categorical column and value a generated row must take.

In DP mode the condition of a *fake* row is drawn from the layout's DP
frequencies (no data read), and the condition paired with a *real* row is
that row's own value in a uniformly chosen column. Real rows are drawn by
Poisson sampling alone, never stratified by category, so the condition is
a function of one row plus fresh randomness and per-sample clipping covers it.

In non-DP mode (CTGAN's training-by-sampling) conditions follow the log
frequencies and real rows are drawn to match them.
"""

from __future__ import annotations

import numpy as np
import torch

from generators.dpctgan.layout import Layout


def _padded(rows: list[np.ndarray], width: int) -> np.ndarray:
    out = np.zeros((len(rows), width), dtype=np.float64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


class CondSampler:
    """Builds condition vectors on `device` from a layout's categorical columns."""

    def __init__(self, layout: Layout, device: torch.device, probs: np.ndarray | None = None) -> None:
        cats = layout.categorical()
        self.n_cols = len(cats)
        self.width = layout.cond_width
        self.device = device
        widths = [c.width for _, c in cats]
        self.max_width = max(widths, default=1)
        self.cond_off = torch.tensor(np.cumsum([0, *widths])[:-1], dtype=torch.long, device=device)
        if probs is None:
            probs = _padded([np.asarray(c.freq) for _, c in cats], self.max_width)
        probs = probs / np.clip(probs.sum(axis=1, keepdims=True), 1e-12, None) if len(probs) else probs
        self.probs = torch.tensor(probs, dtype=torch.float32, device=device)

    def _vector(self, col: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
        cond = torch.zeros((len(col), self.width), device=self.device)
        if len(col):
            cond[torch.arange(len(col), device=self.device), self.cond_off[col] + slot] = 1.0
        return cond

    def fake(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(cond, column, slot) for n generated rows, drawn from the layout's frequencies."""
        if self.n_cols == 0:
            empty = torch.zeros(n, dtype=torch.long, device=self.device)
            return torch.zeros((n, 0), device=self.device), empty, empty
        col = torch.randint(0, self.n_cols, (n,), generator=gen, device=self.device)
        slot = torch.multinomial(self.probs[col], 1, generator=gen).squeeze(1) if n else col
        return self._vector(col, slot), col, slot

    def real(self, codes: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Condition for real rows: each row's own value in a uniformly drawn column."""
        n = codes.shape[0]
        if self.n_cols == 0:
            return torch.zeros((n, 0), device=self.device)
        col = torch.randint(0, self.n_cols, (n,), generator=gen, device=self.device)
        slot = codes[torch.arange(n, device=self.device), col]
        return self._vector(col, slot)


class MatchedRows:
    """Non-DP training-by-sampling: real row indices having a given (column, slot)."""

    def __init__(self, codes: np.ndarray, max_width: int, device: torch.device) -> None:
        n, k = codes.shape
        orders, starts, counts = [], [], []
        for j in range(k):
            order = np.argsort(codes[:, j], kind="stable")
            cnt = np.bincount(codes[:, j], minlength=max_width)
            orders.append(order)
            counts.append(cnt)
            starts.append(np.concatenate([[0], np.cumsum(cnt)[:-1]]) + j * n)
        self.order = torch.tensor(np.concatenate(orders) if k else np.zeros(0), dtype=torch.long,
                                  device=device)
        self.starts = torch.tensor(np.array(starts), dtype=torch.long, device=device)
        self.counts = np.array(counts, dtype=np.float64)
        self.counts_t = torch.tensor(self.counts, dtype=torch.float32, device=device)

    def log_probs(self) -> np.ndarray:
        """CTGAN's log-frequency: rare categories are conditioned on more often."""
        w = np.where(self.counts > 0, np.log1p(self.counts), 0.0)
        return w

    def draw(self, col: torch.Tensor, slot: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        u = torch.rand(len(col), generator=gen, device=col.device)
        cnt = self.counts_t[col, slot]
        pos = self.starts[col, slot] + torch.floor(u * cnt).long().clamp(min=0)
        return self.order[pos]
