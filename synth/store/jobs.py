"""Jobs in the database: creation with idempotency, forward-only state moves, watchers.

The state machine is `synth.jobs.state`; this is its persistence. Every
change wakes the watchers, so WatchJob streams progress without polling the
database in a tight loop. A stop that refunds (see `JobState.refunds_charge`)
gives an untouched job's charge back in the same transaction.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, and_, func, select, update
from sqlalchemy.exc import IntegrityError

from synth.base.errors import IdempotencyConflict, NotFound, QuotaExceeded, SynthError
from synth.base.names import new_id
from synth.base.progress import Progress
from synth.base.spend import Spend
from synth.jobs.record import JobRecord, request_hash
from synth.jobs.state import JobKind, JobState, can_move
from synth.store import ledger as ledger_ops
from synth.store.metadata import MetadataStore
from synth.store.pages import Page, fetch_page
from synth.store.sqltables import jobs

#: Progress metrics that are not DP and are never shown: DP-CTGAN's discriminator loss
#: (a mean over real rows). Jobs stored before it was withheld hold it; it is dropped on read.
WITHHELD_METRICS = frozenset({"loss_d"})
_RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(JobRecord)) | {
    "metrics_json",
    "request_json",
}
_ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value)


@dataclass(frozen=True)
class JobQuota:
    """What one owner may have queued and running at once (checked as the job is made).

    `rows` is what this job adds to the owner's rows in generation (0 for other kinds).
    """

    max_jobs: int
    max_rows: int
    rows: int = 0


def job_from_row(r: Row[Any]) -> JobRecord:
    # Columns the record does not carry (the owner: `JobStore.owner`) stay in the store.
    m = {k: v for k, v in r._mapping.items() if k in _RECORD_FIELDS}
    metrics = json.loads(m.pop("metrics_json"))
    return JobRecord(
        kind=JobKind(m.pop("kind")),
        state=JobState(m.pop("state")),
        request=json.loads(m.pop("request_json")),
        metrics={k: v for k, v in metrics.items() if k not in WITHHELD_METRICS},
        **m,
    )


def check_quota(conn: Connection, owner: str, quota: JobQuota) -> None:
    """Refuse (QuotaExceeded) a job past the owner's queued+running jobs or generated rows."""
    active = and_(jobs.c.owner == owner, jobs.c.state.in_(_ACTIVE))
    count = conn.execute(select(func.count()).select_from(jobs).where(active)).scalar_one()
    if count >= quota.max_jobs:
        raise QuotaExceeded(
            f"you have {count} jobs queued or running, the most this server takes from one "
            "caller; wait for some to finish (or cancel some) and submit again",
            metadata={"quota": "jobs", "max": str(quota.max_jobs), "current": str(count)},
        )
    if not quota.rows:
        return
    requests = conn.execute(
        select(jobs.c.request_json).where(active, jobs.c.kind == JobKind.GENERATE.value)
    ).scalars()
    rows = sum(int(json.loads(r).get("rows", 0)) for r in requests)
    if rows + quota.rows > quota.max_rows:
        raise QuotaExceeded(
            f"your generations queued or running already ask for {rows:,} rows; {quota.rows:,} "
            f"more would pass this server's limit of {quota.max_rows:,} rows per caller. Wait "
            "for them to finish, or ask for fewer rows",
            metadata={"quota": "generated_rows", "max": str(quota.max_rows), "current": str(rows)},
        )


