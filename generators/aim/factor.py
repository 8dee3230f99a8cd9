"""Tables over a few discrete attributes, with the handful of operations Private-PGM needs.

A factor is an array with one axis per attribute, attributes kept in sorted
order so that two factors over the same set always line up. Attributes are
integers (column positions in the model's domain); sizes come from the domain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Clique = tuple[int, ...]


def shape_of(attrs: Clique, sizes: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(sizes[a]) for a in attrs)


def cells(attrs: Clique, sizes: Sequence[int]) -> int:
    return math.prod(int(sizes[a]) for a in attrs)


def expand(values: np.ndarray, attrs: Clique, target: Clique) -> np.ndarray:
    """View `values` (over `attrs`) so that it broadcasts against a table over `target` ⊇ attrs."""
    shape = [1] * len(target)
    pos = {a: i for i, a in enumerate(target)}
    for a, n in zip(attrs, values.shape, strict=True):
        shape[pos[a]] = n
    return values.reshape(shape)


def sum_to(values: np.ndarray, attrs: Clique, keep: Clique) -> np.ndarray:
    """Marginalise a table over `attrs` onto `keep` ⊆ attrs."""
    axes = tuple(i for i, a in enumerate(attrs) if a not in keep)
    return values.sum(axis=axes) if axes else values


def logsumexp_to(values: np.ndarray, attrs: Clique, keep: Clique) -> np.ndarray:
    """Log-space marginalisation: log Σ exp over the axes not in `keep`."""
    axes = tuple(i for i, a in enumerate(attrs) if a not in keep)
    if not axes:
        return values
    top = values.max(axis=axes, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    out = np.log(np.exp(values - top).sum(axis=axes))
    return out + top.reshape(out.shape)


def contract(operands: Sequence[tuple[np.ndarray, Clique]], out: Clique) -> np.ndarray:
    """Σ over the attributes not in `out` of the product of the operands (einsum, local labels)."""
    label: dict[int, int] = {}
    args: list[object] = []
    for values, attrs in operands:
        args.append(values)
        args.append([label.setdefault(a, len(label)) for a in attrs])
    args.append([label[a] for a in out])
    return np.einsum(*args, optimize=True)  # type: ignore[call-overload,no-any-return]


def joint_counts(codes: np.ndarray, attrs: Clique, sizes: Sequence[int]) -> np.ndarray:
    """Contingency table of the rows of `codes` (n × d ints) over `attrs`."""
    shape = shape_of(attrs, sizes)
    if not attrs:
        return np.array(float(codes.shape[0]))
    flat = np.ravel_multi_index(tuple(codes[:, a] for a in attrs), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(np.float64)
