"""One way to submit a job, for every kind: idempotent, charged with the job, then queued.

Train, Generate and Evaluate (and the job kinds later features add) all go
through `submit`: the job row and its ledger charge are written in one
transaction before the job can read a row (`JobStore.create_once`, which also
settles the idempotency-key race on SQLite and PostgreSQL alike), and only a
newly created job is handed to the executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from synth.base.spend import Spend
from synth.core.stores import Stores
from synth.jobs.context import JobContext
from synth.jobs.record import JobRecord
from synth.jobs.state import JobKind


class JobRunner(Protocol):
    """A domain service that runs jobs of one kind."""

    kind: JobKind

    def run(self, ctx: JobContext, job: JobRecord, *, resume: bool = False) -> str:
        """Do the job's work; return the name of the resource it made."""

    def resumable(self, job: JobRecord) -> bool:
        """Whether `job` can pick up where it stopped (it left a checkpoint)."""


def submit(
    stores: Stores,
    runner: JobRunner,
    *,
    target: str,
    request: dict[str, Any],
    idempotency_key: str,
    charge: tuple[str, Sequence[Spend]] | None = None,
) -> JobRecord:
    """Create (and charge) the job, or return the one this key made; queue it if new."""
    job, created = stores.jobs.create_once(
        runner.kind, target, request, idempotency_key, charge=charge
    )
    if created:
        start(stores, runner, job)
    return job


def start(stores: Stores, runner: JobRunner, job: JobRecord, *, resume: bool = False) -> None:
    """Hand a job to the executor; `resume=True` for one a previous process left RUNNING."""
    stores.executor.submit(
        job.id,
        lambda ctx: runner.run(ctx, job, resume=resume),
        resumable=lambda: runner.resumable(job),
        running=resume,
    )
