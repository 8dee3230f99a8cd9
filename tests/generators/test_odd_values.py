"""No job outcome depends on a value: odd cells are nulled or clipped, and the fit succeeds.

A fit that raises on one cell tells whoever reads the job's state something
about that cell. Every generator must take any table its schema admits:
booleans stored as text with a cell that is not a boolean, integers at the
int64 extremes, floats at ±1.8e308, NaN and ±inf, datetimes at the ends of
their unit's range, values outside the declared bounds or categories.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generators import create_generator
from generators.columns import cast_column, to_boolean, to_float
from generators.privacy.mechanisms import dp_bounds, dp_range
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema


def test_dp_range_takes_the_int64_extremes_dp_bounds_can_give() -> None:
    """dp_bounds on an integer column can answer [-2^63, 2^64]: as Python ints they made
    np.linspace build an object array, and the fit failed (the hypothesis test of dp_marginals)."""
    values = np.array([-(2.0**63), 0.0, 1.0, 2.0**63, np.nan, np.inf, -np.inf])
    b = dp_range(values, -(2**63), 2**64, 0.5, np.random.default_rng(0), integer=True)
    assert isinstance(b.lower, float) and isinstance(b.upper, float)
    assert -(2.0**63) <= b.lower < b.upper <= 2.0**64
    for seed in range(20):
        c = dp_bounds(values, 1e-4, np.random.default_rng(seed), integer=True)
        assert isinstance(c.lower, float) and isinstance(c.upper, float)
        d = dp_range(values, c.lower, c.upper, 1e-4, np.random.default_rng(seed), integer=True)
        assert math.isfinite(d.lower) and math.isfinite(d.upper) and d.lower < d.upper


# --- every generator fits any table its schema admits ------------------------------------------

I64 = (-(2**63), 2**63 - 1)
_ODD_FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [1.7976931348623157e308, -1.7976931348623157e308, 5e-324, -0.0, 2.0**63, 2.0**64]
)
_ODD_INTS = st.integers(*I64) | st.sampled_from([I64[0], I64[1], 0, 1, -1])
_BOOL_TEXT = st.sampled_from(["true", "false", "maybe", "", "1", "0", "TRUE", "yes", "nan"])
_TEXT = st.text(max_size=4) | st.sampled_from(["a", "b", "1e999", "-inf", "NaN", "12"])
_DAY = 86_400
#: 2000-01-01 and 2030-01-01, epoch seconds: public bounds that odd dates fall outside of.
_DATES = (946_684_800.0, 1_893_456_000.0)


@dataclass(frozen=True)
class _Kind:
    """One odd column: its Arrow type, schema kind, public declarations and cell values."""

    arrow: pa.DataType
    kind: ColumnKind
    values: st.SearchStrategy[Any]
    lower: float | None = None
    upper: float | None = None
    categories: tuple[str, ...] | None = None


_COLUMNS: dict[str, _Kind] = {
    "int": _Kind(pa.int64(), ColumnKind.NUMERICAL, _ODD_INTS),
    "int_public": _Kind(pa.int64(), ColumnKind.NUMERICAL, _ODD_INTS, 0.0, 100.0),
    "uint": _Kind(pa.uint64(), ColumnKind.NUMERICAL, st.integers(0, 2**64 - 1)),
    "float": _Kind(pa.float64(), ColumnKind.NUMERICAL, _ODD_FLOATS),
    "float_public": _Kind(pa.float64(), ColumnKind.NUMERICAL, _ODD_FLOATS, -1.0, 1.0),
    "float32": _Kind(pa.float32(), ColumnKind.NUMERICAL, st.floats(width=32)),
    "text_as_number": _Kind(pa.string(), ColumnKind.NUMERICAL, _TEXT),
    "bool": _Kind(pa.bool_(), ColumnKind.BOOLEAN, st.booleans()),
    "text_as_bool": _Kind(pa.string(), ColumnKind.BOOLEAN, _BOOL_TEXT),
    "int_as_bool": _Kind(pa.int64(), ColumnKind.BOOLEAN, _ODD_INTS),
    "text": _Kind(pa.string(), ColumnKind.CATEGORICAL, _TEXT),
    "text_public": _Kind(pa.string(), ColumnKind.CATEGORICAL, _TEXT, categories=("a", "b")),
    "int_as_category": _Kind(pa.int64(), ColumnKind.CATEGORICAL, _ODD_INTS),
    "float_as_category": _Kind(pa.float64(), ColumnKind.CATEGORICAL, _ODD_FLOATS),
    "timestamp_ns": _Kind(pa.timestamp("ns"), ColumnKind.DATETIME, _ODD_INTS),
    "timestamp_s": _Kind(pa.timestamp("s"), ColumnKind.DATETIME, _ODD_INTS),
    "timestamp_s_public": _Kind(pa.timestamp("s"), ColumnKind.DATETIME, _ODD_INTS, *_DATES),
    "date": _Kind(pa.date32(), ColumnKind.DATETIME, st.integers(-(2**31), 2**31 - 1)),
    "float_as_date": _Kind(pa.float64(), ColumnKind.DATETIME, _ODD_FLOATS),
}


@st.composite
def odd_tables(draw: st.DrawFn) -> tuple[pa.Table, TableSchema]:
    """A tiny table of 1-3 odd columns, some nullable (with nulls), some not."""
    names = draw(st.lists(st.sampled_from(sorted(_COLUMNS)), min_size=1, max_size=3, unique=True))
    n = draw(st.integers(1, 8))
    arrays, cols = {}, []
    for name in names:
        k = _COLUMNS[name]
        nullable = draw(st.booleans())
        cell = (st.none() | k.values) if nullable else k.values
        values = draw(st.lists(cell, min_size=n, max_size=n))
        arrays[name] = pa.array(values, type=k.arrow)
        cols.append(ColumnSchema(name, k.kind, str(k.arrow), nullable, k.lower, k.upper, k.categories))
    return pa.table(arrays), TableSchema(columns=tuple(cols))


#: A batch of 16 takes every row of a tiny table (sampling rate 1): Opacus' RDP accountant
#: then calibrates σ in closed form instead of seconds of fractional-order sums.
_TINY_GAN = {"epochs": 1, "batch_size": 16, "generator_dim": (8,), "discriminator_dim": (8,),
             "embedding_dim": 4, "n_modes": 2, "device": "cpu"}
_GENERATORS: dict[str, dict[str, Any]] = {
    "dp_marginals": {"epsilon": 1.0, "bins": 8},
    "dp_marginals_exact": {"kind": "dp_marginals", "epsilon": None, "bins": 8},
    "aim": {"epsilon": 1.0, "rounds": 4, "max_bins": 4, "fine_bins": 4, "iters": 3,
            "final_iters": 3, "max_iters": 3},
    "dpctgan": {"epsilon": 1.0, **_TINY_GAN},
    "dpctgan_exact": {"kind": "dpctgan", "epsilon": None, "allow_non_private": True, **_TINY_GAN},
}


@pytest.mark.parametrize("name", sorted(_GENERATORS))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(data=odd_tables(), seed=st.integers(0, 2**16))
def test_odd_values_never_fail_a_fit(name: str, data: tuple[pa.Table, TableSchema], seed: int) -> None:
    table, schema = data
    params = dict(_GENERATORS[name])
    kind = params.pop("kind", name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus' notices on tiny tables; numpy's on ±inf spans
        gen = create_generator(kind, **params)
        gen.fit(table, schema, rng=np.random.default_rng(seed))
        out = gen.sample_table(5, seed=seed)
    assert out.schema == schema.arrow_schema() and out.num_rows == 5


@pytest.mark.parametrize("name", sorted(_GENERATORS))
def test_a_boolean_column_with_a_cell_that_is_no_boolean_fits(name: str) -> None:
    """dp_marginals cast a text column declared boolean with Arrow and raised on "maybe":
    whether the job failed told its reader whether such a cell existed."""
    table = pa.table({"b": ["true", "false", "maybe", "true", "1", "0"] * 3,
                      "n": pa.array(["1", "x", "2.5", "", "3", "-4"] * 3)})
    schema = TableSchema(columns=(ColumnSchema("b", ColumnKind.BOOLEAN, "string", False),
                                  ColumnSchema("n", ColumnKind.NUMERICAL, "string", True)))
    params = dict(_GENERATORS[name])
    gen = create_generator(params.pop("kind", name), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen.fit(table, schema, rng=np.random.default_rng(0))
    out = gen.sample_table(20, seed=0)
    assert set(out.column("b").drop_null().to_pylist()) <= {"true", "false"}


def test_cells_that_do_not_fit_become_null_and_extremes_stay_finite() -> None:
    num = ColumnSchema("x", ColumnKind.NUMERICAL, "string")
    parsed = to_float(pa.array(["1", "a", None, "-2.5", ""]), num)
    assert parsed[0] == 1.0 and parsed[3] == -2.5 and np.isnan(parsed[[1, 2, 4]]).all()
    ints = to_float(pa.array([I64[0], I64[1], 2**53 + 1]), ColumnSchema("i", ColumnKind.NUMERICAL, "int64"))
    assert ints.tolist() == [-(2.0**63), 2.0**63, 2.0**53]
    when = ColumnSchema("t", ColumnKind.DATETIME, "timestamp[ns]")
    ns = to_float(pa.array([1, I64[1], 1_600_000_000_123_456_000], pa.timestamp("ns")), when)
    assert ns[0] == 1e-9 and ns[1] == pytest.approx(9.223372036854776e9)
    assert ns[2] == 1_600_000_000_123_456 / 1e6  # what the microsecond path gave
    secs = to_float(pa.array([I64[0], 0], pa.timestamp("s")), when)
    assert secs.tolist() == [-(2.0**63), 0.0]  # out of microseconds' range: no overflow error
    flag = ColumnSchema("b", ColumnKind.BOOLEAN, "string")
    assert to_boolean(pa.array(["true", "FALSE", "maybe", None, "1"])).to_pylist() == [
        True, False, None, None, True]
    assert np.isnan(to_float(pa.array(["maybe"]), flag)).all()
    # Sampling: values past an integer type's range clip to it; an "other" label of a
    # categorical column stored as numbers is null, not a failed cast.
    big = cast_column(np.array([1e300, -1e300, np.nan, 2.0**63]), ColumnSchema("i", ColumnKind.NUMERICAL, "int64"))
    assert big.to_pylist() == [2**63 - 1024, I64[0], None, 2**63 - 1024]
    u = cast_column(np.array([2.0**64, -1.0]), ColumnSchema("u", ColumnKind.NUMERICAL, "uint64"))
    assert u.to_pylist() == [2**64 - 2048, 0]
    other = cast_column(np.array(["12", "(other)", None], dtype=object),
                        ColumnSchema("c", ColumnKind.CATEGORICAL, "int64"))
    assert other.to_pylist() == [12, None, None]
    labels = cast_column(pa.array(["true", "false", None]), ColumnSchema("b", ColumnKind.BOOLEAN, "int64"))
    assert labels.to_pylist() == [1, 0, None]


@pytest.mark.parametrize("name", sorted(_GENERATORS))
def test_a_null_in_a_column_declared_not_nullable_fits(name: str) -> None:
    """The owner may declare a column not nullable after its upload: the fit refused the
    table (InvalidSchema) exactly when some row held a null there."""
    table = pa.table({"x": pa.array([1.0, None, 3.0, 4.0] * 4), "c": pa.array(["a", "b", None, "a"] * 4)})
    schema = TableSchema(columns=(ColumnSchema("x", ColumnKind.NUMERICAL, "double", False, 0.0, 5.0),
                                  ColumnSchema("c", ColumnKind.CATEGORICAL, "string", False,
                                               categories=("a", "b"))))
    params = dict(_GENERATORS[name])
    gen = create_generator(params.pop("kind", name), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen.fit(table, schema, rng=np.random.default_rng(0))
    assert gen.sample_table(10, seed=0).num_rows == 10
