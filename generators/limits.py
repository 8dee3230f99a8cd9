"""The declared range of every hyper-parameter of every generator, checked before any charge.

One table per generator kind: each keyword its constructor takes (besides ε,
δ and what the server sets) has a type and a closed range, or a set of
choices. `check_params` refuses anything else with INVALID_ARGUMENT naming
the parameter, its range and the value, so no request can ask for a million
epochs, a billion-row batch or a billion normalisation modes: the service
calls it in the plan, before the ledger is charged or a byte allocated.

The ranges bound each number on its own; what numbers do together (a wide
network on a large batch) is bounded by the job's memory and time estimate
(`synth.core.estimates`). Upper bounds are far above every measured setting
(the defaults, the benches) and far below what would take a server down.

A generator registered from outside (`register_generator`) declares its table
with `register_limits`; a kind without one takes no hyper-parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from synth.base.errors import FieldViolation, InvalidArgument

ParamType = Literal["int", "float", "bool", "str", "int_list"]
#: A value longer than this (as text) is cut in a message: a request must not echo megabytes.
MAX_SHOWN = 40


@dataclass(frozen=True)
class ParamRange:
    """What one hyper-parameter may be: a type and a closed range, or choices."""

    type: ParamType
    min: float | None = None
    max: float | None = None
    #: For "str": the allowed values (empty: any text up to `max` characters).
    choices: tuple[str, ...] = ()
    #: For "int_list": the most items; each item is in [min, max].
    max_items: int = 0
    #: None is accepted (the generator's "decide for me").
    nullable: bool = False

    def describe(self) -> str:
        """The range as a person reads it, e.g. "an integer in [1, 1,000]"."""
        if self.type == "bool":
            text = "true or false"
        elif self.type == "str" and self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.type == "str":
            text = f"text of at most {self.max:,.0f} characters"
        elif self.type == "int_list":
            text = (
                f"a list of 1 to {self.max_items} integers, each in "
                f"[{self.min:,.0f}, {self.max:,.0f}]"
            )
        else:
            noun = "an integer" if self.type == "int" else "a number"
            text = f"{noun} in [{_num(self.min)}, {_num(self.max)}]"
        return text + (" (or null)" if self.nullable else "")


def _num(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{x:,.0f}" if float(x).is_integer() and abs(x) >= 1 else f"{x:g}"


def shown(value: Any) -> str:
    """`value` as a message may show it: its repr, cut to MAX_SHOWN characters."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


_SHARE = ParamRange("float", 0.001, 0.999)

#: DP-CTGAN (generators/dpctgan): the network, the optimiser and the DP-SGD schedule.
DPCTGAN: dict[str, ParamRange] = {
    "epochs": ParamRange("int", 1, 1_000),
    "batch_size": ParamRange("int", 2, 20_000),
    "generator_dim": ParamRange("int_list", 1, 4_096, max_items=8),
    "discriminator_dim": ParamRange("int_list", 1, 4_096, max_items=8),
    "embedding_dim": ParamRange("int", 1, 4_096),
    "lr": ParamRange("float", 1e-7, 1.0),
    "max_grad_norm": ParamRange("float", 1e-6, 1e6),
    "preprocessing_share": ParamRange("float", 0.0, 0.9),
    "n_modes": ParamRange("int", 1, 100),
    "marginal_weight": ParamRange("float", 0.0, 1_000.0),
    "accountant": ParamRange("str", choices=("rdp", "prv")),
    "device": ParamRange("str", choices=("auto", "cpu", "cuda")),
    "checkpoint_every": ParamRange("int", 0, 1_000),
}

