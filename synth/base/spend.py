"""A privacy spend: the unit a generator plans and the ledger charges."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spend:
    """One charge to the ledger: what for, how much, by which accounting."""

    purpose: str  # "preprocessing", "training", "marginals", ...
    epsilon: float
    delta: float
    mechanism: str  # "zcdp-gaussian", "dp-sgd/rdp", ...
