"""`preprocessing_share` is the one name of the preprocessing budget share in every generator.

AIM's `prep_share` and DPMarginals' `discovery_share` still work for one
release, with a DeprecationWarning; a model saved under an old name loads silently.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from generators import create_generator, generator_class, load_generator
from generators.base import CONFIG_FILE
from synth.base.errors import InvalidArgument
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema

OLD_NAMES = [("aim", "prep_share"), ("dp_marginals", "discovery_share")]


@pytest.mark.parametrize("kind", ["aim", "dp_marginals", "dpctgan"])
def test_every_generator_calls_it_preprocessing_share(kind: str) -> None:
    gen = create_generator(kind, epsilon=1.0, preprocessing_share=0.2)
    assert gen.params()["preprocessing_share"] == 0.2


@pytest.mark.parametrize(("kind", "old"), OLD_NAMES)
def test_the_old_name_warns_and_still_works(kind: str, old: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"{old}.*preprocessing_share"):
        gen = create_generator(kind, epsilon=1.0, **{old: 0.2})
    params = gen.params()
    assert params["preprocessing_share"] == 0.2
    assert old not in params


@pytest.mark.parametrize(("kind", "old"), OLD_NAMES)
def test_both_names_at_once_are_refused(kind: str, old: str) -> None:
    with pytest.raises(InvalidArgument, match="preprocessing_share"):
        generator_class(kind)(epsilon=1.0, preprocessing_share=0.3, **{old: 0.2})


@pytest.mark.parametrize(("kind", "old"), OLD_NAMES)
def test_a_model_saved_under_the_old_name_loads_silently(kind: str, old: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = pa.table({
        "x": pa.array(rng.normal(size=2_000)),
        "c": pa.array(rng.choice(["a", "b", "c"], size=2_000)),
    })
    schema = TableSchema((
        ColumnSchema("x", ColumnKind.NUMERICAL, "double", nullable=False),
        ColumnSchema("c", ColumnKind.CATEGORICAL, "string", nullable=False),
    ))
    gen = create_generator(kind, epsilon=1.0, preprocessing_share=0.2)
    gen.fit(table, schema, rng=np.random.default_rng(1))
    gen.save(tmp_path)
    doc = json.loads((tmp_path / CONFIG_FILE).read_text())
    doc["params"][old] = doc["params"].pop("preprocessing_share")  # as an older version wrote it
    (tmp_path / CONFIG_FILE).write_text(json.dumps(doc))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        loaded = load_generator(tmp_path)
    assert loaded.params() == gen.params()
    assert loaded.sample_table(50, seed=3).equals(gen.sample_table(50, seed=3))
