"""A job as stored: its request, state, progress and outcome."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from synth.jobs.plan import JobPlan
from synth.jobs.state import JobKind, JobState

#: Keys of a stored request that the server chose (a fresh seed), not the caller:
#: they start with this prefix and are left out of the idempotency fingerprint.
SERVER_CHOSEN = "_"
#: The request key under which the job's plan (synth.jobs.plan) is stored.
PLAN_KEY = "_plan"


def request_hash(request: dict[str, Any]) -> str:
    """The fingerprint of a job request, for idempotency: same key, same request, same job."""
    asked = {k: v for k, v in request.items() if not k.startswith(SERVER_CHOSEN)}
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: JobKind
    state: JobState
    target: str
    request: dict[str, Any]
    request_hash: str
    idempotency_key: str | None
    result: str
    phase: str
    fraction: float
    epsilon_spent: float
    message: str
    metrics: dict[str, float]
    error_code: str
    error_reason: str
    error_message: str
    touched_data: bool
    create_time: float
    start_time: float | None
    end_time: float | None

    @property
    def plan(self) -> JobPlan | None:
        """What the job was planned to charge and take (None for jobs from before plans)."""
        doc = self.request.get(PLAN_KEY)
        return JobPlan.from_dict(doc) if isinstance(doc, dict) else None
