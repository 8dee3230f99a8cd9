"""Generators plug in by name (the shape of Opacus' accountant registry).

Built-in generators register lazily by module path, so importing the
registry does not import torch until a DP-CTGAN is asked for.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from generators.base import CONFIG_FILE, Generator
from synth.base.errors import InvalidArgument

_LAZY: dict[str, str] = {
    "dp_marginals": "generators.dp_marginals:DPMarginals",
    "dpctgan": "generators.dpctgan:DPCTGAN",
    "aim": "generators.aim:AIM",
}
_LOADED: dict[str, type[Generator]] = {}


def register_generator(kind: str, cls: type[Generator] | str) -> None:
    """Register a class, or a "module:Class" path imported on first use."""
    if isinstance(cls, str):
        _LAZY[kind] = cls
        _LOADED.pop(kind, None)
    else:
        _LOADED[kind] = cls


def available_generators() -> list[str]:
    return sorted(set(_LAZY) | set(_LOADED))


def generator_class(kind: str) -> type[Generator]:
    if kind in _LOADED:
        return _LOADED[kind]
    if kind not in _LAZY:
        raise InvalidArgument(
            f"unknown generator {kind!r}; available: {', '.join(available_generators())}"
        )
    module, _, name = _LAZY[kind].partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        raise InvalidArgument(f"generator {kind!r} is not installed here ({exc})") from exc
    _LOADED[kind] = cls
    return cls


def create_generator(kind: str, **params: Any) -> Generator:
    cls = generator_class(kind)
    try:
        return cls(**params)
    except TypeError as exc:
        raise InvalidArgument(f"bad parameters for generator {kind!r}: {exc}") from exc


def load_generator(directory: str | Path) -> Generator:
    """Load any saved generator by the kind its config names (no pickle involved)."""
    doc = json.loads((Path(directory) / CONFIG_FILE).read_text())
    return generator_class(doc["kind"]).load(directory)
