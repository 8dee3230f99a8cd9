"""One way to submit a job, for every kind: idempotent, charged with the job, then queued.

Train, Generate and Evaluate (and the job kinds later features add) all go
through `submit`: the job row and its ledger charge are written in one
transaction before the job can read a row (`JobStore.create_once`, which also
settles the idempotency-key race on SQLite and PostgreSQL alike), and only a
newly created job is handed to the executor.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from typing import Any, Protocol

from synth.base.errors import BudgetExhausted
from synth.base.spend import Spend
from synth.core.estimates import memory_cap_mb
from synth.core.stores import Stores
from synth.jobs.context import JobContext
from synth.jobs.plan import JobPlan
from synth.jobs.process import IsolatedJob
from synth.jobs.record import PLAN_KEY, JobRecord, request_hash
from synth.jobs.state import JobKind, JobState
from synth.store.jobs import JobQuota


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
    plan: JobPlan | None = None,
    validate_only: bool = False,
    owner: str,
    rows: int = 0,
) -> JobRecord:
    """Create (and charge) the job, or return the one this key made; queue it if new.

    `plan` is stored with the job; `validate_only` (AIP-163) writes nothing and
    returns the job as it would be made, unnamed, with its plan.
    """
    if plan is not None:
        request = {**request, PLAN_KEY: plan.to_dict()}
    if validate_only:
        return dry_run(stores, runner.kind, target, request, idempotency_key, charge)
    # The caller's quota (queued+running jobs, rows in generation) is checked again in
    # the transaction that would charge: a refused job writes and charges nothing.
    job, created = stores.jobs.create_once(
        runner.kind,
        target,
        request,
        idempotency_key,
        owner=owner,
        charge=charge,
        quota=quota(stores, rows),
    )
    if created:
        try:
            audit_job(stores, job, owner, charge)
        finally:  # the job runs even if its entry could not be written (the caller hears)
            start(stores, runner, job)
    return job


def audit_job(
    stores: Stores, job: JobRecord, owner: str, charge: tuple[str, Sequence[Spend]] | None
) -> None:
    """A new job's audit entry: its request as a keyed fingerprint, and its ledger charges."""
    spends = list(charge[1]) if charge is not None else []
    stores.audit.append(
        owner,
        job.kind.value.capitalize(),  # Train, Generate, Evaluate
        job.target,
        {
            "job": f"jobs/{job.id}",
            "request": stores.audit.fingerprint(job.request),
            "source": f"sources/{charge[0]}" if charge is not None else "",
            "charges": [
                {
                    "purpose": s.purpose,
                    "mechanism": s.mechanism,
                    "epsilon": s.epsilon,
                    "delta": s.delta,
                }
                for s in spends
            ],
            "epsilon": sum(s.epsilon for s in spends),
            "delta": sum(s.delta for s in spends),
        },
    )


def quota(stores: Stores, rows: int = 0) -> JobQuota:
    """The per-caller quota of this server, for a job that adds `rows` in generation."""
    cfg = stores.config
    return JobQuota(cfg.max_active_jobs_per_owner, cfg.max_active_rows_per_owner, rows)


def check_quota(stores: Stores, owner: str, rows: int = 0) -> None:
    """Refuse (QUOTA_EXCEEDED) a job `owner`'s quota has no room for, before anything is
    planned or charged (a plan may measure the source, which costs ε)."""
    stores.jobs.check_quota(owner, quota(stores, rows))


def start(stores: Stores, runner: JobRunner, job: JobRecord, *, resume: bool = False) -> None:
    """Hand a job to the executor; `resume=True` for one a previous process left RUNNING."""
    stores.executor.submit(
        job.id,
        isolated(stores, runner, job, resume=resume),
        resumable=lambda: runner.resumable(job),
        running=resume,
        # Owners take turns for the workers (synth.jobs.fair).
        owner=stores.jobs.owner(job.id),
    )


def isolated(stores: Stores, runner: JobRunner, job: JobRecord, *, resume: bool) -> IsolatedJob:
    """The job told by plain values (a process executor runs it in a child process, capped
    near its planned memory), and the same work in this process for the thread executor."""
    plan = job.plan
    checkpoints = getattr(runner, "checkpoint_dir", None)
    return IsolatedJob(
        kind=runner.kind.value,
        job_id=job.id,
        resume=resume,
        run_here=lambda ctx: runner.run(ctx, job, resume=resume),
        memory_mb=memory_cap_mb(plan.memory_mb if plan else None, stores.config),
        after_kill=(lambda: shutil.rmtree(checkpoints(job.id), ignore_errors=True))
        if checkpoints is not None
        else None,
    )


def dry_run(
    stores: Stores,
    kind: JobKind,
    target: str,
    request: dict[str, Any],
    idempotency_key: str,
    charge: tuple[str, Sequence[Spend]] | None,
) -> JobRecord:
    """The job `submit` would make, unnamed and unstored; refused as `submit` would refuse
    it for the budget (the charge is checked against what is left, and not written)."""
    if charge is not None:
        source_id, spends = charge
        status = stores.ledger.status(source_id)
        eps, delta = sum(s.epsilon for s in spends), sum(s.delta for s in spends)
        if eps > status.epsilon_remaining * (1 + 1e-9) + 1e-12 or (
            delta > status.delta_remaining * (1 + 1e-9) + 1e-300
        ):
            raise BudgetExhausted(
                f"training would spend ε={eps:.4g}, δ={delta:.3g} but source "
                f"'sources/{source_id}' has only ε={status.epsilon_remaining:.4g}, "
                f"δ={status.delta_remaining:.3g} left of its cap; ask for less",
                metadata={"source": f"sources/{source_id}"},
            )
    return JobRecord(
        id="",
        kind=kind,
        state=JobState.UNSPECIFIED,
        target=target,
        request=request,
        request_hash=request_hash(request),
        idempotency_key=idempotency_key or None,
        result="",
        phase="",
        fraction=0.0,
        epsilon_spent=0.0,
        message="validate_only: nothing was created, charged or written",
        metrics={},
        error_code="",
        error_reason="",
        error_message="",
        touched_data=False,
        create_time=time.time(),
        start_time=None,
        end_time=None,
    )
