"""What a job would do before it does it: its charges and its memory and time estimates.

Every Train, Generate and Evaluate request is planned before anything is
written: the service stores the plan with the job (in its request, under
`_plan`, a server-chosen key left out of the idempotency fingerprint), uses
its memory estimate to cap an isolated job's process, and returns it alone
to a caller who asked for a dry run (`validate_only`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from synth.base.spend import Spend


@dataclass(frozen=True)
class JobPlan:
    #: Peak memory and run time the job is expected to take, and the server's limits.
    memory_mb: float
    seconds: float
    memory_limit_mb: float
    seconds_limit: float
    #: How the estimate was reached, in words.
    basis: str = ""
    #: A training's generator (what "auto" resolved to) and why it was chosen.
    generator: str = ""
    generator_reason: str = ""
    #: A training's ledger charges, and the (ε, δ) they add up to.
    charges: tuple[Spend, ...] = field(default_factory=tuple)
    epsilon: float | None = None
    delta: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["charges"] = [asdict(s) for s in self.charges]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobPlan:
        return cls(**{**d, "charges": tuple(Spend(**s) for s in d.get("charges", ()))})
