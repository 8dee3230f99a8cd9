"""DP-CTGAN's layout: public declarations, DP measurements, encode/decode, no unpaid reads."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import generators.dpctgan.preprocess as preprocess
from generators.dpctgan import DPCTGAN
from generators.dpctgan.layout import OTHER, CategoricalSpec, Layout, NumericalSpec
from generators.dpctgan.preprocess import DPMeasurer, ExactMeasurer, build_layout
from generators.dpctgan.transformer import decode, encode, split_encoded
from generators.privacy import ZCDPBudget
from synth.base.errors import PrivacyError
from synth.base.randomness import RandomStreams
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema

TINY = pa.table({
    "x": pa.array([0.0, 0.0, 0.0, 1.0, 2.0, 3.0, None, 10.0]),
    "c": pa.array(["a", "a", "b", None, "a", "b", "a", "zz"]),
    "flag": pa.array([True, False, True, True, None, False, True, True]),
})
TINY_SCHEMA = TableSchema((
    ColumnSchema("x", ColumnKind.NUMERICAL, "double", nullable=True),
    ColumnSchema("c", ColumnKind.CATEGORICAL, "string", nullable=True),
    ColumnSchema("flag", ColumnKind.BOOLEAN, "bool", nullable=True),
))


def public_schema() -> TableSchema:
    return TableSchema((
        ColumnSchema("x", ColumnKind.NUMERICAL, "double", nullable=True, lower=0.0, upper=10.0),
        ColumnSchema("c", ColumnKind.CATEGORICAL, "string", nullable=True, categories=("a", "b", "zz")),
        ColumnSchema("flag", ColumnKind.BOOLEAN, "bool", nullable=True),
    ))


def test_exact_layout_of_a_hand_checked_table() -> None:
    layout = build_layout(TINY, TINY_SCHEMA, ExactMeasurer(), preprocess.ModeConfig(n_modes=2, point_share=0.3))
    x, c, flag = layout.columns
    assert isinstance(x, NumericalSpec) and isinstance(c, CategoricalSpec) and isinstance(flag, CategoricalSpec)
    assert (x.lower, x.upper) == (0.0, 10.0)
    assert x.centers[0] == 0.0 and x.halves[0] == 0.0  # 3 of 7 values are 0: a point mass
    assert x.nullable and x.width == 1 + x.n_modes + 1
    assert len(x.freq) == x.n_modes + 1 and x.freq[0] == pytest.approx(3 / 8)  # the zeros
    assert x.freq[-1] == pytest.approx(1 / 8) and sum(x.freq) == pytest.approx(1.0)  # null, total
    assert c.values == ("a", "b", "zz") and c.other and c.nullable
    assert c.freq == pytest.approx((4 / 8, 2 / 8, 1 / 8, 0.0, 1 / 8))  # a, b, zz, other, null
    assert flag.values == ("false", "true") and flag.freq == pytest.approx((2 / 8, 5 / 8, 1 / 8))


def test_encode_decode_round_trip_on_the_tiny_table() -> None:
    layout = build_layout(TINY, TINY_SCHEMA, ExactMeasurer())
    x, codes = encode(TINY, TINY_SCHEMA, layout)
    assert x.shape == (8, layout.width) and codes.shape == (8, 2)
    alphas, slots = split_encoded(x, layout)
    out = decode(alphas, slots, TINY_SCHEMA, layout)
    np.testing.assert_allclose(out["x"], TINY.column("x").to_numpy(zero_copy_only=False), atol=1e-5)
    assert pa.array(out["c"]).to_pylist() == TINY.column("c").to_pylist()
    assert pa.array(out["flag"]).to_pylist() == TINY.column("flag").to_pylist()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=200))
def test_numerical_encoding_is_invertible_inside_the_bounds(values: list[float]) -> None:
    table = pa.table({"v": pa.array(values, type=pa.float64())})
    schema = TableSchema((ColumnSchema("v", ColumnKind.NUMERICAL, "double", nullable=False),))
    layout = build_layout(table, schema, ExactMeasurer())
    x, _ = encode(table, schema, layout)
    assert np.all(np.abs(x[:, 0]) <= 1.0)
    out = decode(*split_encoded(x, layout), schema, layout)["v"]
    np.testing.assert_allclose(out, values, rtol=1e-5, atol=1e-6 * (1 + max(map(abs, values))))


def _noise(seed: int) -> RandomStreams:
    return RandomStreams.from_rng(np.random.default_rng(seed))


def test_rare_categories_fold_into_other_under_dp(adult: pa.Table, adult_schema: TableSchema) -> None:
    budget = ZCDPBudget(1.0, 1e-6, selection_delta=5e-7)
    layout = build_layout(adult, adult_schema, DPMeasurer(budget, adult_schema, _noise(0)))
    country = next(c for c in layout.columns if c.name == "native_country")
    assert isinstance(country, CategoricalSpec)
    assert "United-States" in country.values and "Holand-Netherlands" not in country.values  # 1 row
    assert country.other and country.nullable
    eps, delta = budget.spent()
    assert eps <= 1.0 and delta <= 1e-6
    assert eps == pytest.approx(1.0, rel=1e-3)  # the whole preprocessing share is used, no more
    assert all(sum(c.freq) == pytest.approx(1.0) for c in layout.columns if isinstance(c, CategoricalSpec))


def test_dp_layout_depends_on_the_noise_seed_only_through_the_mechanisms(adult: pa.Table, adult_schema: TableSchema) -> None:
    def lay(seed: int) -> Layout:
        budget = ZCDPBudget(1.0, 1e-6, selection_delta=5e-7)
        return build_layout(adult, adult_schema, DPMeasurer(budget, adult_schema, _noise(seed)))

    assert lay(1) == lay(1)
    assert lay(1) != lay(2)


def test_no_budget_and_no_public_bounds_is_refused(adult: pa.Table, adult_schema: TableSchema,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    gen = DPCTGAN(epsilon=1.0, preprocessing_share=0.0, epochs=1)
    with pytest.raises(PrivacyError, match="preprocessing_share=0"):
        gen.plan(adult_schema, adult.num_rows)
    reads: list[str] = []
    for name in ("to_float", "as_strings", "slot_codes"):  # every way preprocessing reads a column
        monkeypatch.setattr(preprocess, name, lambda *a, _n=name, **k: reads.append(_n))
    with pytest.raises(PrivacyError, match="bounds"):
        gen.fit(adult, adult_schema, rng=np.random.default_rng(0))
    with pytest.raises(PrivacyError):
        build_layout(adult, adult_schema, None)
    assert reads == []


def test_public_declarations_alone_read_no_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("preprocessing read the data without a budget")

    for name in ("to_float", "as_strings", "slot_codes"):
        monkeypatch.setattr(preprocess, name, refuse)
    schema = public_schema()
    layout = build_layout(TINY, schema, None)
    other = TINY.set_column(0, "x", pa.array([9.0] * 8))
    assert build_layout(other, schema, None) == layout  # nothing about the rows shows
    x, c, _ = layout.columns
    assert isinstance(x, NumericalSpec) and (x.lower, x.upper) == (0.0, 10.0)
    assert isinstance(c, CategoricalSpec) and c.values == ("a", "b", "zz") and not c.other
    gen = DPCTGAN(epsilon=1.0, preprocessing_share=0.0, epochs=1, batch_size=2,
                  generator_dim=(8,), discriminator_dim=(8,), embedding_dim=4, device="cpu")
    report = gen.fit(TINY, schema, rng=np.random.default_rng(0))
    assert [s.purpose for s in report.spends] == ["training"]
    assert report.epsilon is not None and report.epsilon <= 1.0


def test_undeclared_value_goes_to_null_when_categories_are_public() -> None:
    schema = public_schema().with_column(
        ColumnSchema("c", ColumnKind.CATEGORICAL, "string", nullable=True, categories=("a", "b")))
    layout = build_layout(TINY, schema, None)
    _, codes = encode(TINY, schema, layout)
    c = layout.columns[1]
    assert isinstance(c, CategoricalSpec) and c.null_slot == 2
    assert codes[:, 0].tolist() == [0, 0, 1, 2, 0, 1, 0, 2]  # None and the undeclared "zz"


def test_other_is_decoded_as_the_other_marker() -> None:
    layout = Layout((CategoricalSpec("c", ("a",), True, False, (0.5, 0.5)),))
    schema = TableSchema((ColumnSchema("c", ColumnKind.CATEGORICAL, "string", nullable=False),))
    out = decode(np.zeros((2, 0)), np.array([[0], [1]]), schema, layout)
    assert pa.array(out["c"]).to_pylist() == ["a", OTHER]
