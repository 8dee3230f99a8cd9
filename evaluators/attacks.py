"""Singling out, linkability and attribute inference, in the model anonymeter made known.

Each attack is run three times: against the train records (the attack), against
holdout records the generator never saw (the control), and as a random
guesser (the baseline). What the attack achieves on the control is what any
faithful model allows; only the excess is a leak:

    risk = (attack − control) / (1 − control)

with the interval propagated from the two Wilson intervals (`stats.residual_risk`).
This is an independent implementation of the published method (Giomi et al.,
PoPETs 2023); anonymeter itself is not a dependency. Where the two differ it
is said below and measured in bench/bench_evaluators.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl
from scipy.optimize import curve_fit

from evaluators.neighbors import knn
from evaluators.stats import Estimate, residual_risk, wilson

Op = Literal["eq", "ne", "lt", "gt", "le", "ge", "null", "notnull"]


@dataclass(frozen=True)
class AttackResult:
    """One attack's success rates and its residual risk."""

    attack: str
    n_attacks: int
    attack_rate: Estimate
    control_rate: Estimate
    baseline_rate: Estimate
    risk: Estimate
    detail: dict[str, object] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, object]:
        return {
            "attack": self.attack,
            "n_attacks": self.n_attacks,
            "attack_rate": self.attack_rate.to_json_dict(),
            "control_rate": self.control_rate.to_json_dict(),
            "baseline_rate": self.baseline_rate.to_json_dict(),
            "risk": self.risk.to_json_dict(),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Columns:
    """A table as one array per column: float64 with NaN for continuous, int codes for discrete."""

    values: tuple[np.ndarray, ...]
    continuous: tuple[bool, ...]
    null_code: tuple[int, ...]  # the code of null in each discrete column (-1 when none)

    @property
    def n_rows(self) -> int:
        return self.values[0].shape[0] if self.values else 0

    def take(self, idx: np.ndarray) -> Columns:
        return Columns(tuple(v[idx] for v in self.values), self.continuous, self.null_code)

    def unique_rows(self) -> Columns:
        """Deduplicated, as anonymeter's singling out sees a table."""
        stacked = np.column_stack([np.nan_to_num(v, nan=np.inf) if c else v.astype(np.float64)
                                   for v, c in zip(self.values, self.continuous, strict=True)])
        _, first = np.unique(stacked, axis=0, return_index=True)
        return self.take(np.sort(first))


Query = tuple[tuple[int, Op, float], ...]


def _frame(t: Columns) -> pl.DataFrame:
    """The table as polars columns c0, c1, ... (continuous NaN as null) to count queries in bulk."""
    return pl.DataFrame({f"c{i}": (pl.Series(v).fill_nan(None) if c else pl.Series(v))
                         for i, (v, c) in enumerate(zip(t.values, t.continuous, strict=True))})


def _expr(q: Query, t: Columns) -> pl.Expr:
    parts = []
    for col, op, v in q:
        x = pl.col(f"c{col}")
        if op in ("null", "notnull"):
            e = x.is_null() if t.continuous[col] else x == t.null_code[col]
            parts.append(e if op == "null" else ~e)
        else:
            parts.append(_OPS[op](x, v))
    return pl.all_horizontal(parts)


_OPS = {
    "eq": lambda x, v: x == v,
    "ne": lambda x, v: x != v,
    "lt": lambda x, v: x < v,
    "gt": lambda x, v: x > v,
    "le": lambda x, v: x <= v,
    "ge": lambda x, v: x >= v,
}


def _counts(queries: list[Query], t: Columns, frame: pl.DataFrame) -> np.ndarray:
    """How many rows each query matches, evaluated by polars in one pass per 1,000 queries."""
    out: list[int] = []
    for s in range(0, len(queries), 1000):
        batch = queries[s : s + 1000]
        row = frame.select([_expr(q, t).sum().alias(f"q{i}") for i, q in enumerate(batch)]).row(0)
        out.extend(int(x) for x in row)
    return np.asarray(out, dtype=np.int64)


def _masks(queries: list[Query], t: Columns, frame: pl.DataFrame) -> np.ndarray:
    """queries × rows: which rows each query matches."""
    cols = frame.select([_expr(q, t).alias(f"q{i}") for i, q in enumerate(queries)])
    return cols.to_numpy().T.astype(bool)


def _record_query(t: Columns, row: int, cols: np.ndarray, medians: list[float]) -> Query:
    """A query that describes one record: its value on each chosen column (≥/≤ for numbers)."""
    parts: list[tuple[int, Op, float]] = []
    for c in sorted(int(x) for x in cols):
        v = float(t.values[c][row])
        if t.continuous[c]:
            if math.isnan(v):
                parts.append((c, "null", 0.0))
            else:
                parts.append((c, "ge" if v > medians[c] else "le", v))
        elif int(v) == t.null_code[c]:
            parts.append((c, "null", 0.0))
        else:
            parts.append((c, "eq", v))
    return tuple(parts)


def _random_query(t: Columns, cols: np.ndarray, rng: np.random.Generator) -> Query:
    parts: list[tuple[int, Op, float]] = []
    for c in sorted(int(x) for x in cols):
        v = float(t.values[c][rng.integers(t.n_rows)])
        is_null = math.isnan(v) if t.continuous[c] else int(v) == t.null_code[c]
        if is_null:
            parts.append((c, "null" if rng.random() < 0.5 else "notnull", 0.0))
        else:
            ops: tuple[Op, ...] = ("eq", "ne", "lt", "gt", "le", "ge") if t.continuous[c] else ("eq", "ne")
            parts.append((c, ops[int(rng.integers(len(ops)))], v))
    return tuple(parts)


def singling_out(
    syn: Columns,
    train: Columns,
    control: Columns,
    *,
    n_attacks: int,
    n_cols: int,
    rng: np.random.Generator,
    confidence: float,
    max_attempts: int | None = None,
) -> AttackResult:
    """Queries that isolate one synthetic record; success when they isolate one train record."""
    syn, train, control = syn.unique_rows(), train.unique_rows(), control.unique_rows()
    n_cols = min(n_cols, len(syn.values))
    medians = [float(np.nanmedian(v)) if c and not np.all(np.isnan(v)) else 0.0
               for v, c in zip(syn.values, syn.continuous, strict=True)]
    syn_frame, train_frame, control_frame = _frame(syn), _frame(train), _frame(control)
    found: dict[Query, None] = {}
    attempts = 0
    limit = max_attempts if max_attempts is not None else 50 * n_attacks
    while len(found) < n_attacks and attempts < limit:
        batch_size = min(1000, limit - attempts)
        rows = rng.integers(syn.n_rows, size=batch_size)
        batch = list(dict.fromkeys(
            _record_query(syn, int(r), rng.choice(len(syn.values), n_cols, replace=False), medians)
            for r in rows))
        batch = [q for q in batch if q not in found]
        attempts += batch_size
        for q, c in zip(batch, _counts(batch, syn, syn_frame), strict=True):
            if c == 1 and len(found) < n_attacks:
                found[q] = None
    queries = list(found)
    n = len(queries)
    if n == 0:
        nan = Estimate(math.nan, math.nan, math.nan)
        return AttackResult("singling_out", 0, nan, nan, nan, nan, {"attempts": attempts})
    hits = int((_counts(queries, train, train_frame) == 1).sum())
    control_masks = _masks(queries, control, control_frame)
    control_hits = float((control_masks.sum(axis=1) == 1).sum())
    correction = _size_correction(control_masks, train.n_rows, rng)
    control_hits = min(float(n), control_hits * correction)
    baseline_q = [_random_query(syn, rng.choice(len(syn.values), n_cols, replace=False), rng)
                  for _ in range(n)]
    base_hits = int((_counts(baseline_q, train, train_frame) == 1).sum())
    return AttackResult(
        "singling_out", n,
        wilson(hits, n, confidence=confidence),
        wilson(control_hits, n, confidence=confidence),
        wilson(base_hits, n, confidence=confidence),
        residual_risk(hits, n, control_hits, n, confidence=confidence),
        {"n_cols": n_cols, "attempts": attempts, "control_size_correction": correction},
    )


def _singling_out_probability(n: np.ndarray, w: float) -> np.ndarray:
    """∫₀ʷ n·x·(1−x)^(n−1) dx: the chance a query of weight ≤ w isolates one of n records."""
    return (1.0 - (n * w + 1.0) * (1.0 - w) ** n) / (n + 1.0)


def _size_correction(masks: np.ndarray, n_target: int, rng: np.random.Generator) -> float:
    """Scale control successes from the control's size to the train table's.

    A query isolates a record more easily in a smaller table. As anonymeter
    does, the number of isolating queries is measured on subsamples of the
    control, a model of it fitted against size, and read off at the train size.
    """
    n_c = masks.shape[1]
    if n_c == n_target or n_c < 2:
        return 1.0
    sizes, successes = [], []
    for size in np.linspace(min(1000, n_c), n_c, 10).astype(int):
        for _ in range(5):
            idx = rng.choice(n_c, size, replace=False)
            successes.append(int((masks[:, idx].sum(axis=1) == 1).sum()))
            sizes.append(size)
    x = np.asarray(sizes, dtype=np.float64)
    y = np.asarray(successes, dtype=np.float64)

    def model(n: np.ndarray, w: float, norm: float) -> np.ndarray:
        return norm * _singling_out_probability(n, w)

    w0 = 1.0 / x.max()
    p0 = (w0, max(y.max(), 1.0) / float(_singling_out_probability(np.array([x.max()]), w0)[0]))
    try:
        popt, _ = curve_fit(model, x, y, p0=p0, bounds=(0, (1, np.inf)), maxfev=5000)
    except (RuntimeError, ValueError):
        return 1.0
    at_c = float(model(np.array([float(n_c)]), *popt)[0])
    at_t = float(model(np.array([float(n_target)]), *popt)[0])
    return at_t / at_c if at_c > 0 else 1.0


def linkability(
    syn_x: np.ndarray,
    train_x: np.ndarray,
    control_x: np.ndarray,
    dims: tuple[np.ndarray, np.ndarray],
    *,
    n_attacks: int,
    n_neighbors: int,
    rng: np.random.Generator,
    confidence: float,
) -> AttackResult:
    """Link two halves of a record through the synthetic table: success when their nearest
    synthetic neighbours (on each half's columns) share a row."""

    def links(targets: np.ndarray) -> int:
        a = knn(targets[:, dims[0]], syn_x[:, dims[0]], k=n_neighbors)[1]
        b = knn(targets[:, dims[1]], syn_x[:, dims[1]], k=n_neighbors)[1]
        return int(sum(bool(set(r0) & set(r1)) for r0, r1 in zip(a.tolist(), b.tolist(), strict=True)))

    n = min(n_attacks, train_x.shape[0], control_x.shape[0])
    hits = links(train_x[rng.choice(train_x.shape[0], n, replace=False)])
    control_hits = links(control_x[rng.choice(control_x.shape[0], n, replace=False)])
    k = min(n_neighbors, syn_x.shape[0])
    base = sum(bool(set(rng.choice(syn_x.shape[0], k, replace=False)) &
                    set(rng.choice(syn_x.shape[0], k, replace=False))) for _ in range(n))
    return AttackResult(
        "linkability", n,
        wilson(hits, n, confidence=confidence),
        wilson(control_hits, n, confidence=confidence),
        wilson(base, n, confidence=confidence),
        residual_risk(hits, n, control_hits, n, confidence=confidence),
        {"n_neighbors": n_neighbors},
    )


def inference(
    syn_x: np.ndarray,
    train_x: np.ndarray,
    control_x: np.ndarray,
    aux_dims: np.ndarray,
    syn_secret: np.ndarray,
    train_secret: np.ndarray,
    control_secret: np.ndarray,
    *,
    continuous: bool,
    n_attacks: int,
    rng: np.random.Generator,
    confidence: float,
    tolerance: float = 0.05,
) -> AttackResult:
    """Guess a secret column from the nearest synthetic record on the other columns.

    A numerical guess is right within `tolerance` of the true value (relative to
    the true value; anonymeter divides by the guess instead); a categorical one
    when equal. Null guesses a null right.
    """

    def correct(guess: np.ndarray, truth: np.ndarray) -> int:
        if continuous:
            both_null = np.isnan(guess) & np.isnan(truth)
            close = np.abs(guess - truth) <= tolerance * np.abs(truth)
            return int((both_null | close).sum())
        return int((guess == truth).sum())

    def attack(x: np.ndarray, secret: np.ndarray) -> int:
        idx = rng.choice(x.shape[0], n, replace=False)
        nearest = knn(x[idx][:, aux_dims], syn_x[:, aux_dims], k=1)[1][:, 0]
        return correct(syn_secret[nearest], secret[idx])

    n = min(n_attacks, train_x.shape[0], control_x.shape[0])
    hits = attack(train_x, train_secret)
    control_hits = attack(control_x, control_secret)
    targets = rng.choice(train_x.shape[0], n, replace=False)
    base = correct(syn_secret[rng.choice(syn_x.shape[0], n)], train_secret[targets])
    return AttackResult(
        "inference", n,
        wilson(hits, n, confidence=confidence),
        wilson(control_hits, n, confidence=confidence),
        wilson(base, n, confidence=confidence),
        residual_risk(hits, n, control_hits, n, confidence=confidence),
        {},
    )
