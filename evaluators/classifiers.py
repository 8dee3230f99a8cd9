"""Small, seeded classifiers (and a ridge regressor) for ML efficacy and detection: softmax, ridge, a tiny MLP.

Why not scikit-learn: it is not a runtime dependency of synth. A linear model
over one-hot categories, z-scored numbers and one-hot quantile bins of each
number (so non-linear marginal effects are learnt) is fast, has no random
state, and is a fair judge for the *relative* question these metrics ask
(does a model trained on synthetic rows do as well as one trained on real
rows?). It is weaker than boosted trees at finding subtle interactions, which
would make a linear detector blind to broken relations between columns, so
detection uses a one-hidden-layer network (`mlp_scores`) instead.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import torch
from scipy.optimize import minimize

from evaluators.encoding import Encoder
from evaluators.fidelity import continuous_values

_N_BINS = 8


class Features:
    """Encoder output plus quantile-bin one-hots of each continuous column (edges from train)."""

    def __init__(self, encoder: Encoder, train: pl.DataFrame) -> None:
        self.encoder = encoder
        self.edges: dict[str, np.ndarray] = {}
        for col in encoder.codes:
            if col.continuous:
                x = continuous_values(train[col.name])
                x = x[~np.isnan(x)]
                if x.size:
                    self.edges[col.name] = np.unique(np.quantile(x, np.linspace(0, 1, _N_BINS + 1)[1:-1]))

    def transform(self, df: pl.DataFrame) -> np.ndarray:
        parts = [self.encoder.transform(df).astype(np.float64)]
        for name, edges in self.edges.items():
            x = continuous_values(df[name])
            b = np.searchsorted(edges, x, side="right")
            onehot = np.zeros((df.height, edges.size + 1))
            ok = ~np.isnan(x)
            onehot[np.nonzero(ok)[0], b[ok]] = 1.0
            parts.append(onehot)
        return np.hstack(parts)


def fit_softmax(
    x: np.ndarray, y: np.ndarray, n_classes: int, *, l2: float = 1e-2, max_iter: int = 100
) -> np.ndarray:
    """Multinomial logistic regression by L-BFGS; returns weights (p + 1) × classes."""
    n, p = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0

    def loss(w_flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = w_flat.reshape(p + 1, n_classes)
        z = xb @ w
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        grad = xb.T @ (np.exp(logp) - onehot) / n
        grad[:-1] += l2 * w[:-1]
        value = -float((onehot * logp).sum()) / n + 0.5 * l2 * float((w[:-1] ** 2).sum())
        return value, grad.ravel()

    w0 = np.zeros((p + 1) * n_classes)
    res = minimize(loss, w0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    return np.asarray(res.x).reshape(p + 1, n_classes)


def predict_proba(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    z = np.hstack([x, np.ones((x.shape[0], 1))]) @ w
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_ridge(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-5) -> np.ndarray:
    """Ridge regression in closed form; returns weights p + 1 (intercept last)."""
    n, p = x.shape
    xm, ym = x.mean(axis=0), y.mean()
    xc = x - xm
    w = np.linalg.solve(xc.T @ xc / n + l2 * np.eye(p), xc.T @ (y - ym) / n)
    return np.append(w, ym - xm @ w)


def predict_ridge(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return x @ w[:-1] + w[-1]


def mlp_scores(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    *,
    rng: np.random.Generator,
    hidden: int = 64,
    epochs: int = 12,
    batch: int = 512,
) -> np.ndarray:
    """P(y = 1) on x_test from a one-hidden-layer network: it sees interactions a linear model misses.

    Used by detection, where a broken relation between columns is the tell.
    Seeded from `rng` through a `torch.Generator`: no global random state.
    """
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    xt = torch.from_numpy(x_train.astype(np.float32))
    yt = torch.from_numpy(y_train.astype(np.float32))
    p = xt.shape[1]
    w1 = (torch.randn(p, hidden, generator=gen) / math.sqrt(p)).requires_grad_()
    b1 = torch.zeros(hidden, requires_grad=True)
    w2 = (torch.randn(hidden, 1, generator=gen) / math.sqrt(hidden)).requires_grad_()
    b2 = torch.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]
    opt = torch.optim.Adam(params, lr=3e-3, weight_decay=1e-4)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return (torch.relu(x @ w1 + b1) @ w2 + b2).squeeze(1)

    n = xt.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, batch):
            idx = perm[s : s + batch]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(forward(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return torch.sigmoid(forward(torch.from_numpy(x_test.astype(np.float32)))).numpy().astype(np.float64)