class JobStore:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self._changed = threading.Condition()
        self._version = 0

    # --- creation --------------------------------------------------------------

    def find_idempotent(
        self, conn: Connection, kind: JobKind, key: str, request: dict[str, Any], owner: str = ""
    ) -> JobRecord | None:
        """The job `owner` made earlier with this key, if the request is the same; else a
        conflict. Keys are scoped to their owner: another caller's key finds nothing."""
        if not key:
            return None
        row = conn.execute(
            select(jobs).where(
                and_(
                    jobs.c.owner == owner,
                    jobs.c.kind == kind.value,
                    jobs.c.idempotency_key == key,
                )
            )
        ).first()
        if row is None:
            return None
        job = job_from_row(row)
        if job.request_hash != request_hash(request):
            raise IdempotencyConflict(
                f"idempotency key {key!r} was used for a different {kind.value.lower()} request "
                f"(jobs/{job.id}); use a new key for a new request",
                metadata={"job": f"jobs/{job.id}"},
            )
        return job

    def create(
        self,
        conn: Connection,
        kind: JobKind,
        target: str,
        request: dict[str, Any],
        key: str,
        owner: str = "",
    ) -> JobRecord:
        now = time.time()
        job_id = new_id("j")
        conn.execute(
            jobs.insert().values(
                id=job_id,
                kind=kind.value,
                state=JobState.QUEUED.value,
                target=target,
                request_json=json.dumps(request, sort_keys=True, default=str),
                request_hash=request_hash(request),
                idempotency_key=key or None,
                owner=owner,
                create_time=now,
                phase="queued",
            )
        )
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).one()
        return job_from_row(row)

    def create_once(
        self,
        kind: JobKind,
        target: str,
        request: dict[str, Any],
        key: str,
        *,
        owner: str = "",
        charge: tuple[str, Sequence[Spend]] | None = None,
        quota: JobQuota | None = None,
    ) -> tuple[JobRecord, bool]:
        """Create a job, and charge its spends to a source's ledger, in one transaction.

        With an idempotency key used before for the same request, the earlier
        job comes back and nothing is written (`created` is False); for a
        different request the key is refused. Two calls racing with one key
        (the unique index catches the loser, on SQLite and PostgreSQL alike)
        both answer with the winner's job. A refused charge writes nothing, and
        neither does a `quota` the owner's queued and running jobs already fill.
        """
        try:
            with self.store.transaction() as conn:
                existing = self.find_idempotent(conn, kind, key, request, owner)
                if existing is not None:
                    return existing, False
                if quota is not None:
                    check_quota(conn, owner, quota)
                job = self.create(conn, kind, target, request, key, owner)
                if charge is not None:
                    source_id, spends = charge
                    ledger_ops.charge(conn, source_id, job.id, spends)
        except IntegrityError:
            with self.store.transaction() as conn:
                existing = self.find_idempotent(conn, kind, key, request, owner)
            if existing is None:
                raise
            return existing, False
        return job, True

    def check_quota(self, owner: str, quota: JobQuota) -> None:
        """Refuse early (QuotaExceeded) when `owner`'s quota is already full; `create_once`
        checks again in the transaction that writes, for calls racing this one."""
        with self.store.transaction() as conn:
            check_quota(conn, owner, quota)

    # --- reads -------------------------------------------------------------------

    def get(self, job_id: str, *, owner: str | None = None) -> JobRecord:
        """The job; with `owner`, only if that owner submitted it (else the same NotFound)."""
        q = select(jobs).where(jobs.c.id == job_id)
        if owner is not None:
            q = q.where(jobs.c.owner == owner)
        with self.store.transaction() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"job 'jobs/{job_id}' does not exist")
        return job_from_row(row)

    def owner(self, job_id: str) -> str:
        """Who submitted the job ("" for jobs from before owners); NotFound when absent."""
        with self.store.transaction() as conn:
            row = conn.execute(select(jobs.c.owner).where(jobs.c.id == job_id)).first()
        if row is None:
            raise NotFound(f"job 'jobs/{job_id}' does not exist")
        return str(row.owner)

    def list(
        self,
        *,
        page_size: int,
        token: str,
        target: str = "",
        state: JobState | None = None,
        owner: str | None = None,
    ) -> Page[JobRecord]:
        """A page of jobs, newest first; with `owner`, only the jobs that owner submitted."""
        q = select(jobs).order_by(jobs.c.create_time.desc(), jobs.c.id)
        if owner is not None:
            q = q.where(jobs.c.owner == owner)
        if target:
            q = q.where(jobs.c.target == target)
        if state is not None:
            q = q.where(jobs.c.state == state.value)
        return fetch_page(self.store, q, page_size=page_size, token=token, make=job_from_row)

    # --- state moves ---------------------------------------------------------------

    def _move(
        self, job_id: str, new: JobState, *, only_from: JobState | None = None, **values: Any
    ) -> bool:
        """Move to `new` if allowed from the current state; False if the job already moved on."""
        with self.store.transaction() as conn:
            row = conn.execute(select(jobs.c.state).where(jobs.c.id == job_id)).first()
            if row is None:
                raise NotFound(f"job 'jobs/{job_id}' does not exist")
            current = JobState(row.state)
            if not can_move(current, new) or (only_from is not None and current != only_from):
                return False
            if new.final:
                values.setdefault("end_time", time.time())
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(state=new.value, **values))
            if (
                new.refunds_charge
                and not conn.execute(
                    select(jobs.c.touched_data).where(jobs.c.id == job_id)
                ).scalar_one()
            ):
                ledger_ops.refund(conn, job_id)
        self._notify()
        return True

    def start(self, job_id: str) -> bool:
        return self._move(job_id, JobState.RUNNING, start_time=time.time(), phase="starting")

    def mark_touched(self, job_id: str) -> None:
        """Record that the job is about to read source rows: its charge is final from now on."""
        with self.store.transaction() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(touched_data=True))

    def progress(self, job_id: str, p: Progress) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                update(jobs)
                .where(and_(jobs.c.id == job_id, jobs.c.state == JobState.RUNNING.value))
                .values(
                    phase=p.phase,
                    fraction=max(0.0, min(1.0, p.fraction)),
                    epsilon_spent=p.epsilon_spent,
                    message=p.message,
                    metrics_json=json.dumps(
                        {k: float(v) for k, v in p.metrics.items() if k not in WITHHELD_METRICS}
                    ),
                )
            )
        self._notify()

    def succeed(self, job_id: str, result: str, message: str = "") -> bool:
        return self._move(
            job_id, JobState.SUCCEEDED, result=result, fraction=1.0, phase="done", message=message
        )

    def fail(self, job_id: str, err: BaseException) -> bool:
        if isinstance(err, SynthError):
            code, reason, msg = err.code, err.reason, err.message
        else:
            code, reason, msg = "INTERNAL", "INTERNAL", f"{type(err).__name__}: {err}"
        return self._move(
            job_id, JobState.FAILED, error_code=code, error_reason=reason, error_message=msg
        )

    def cancel(
        self, job_id: str, message: str = "cancelled by request", *, only_if_queued: bool = False
    ) -> bool:
        return self._move(
            job_id,
            JobState.CANCELLED,
            only_from=JobState.QUEUED if only_if_queued else None,
            error_code="CANCELLED",
            error_reason="CANCELLED",
            error_message=message,
        )

    def interrupt(self, job_id: str, message: str) -> bool:
        return self._move(
            job_id,
            JobState.INTERRUPTED,
            error_code="ABORTED",
            error_reason="INTERRUPTED",
            error_message=message,
        )

    def recover_after_restart(
        self, resumable: Callable[[JobRecord], bool] = lambda _: False
    ) -> Sequence[JobRecord]:
        """Jobs a previous process left QUEUED or RUNNING: resume or mark them INTERRUPTED.

        A RUNNING job for which `resumable` says yes (a training with a
        checkpoint) stays RUNNING and is returned, for the executor to pick up
        where it stopped; every other one is INTERRUPTED, not running forever.
        """
        with self.store.transaction() as conn:
            left = [
                job_from_row(r)
                for r in conn.execute(
                    select(jobs).where(
                        jobs.c.state.in_([JobState.QUEUED.value, JobState.RUNNING.value])
                    )
                )
            ]
        resumed = []
        for job in left:
            if job.state is JobState.RUNNING and resumable(job):
                resumed.append(job)
            else:
                self.interrupt(
                    job.id, "the server stopped before this job finished; submit it again"
                )
        return resumed

    def note(self, job_id: str, message: str) -> None:
        """Change a running job's message only (e.g. why it is paused)."""
        with self.store.transaction() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(message=message))
        self._notify()

    # --- watching --------------------------------------------------------------------

    def _notify(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def watch(
        self, job_id: str, *, alive: Any = lambda: True, poll: float = 1.0
    ) -> Iterator[JobRecord]:
        """Yield the job now and after each change, until it is final or `alive()` is false."""
        last: JobRecord | None = None
        while alive():
            with self._changed:
                seen = self._version
            job = self.get(job_id)
            if job != last:
                yield job
                last = job
            if job.state.final:
                return
            with self._changed:
                if self._version == seen:
                    self._changed.wait(timeout=poll)