#: AIM (generators/aim): discretisation, the workload, the model-size caps and the solver.
AIM: dict[str, ParamRange] = {
    "rounds": ParamRange("int", 1, 10_000, nullable=True),
    "max_bins": ParamRange("int", 2, 1_024),
    "fine_bins": ParamRange("int", 2, 4_096),
    "max_categories": ParamRange("int", 1, 100_000),
    "workload_max_cells": ParamRange("int", 1, 100_000_000),
    "max_model_size_mb": ParamRange("float", 0.01, 16_384.0),
    "memory_cap_mb": ParamRange("float", 1.0, 1_048_576.0),
    "preprocessing_share": _SHARE,
    "prep_share": ParamRange("float", 0.001, 0.999, nullable=True),
    "iters": ParamRange("int", 1, 100_000),
    "final_iters": ParamRange("int", 1, 100_000),
    "max_iters": ParamRange("int", 1, 100_000),
    "settle": ParamRange("float", 0.0, 1.0),
}

#: Independent DP marginals (generators/dp_marginals).
DP_MARGINALS: dict[str, ParamRange] = {
    "bins": ParamRange("int", 2, 1_000_000),
    "zero_point": ParamRange("bool"),
    "preprocessing_share": _SHARE,
    "discovery_share": ParamRange("float", 0.001, 0.999, nullable=True),
    "selection_delta_share": _SHARE,
    "other_label": ParamRange("str", max=256),
    "require_public_bounds": ParamRange("bool"),
}

#: Every parameter a caller may set, whatever the generator (the training seed).
COMMON: dict[str, ParamRange] = {"seed": ParamRange("int", 0, 2**63 - 1)}

_TABLES: dict[str, Mapping[str, ParamRange]] = {
    "dpctgan": DPCTGAN,
    "aim": AIM,
    "dp_marginals": DP_MARGINALS,
}


def register_limits(kind: str, table: Mapping[str, ParamRange]) -> None:
    """Declare the ranges of a generator registered with `register_generator`."""
    _TABLES[kind] = dict(table)


def limits_for(kind: str) -> Mapping[str, ParamRange]:
    """The table of `kind` (empty for a kind that declared none)."""
    return _TABLES.get(kind, {})


def check_params(kind: str, params: Mapping[str, Any]) -> None:
    """Refuse a hyper-parameter the table of `kind` does not declare, or a value out of range."""
    from generators.registry import generator_class

    generator_class(kind)  # an unknown kind is named as such, not as unknown parameters
    table = {**COMMON, **limits_for(kind)}
    violations: list[FieldViolation] = []
    problems: list[str] = []
    for name in sorted(params):
        rng = table.get(name)
        if rng is None:
            known = ", ".join(sorted(limits_for(kind))) or "none"
            problems.append(f"it has no parameter {shown(name)} (its parameters: {known})")
            violations.append(FieldViolation(f"params.{name[:MAX_SHOWN]}", "unknown parameter"))
            continue
        if not _fits(rng, params[name]):
            problems.append(f"{name} must be {rng.describe()}, got {shown(params[name])}")
            violations.append(FieldViolation(f"params.{name}", rng.describe()))
    if problems:
        raise InvalidArgument(
            f"bad parameters for generator {kind!r}: " + "; ".join(problems), violations=violations
        )


def _fits(rng: ParamRange, value: Any) -> bool:
    if value is None:
        return rng.nullable
    if rng.type == "bool":
        return isinstance(value, bool)
    if rng.type == "str":
        if not isinstance(value, str):
            return False
        return value in rng.choices if rng.choices else len(value) <= (rng.max or 0)
    if rng.type == "int_list":
        if not isinstance(value, list | tuple) or not 1 <= len(value) <= rng.max_items:
            return False
        return all(_in_range(rng, v, integer=True) for v in value)
    return _in_range(rng, value, integer=rng.type == "int")


def _in_range(rng: ParamRange, value: Any, *, integer: bool) -> bool:
    """A number (an integral float for an integer: JSON has no integers) within [min, max]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if integer and isinstance(value, float) and not value.is_integer():
        return False
    lo = -math.inf if rng.min is None else rng.min
    hi = math.inf if rng.max is None else rng.max
    return lo <= value <= hi
