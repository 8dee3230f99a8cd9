"""Differentially private generative models, usable without the service.

    from generators import DPMarginals, create_generator
    gen = create_generator("dp_marginals", epsilon=1.0)
    gen.fit(table, schema)            # DP noise from fresh OS randomness (ChaCha20 streams)
    synthetic = gen.sample_table(10_000, seed=7)

`fit(..., rng=numpy.random.default_rng(0))` gives the same model again, but
whoever knows that seed replays the noise: for experiments, not releases
(`synth.base.randomness`).
"""

from __future__ import annotations

from typing import Any

from generators.base import Generator, PrivacyReport, default_delta
from generators.registry import (
    available_generators,
    create_generator,
    generator_class,
    load_generator,
    register_generator,
)
from synth.base.progress import Progress, ProgressFn
from synth.base.spend import Spend

__all__ = [
    "AIM",
    "DPCTGAN",
    "DPMarginals",
    "Generator",
    "PrivacyReport",
    "Progress",
    "ProgressFn",
    "Spend",
    "available_generators",
    "create_generator",
    "default_delta",
    "generator_class",
    "load_generator",
    "register_generator",
]

_CLASSES = {"DPMarginals": "dp_marginals", "DPCTGAN": "dpctgan", "AIM": "aim"}


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        return generator_class(_CLASSES[name])
    raise AttributeError(name)
