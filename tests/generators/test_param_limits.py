"""Every hyper-parameter of every generator has a declared range, and values outside it are refused."""

from __future__ import annotations

import inspect

import pytest

from generators import available_generators, generator_class
from generators.limits import MAX_SHOWN, ParamRange, check_params, limits_for
from synth.base.errors import InvalidArgument

#: Constructor keywords the caller never sets through params: the request's own fields,
#: what the server decides, and where checkpoints live.
NOT_PARAMS = {"self", "epsilon", "delta", "allow_non_private", "checkpoint_dir"}


@pytest.mark.parametrize("kind", available_generators())
def test_every_constructor_keyword_has_a_range(kind: str) -> None:
    keywords = set(inspect.signature(generator_class(kind).__init__).parameters) - NOT_PARAMS
    declared = set(limits_for(kind))
    assert keywords == declared, (
        f"{kind}: undeclared {sorted(keywords - declared)}, stale {sorted(declared - keywords)}"
    )


@pytest.mark.parametrize("kind", available_generators())
def test_the_defaults_are_within_their_ranges(kind: str) -> None:
    sig = inspect.signature(generator_class(kind).__init__)
    defaults = {
        name: p.default
        for name, p in sig.parameters.items()
        if name in limits_for(kind) and p.default is not inspect.Parameter.empty
    }
    check_params(kind, {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()})


@pytest.mark.parametrize(
    ("kind", "name", "value", "range_text"),
    [
        ("dpctgan", "n_modes", 10**9, "an integer in [1, 100]"),
        ("dpctgan", "batch_size", 10**9, "an integer in [2, 20,000]"),
        ("dpctgan", "epochs", 10**9, "an integer in [1, 1,000]"),
        ("dpctgan", "epochs", 0, "an integer in [1, 1,000]"),
        ("dpctgan", "epochs", 2.5, "an integer in [1, 1,000]"),
        ("dpctgan", "lr", float("nan"), "a number in [1e-07, 1]"),
        ("dpctgan", "generator_dim", [256] * 9, "a list of 1 to 8 integers"),
        ("dpctgan", "generator_dim", [10**7], "a list of 1 to 8 integers"),
        ("dpctgan", "device", "tpu", "one of 'auto', 'cpu', 'cuda'"),
        ("aim", "max_bins", 10**6, "an integer in [2, 1,024]"),
        ("aim", "rounds", -1, "an integer in [1, 10,000] (or null)"),
        ("aim", "memory_cap_mb", 1e300, "a number in [1, 1,048,576]"),
        ("dp_marginals", "bins", 1, "an integer in [2, 1,000,000]"),
        ("dp_marginals", "zero_point", 1, "true or false"),
        ("dp_marginals", "other_label", "x" * 1000, "text of at most 256 characters"),
        ("dp_marginals", "seed", -1, "an integer in [0,"),
    ],
)
def test_out_of_range_names_the_parameter_its_range_and_the_value(
    kind: str, name: str, value: object, range_text: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_params(kind, {name: value})
    msg = str(info.value)
    assert name in msg and range_text in msg
    assert [v.field for v in info.value.violations] == [f"params.{name}"]
    assert len(msg) < 400, "the value is cut, never echoed whole"


def test_a_long_value_is_cut_in_the_message() -> None:
    with pytest.raises(InvalidArgument) as info:
        check_params("dp_marginals", {"other_label": "y" * 10_000})
    assert "y" * MAX_SHOWN not in str(info.value) and "…" in str(info.value)


def test_an_unknown_parameter_lists_the_known_ones() -> None:
    with pytest.raises(InvalidArgument, match=r"no parameter 'no_such_knob'.*bins"):
        check_params("dp_marginals", {"no_such_knob": 1})


def test_integral_floats_are_integers_and_integers_are_numbers() -> None:
    """JSON (a protobuf Struct) has only floats, and an integral float comes back as an int."""
    check_params("dpctgan", {"epochs": 3.0, "lr": 1, "generator_dim": [64.0, 64]})


def test_describe_reads_like_a_sentence() -> None:
    assert ParamRange("int", 1, 1000).describe() == "an integer in [1, 1,000]"
    assert ParamRange("float", 0.001, 0.999).describe() == "a number in [0.001, 0.999]"
