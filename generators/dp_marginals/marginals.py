"""The fitted model of one column: a released histogram and how to sample it.

Each marginal is a frozen description (the encoded layout is data): what
its bins are, their probabilities, where the null bin is. It samples with
the generator it is handed and nothing else, vectorised over rows. Its
JSON-able config and its arrays round-trip through `to_state`/`from_state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Marginal(Protocol):
    kind: ClassVar[str]
    name: str

    def sample(self, n: int, rng: np.random.Generator) -> pa.Array | np.ndarray: ...

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]: ...


def _draw_bins(probs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Bin index per row (inverse CDF on uniforms; the last bin takes the rounding slack)."""
    cdf = np.cumsum(probs)
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(probs) - 1)


@dataclass(frozen=True)
class BinnedMarginal:
    """A numerical or datetime column: equal-width bins on [lower, upper], points, nulls.

    `probs` has one entry per range bin, then one per exact point (values such
    as 0 that hold a mass of their own: zero-inflated columns like capital
    gains or rainfall), then one for null when the column is nullable. A value
    is drawn uniformly inside its bin; integer columns are rounded (their bins
    are centred on whole numbers) and every value is clipped to [lower, upper].
    """

    kind: ClassVar[str] = "binned"
    name: str
    edges: np.ndarray
    points: np.ndarray
    probs: np.ndarray
    lower: float
    upper: float
    integer: bool
    nullable: bool

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        idx = _draw_bins(self.probs, n, rng)
        n_bins = len(self.edges) - 1
        n_points = len(self.points)
        b = np.minimum(idx, n_bins - 1)
        lo, hi = self.edges[b], self.edges[b + 1]
        values = lo + rng.random(n) * (hi - lo)
        if self.integer:
            values = np.rint(values)
        values = np.clip(values, self.lower, self.upper)
        at_point = (idx >= n_bins) & (idx < n_bins + n_points)
        values[at_point] = self.points[idx[at_point] - n_bins]
        values[idx >= n_bins + n_points] = np.nan
        return values

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        config = {
            "name": self.name,
            "lower": self.lower,
            "upper": self.upper,
            "integer": self.integer,
            "nullable": self.nullable,
        }
        return config, {"edges": self.edges, "points": self.points, "probs": self.probs}

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> BinnedMarginal:
        return cls(
            name=str(config["name"]),
            edges=arrays["edges"],
            points=arrays["points"],
            probs=arrays["probs"],
            lower=float(config["lower"]),
            upper=float(config["upper"]),
            integer=bool(config["integer"]),
            nullable=bool(config["nullable"]),
        )


@dataclass(frozen=True)
class CategoricalMarginal:
    """A categorical or boolean column: one bin per released label, then a null bin.

    Labels are strings; the base casts them to the column's Arrow type
    ("true"/"false" to booleans, "13" to integers).
    """

    kind: ClassVar[str] = "categorical"
    name: str
    labels: tuple[str, ...]
    probs: np.ndarray
    nullable: bool

    def sample(self, n: int, rng: np.random.Generator) -> pa.Array:
        idx = _draw_bins(self.probs, n, rng)
        is_null = idx >= len(self.labels)
        indices = pa.array(np.where(is_null, 0, idx), mask=is_null)
        return pc.take(pa.array(self.labels or ("",), type=pa.string()), indices)

    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        config = {"name": self.name, "labels": list(self.labels), "nullable": self.nullable}
        return config, {"probs": self.probs}

    @classmethod
    def from_state(
        cls, config: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> CategoricalMarginal:
        return cls(
            name=str(config["name"]),
            labels=tuple(str(v) for v in config["labels"]),
            probs=arrays["probs"],
            nullable=bool(config["nullable"]),
        )


#: Restoring a saved marginal by the kind its config names.
MARGINAL_TYPES: dict[str, type[BinnedMarginal] | type[CategoricalMarginal]] = {
    BinnedMarginal.kind: BinnedMarginal,
    CategoricalMarginal.kind: CategoricalMarginal,
}
