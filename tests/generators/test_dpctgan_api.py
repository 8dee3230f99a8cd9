"""DP-CTGAN's public surface: registry name, constructor checks, devices."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

import generators
from generators import create_generator, generator_class
from generators.dpctgan import DPCTGAN, resolve_device
from synth.base.errors import InvalidArgument, PrivacyError
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema


def test_registered_under_its_name_and_exported() -> None:
    assert generator_class("dpctgan") is DPCTGAN
    assert generators.DPCTGAN is DPCTGAN
    import generators.dpctgan as mod

    assert mod.__all__ == ["DPCTGAN"]


@pytest.mark.parametrize(
    "params",
    [{"accountant": "gdp"}, {"epochs": 0}, {"max_grad_norm": 0.0}, {"preprocessing_share": 1.0},
     {"marginal_weight": -1.0}, {"device": "tpu"}, {"no_such_option": 1}],
)
def test_bad_parameters_are_invalid_arguments(params: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        create_generator("dpctgan", epsilon=1.0, **params)


def test_non_private_needs_the_sources_permission() -> None:
    with pytest.raises(PrivacyError, match="non-private"):
        create_generator("dpctgan", epsilon=None)
    one = TableSchema((ColumnSchema("x", ColumnKind.NUMERICAL, "double"),))
    assert create_generator("dpctgan", epsilon=None, allow_non_private=True).plan(one, 10) == []


def test_params_round_trip_through_the_constructor() -> None:
    gen = DPCTGAN(epsilon=2.0, epochs=3, generator_dim=[64], accountant="prv", checkpoint_every=2)
    again = DPCTGAN(**gen.params())
    assert again.params() == gen.params() and again.generator_dim == (64,)


def test_auto_device_follows_cuda_availability() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InvalidArgument, match="CUDA"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_and_samples_on_cuda(adult: pa.Table, adult_schema: TableSchema) -> None:
    gen = DPCTGAN(epsilon=1.0, epochs=1, device="cuda", batch_size=250)
    report = gen.fit(adult.slice(0, 2000), adult_schema, rng=np.random.default_rng(0))
    assert report.epsilon is not None and report.epsilon <= 1.0
    assert gen.sample_table(1000, seed=0).num_rows == 1000
