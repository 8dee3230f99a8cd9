"""The encoded layout is data: one frozen description per column drives everything.

The transformer encodes with it, the generator's output activations follow
its spans, the conditional sampler draws from its frequencies, and the
inverse transform decodes with it. Every number in a layout is either a
public schema declaration or the output of a DP measurement (see
`preprocess.py`), so a layout may be saved and released with the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: The value written for categories folded into "other" (rare or undeclared).
OTHER = "__other__"


@dataclass(frozen=True)
class NumericalSpec:
    """Mode-specific normalisation from DP quantiles (or public bounds only).

    Modes are intervals [center - half, center + half]; a mode with
    `half == 0` is a point mass (e.g. the many zeros of `capital_gain`).
    Encoded as one scalar α ∈ [-1, 1] (tanh) plus a one-hot over the modes,
    with one more slot for null when the column is nullable.
    """

    name: str
    lower: float
    upper: float
    integer: bool
    centers: tuple[float, ...]
    halves: tuple[float, ...]
    nullable: bool
    #: Share of rows per mode (then null), from the same DP histogram as the
    #: modes, or uniform when only public bounds are known. The generator is
    #: pulled toward it: post-processing of released numbers, no extra cost.
    freq: tuple[float, ...] = ()

    @property
    def n_modes(self) -> int:
        return len(self.centers)

    @property
    def width(self) -> int:
        return 1 + self.n_modes + int(self.nullable)

    def to_json(self) -> dict[str, Any]:
        return {"type": "numerical", **self.__dict__, "centers": list(self.centers),
                "halves": list(self.halves), "freq": list(self.freq)}


@dataclass(frozen=True)
class CategoricalSpec:
    """A one-hot over `values`, then an "other" slot and a null slot where present.

    `freq` is the (DP or public-uniform) probability of each slot: the
    conditional sampler draws from it, never from the raw data.
    """

    name: str
    values: tuple[str, ...]
    other: bool
    nullable: bool
    freq: tuple[float, ...]
    boolean: bool = False

    @property
    def width(self) -> int:
        return len(self.values) + int(self.other) + int(self.nullable)

    @property
    def other_slot(self) -> int | None:
        return len(self.values) if self.other else None

    @property
    def null_slot(self) -> int | None:
        return self.width - 1 if self.nullable else None

    def to_json(self) -> dict[str, Any]:
        return {"type": "categorical", **self.__dict__, "values": list(self.values),
                "freq": list(self.freq)}


ColumnSpec = NumericalSpec | CategoricalSpec


@dataclass(frozen=True)
class Span:
    """A slice of the encoded row and how the generator activates it."""

    start: int
    stop: int
    activation: str  # "tanh" or "softmax"


@dataclass(frozen=True)
class Layout:
    """All columns' specs, in schema order, with the derived span arithmetic."""

    columns: tuple[ColumnSpec, ...]

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)

    def spans(self) -> list[Span]:
        out, pos = [], 0
        for c in self.columns:
            if isinstance(c, NumericalSpec):
                out.append(Span(pos, pos + 1, "tanh"))
                out.append(Span(pos + 1, pos + c.width, "softmax"))
            else:
                out.append(Span(pos, pos + c.width, "softmax"))
            pos += c.width
        return out

    def offsets(self) -> list[int]:
        """Start of each column in the encoded row."""
        return list(np.cumsum([0] + [c.width for c in self.columns])[:-1])

    def categorical(self) -> list[tuple[int, CategoricalSpec]]:
        """(offset in the encoded row, spec) of each categorical column."""
        return [(o, c) for o, c in zip(self.offsets(), self.columns, strict=True)
                if isinstance(c, CategoricalSpec)]

    @property
    def cond_width(self) -> int:
        return sum(c.width for _, c in self.categorical())

    def span_targets(self) -> list[np.ndarray]:
        """The target distribution of each one-hot span, in span order (uniform if unknown)."""
        out = []
        for c in self.columns:
            width = c.n_modes + int(c.nullable) if isinstance(c, NumericalSpec) else c.width
            f = np.asarray(c.freq, dtype=np.float64)
            out.append(f / f.sum() if f.size == width and f.sum() > 0 else np.full(width, 1.0 / width))
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self.columns]

    @classmethod
    def from_json(cls, doc: list[dict[str, Any]]) -> Layout:
        cols: list[ColumnSpec] = []
        for d in doc:
            d = dict(d)
            kind = d.pop("type")
            if kind == "numerical":
                cols.append(NumericalSpec(**{**d, "centers": tuple(d["centers"]),
                                             "halves": tuple(d["halves"]),
                                             "freq": tuple(d.get("freq", ()))}))
            else:
                cols.append(CategoricalSpec(**{**d, "values": tuple(d["values"]),
                                               "freq": tuple(d["freq"])}))
        return cls(tuple(cols))
