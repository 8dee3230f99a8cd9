"""One numeric encoding of mixed-type rows, shared by distances, attacks and models.

Why one encoding: the distance the risk metrics use and the features the
models learn from should see a column the same way. Continuous columns are
z-scored with the train table's mean and standard deviation (so one standard
deviation weighs like one category mismatch); a null gets value 0 and a
null-indicator dimension. Discrete columns are one-hot encoded over the values
of all tables (null is a value) and scaled by 1/√2, so that a mismatch adds
exactly 1 to the squared Euclidean distance:

    d²(x, y) = Σ_continuous (z_x − z_y)² + Σ_nulls [null_x ≠ null_y] + Σ_discrete [x ≠ y]

Squared Euclidean distance lets the nearest-neighbour search run as matrix
products (see `neighbors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from evaluators.fidelity import continuous_values
from evaluators.inputs import CONTINUOUS
from synth.base.schema import ColumnSchema

_HALF = 1.0 / math.sqrt(2.0)


@dataclass(frozen=True)
class ColumnCode:
    """How one column is encoded: its slice of dimensions and its raw codes."""

    name: str
    continuous: bool
    dims: slice
    mean: float = 0.0
    std: float = 1.0
    categories: tuple[str | None, ...] = ()


class Encoder:
    """Fitted on the train table; encodes any table with the same columns.

    Category lists come from every table passed to `fit` so that codes agree
    across synthetic, train and holdout.
    """

    def __init__(self, columns: list[ColumnSchema]) -> None:
        self.columns = columns
        self.codes: list[ColumnCode] = []
        self.width = 0

    def fit(self, train: pl.DataFrame, *others: pl.DataFrame) -> Encoder:
        codes = []
        at = 0
        for c in self.columns:
            if c.kind in CONTINUOUS:
                x = continuous_values(train[c.name])
                ok = x[~np.isnan(x)]
                mean = float(ok.mean()) if ok.size else 0.0
                std = float(ok.std()) if ok.size else 1.0
                has_null = any(f[c.name].null_count() > 0 for f in (train, *others))
                width = 2 if has_null else 1
                codes.append(ColumnCode(c.name, True, slice(at, at + width), mean, std or 1.0))
            else:
                vals = pl.concat([f[c.name].cast(pl.String) for f in (train, *others)])
                cats = tuple(vals.unique(maintain_order=False).sort(nulls_last=True).to_list())
                width = len(cats)
                codes.append(ColumnCode(c.name, False, slice(at, at + width), categories=cats))
            at += width
        self.codes = codes
        self.width = at
        return self

    def integer_codes(self, df: pl.DataFrame, col: ColumnCode) -> np.ndarray:
        """Category index of each row (null has its own index)."""
        mapping = pl.DataFrame(
            {"__v": pl.Series(list(col.categories), dtype=pl.String),
             "__i": np.arange(len(col.categories), dtype=np.int64)}
        )
        s = df.select(pl.col(col.name).cast(pl.String).alias("__v"))
        joined = s.join(mapping, on="__v", how="left", nulls_equal=True, maintain_order="left")
        return joined["__i"].fill_null(-1).to_numpy()

    def transform(self, df: pl.DataFrame) -> np.ndarray:
        """Rows as float32 vectors whose squared distances are the mixed-type distance."""
        out = np.zeros((df.height, self.width), dtype=np.float32)
        for col in self.codes:
            if col.continuous:
                x = continuous_values(df[col.name])
                null = np.isnan(x)
                out[:, col.dims.start] = np.where(null, 0.0, (x - col.mean) / col.std)
                if col.dims.stop - col.dims.start == 2:
                    out[:, col.dims.start + 1] = null
            else:
                idx = self.integer_codes(df, col)
                rows = np.nonzero(idx >= 0)[0]
                out[rows, col.dims.start + idx[rows]] = _HALF
        return out

    def dims_of(self, names: list[str]) -> np.ndarray:
        """The encoded dimensions that belong to these columns."""
        keep = set(names)
        return np.concatenate(
            [np.arange(c.dims.start, c.dims.stop) for c in self.codes if c.name in keep]
        )
