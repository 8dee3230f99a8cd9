"""Adult split into train/holdout halves, and the tables the sanity laws compare."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from synth.base.tableio import split_holdout


@pytest.fixture(scope="session")
def adult_split(adult: pa.Table) -> tuple[pa.Table, pa.Table]:
    return split_holdout(adult, fraction=0.5, seed=7)


@pytest.fixture(scope="session")
def shuffled(adult_split: tuple[pa.Table, pa.Table]) -> pa.Table:
    """Each column of train permuted on its own: same marginals, no relations left."""
    train = pl.from_arrow(adult_split[0])
    assert isinstance(train, pl.DataFrame)
    rng = np.random.default_rng(3)
    return pl.DataFrame({c: train[c].gather(rng.permutation(train.height)) for c in train.columns}).to_arrow()
