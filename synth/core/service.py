"""The domain facade the server (or a notebook) talks to. Knows nothing of gRPC."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from synth.base.principal import Principal, Role
from synth.core import isolation, submission
from synth.core.access import owner_filter, require
from synth.core.config import ServiceConfig
from synth.core.evaluation import EvaluationService
from synth.core.generation import GenerationService
from synth.core.sources import SourceService
from synth.core.stores import Stores
from synth.core.training import TrainingService
from synth.jobs.record import JobRecord
from synth.jobs.state import JobState
from synth.store.pages import Page
from synth.store.records import BudgetStatus

log = logging.getLogger(__name__)


class JobService:
    """Jobs as callers see them: read, list, watch and cancel."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def get(self, who: Principal, job_id: str) -> JobRecord:
        """The job, if `who` submitted it (admins: any); else the NotFound of an absent id."""
        return self.stores.jobs.get(job_id, owner=owner_filter(who))

    def list(
        self,
        who: Principal,
        *,
        page_size: int,
        token: str,
        target: str = "",
        state: JobState | None = None,
    ) -> Page[JobRecord]:
        return self.stores.jobs.list(
            page_size=page_size, token=token, target=target, state=state, owner=owner_filter(who)
        )

    def watch(
        self, who: Principal, job_id: str, *, alive: Callable[[], bool]
    ) -> Iterator[JobRecord]:
        self.get(who, job_id)  # before the stream starts: NotFound for a job not theirs
        return self.stores.jobs.watch(job_id, alive=alive)

    def cancel(self, who: Principal, job_id: str) -> JobRecord:
        """Ask the job to stop (a queued one stops at once and is refunded); the job as it is now."""
        require(who, Role.OWNER, "cancelling a job")
        self.get(who, job_id)
        self.stores.executor.cancel(job_id)
        self.stores.audit.append(who.subject, "CancelJob", f"jobs/{job_id}")
        return self.stores.jobs.get(job_id)


class SynthService:
    """Stores, executor and the per-resource services, started and stopped together."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self.stores = Stores.open(config)
        if config.job_isolation == "process":  # each job in a child process (synth.jobs.process)
            self.stores = isolation.with_process_executor(self.stores)
        self.sources = SourceService(self.stores)
        self.training = TrainingService(self.stores, self.sources)
        self.generation = GenerationService(self.stores, self.training)
        self.evaluation = EvaluationService(self.stores, self.sources, self.generation)
        self.jobs = JobService(self.stores)
        self._recover()

    def _recover(self) -> None:
        """Jobs a previous process left behind: checkpointed trainings resume, the rest
        are marked INTERRUPTED (and refunded when they never read a row)."""
        for job in self.stores.jobs.recover_after_restart(self.training.resumable):
            log.warning("resuming training %s from its last checkpoint", job.id)
            submission.start(self.stores, self.training, job, resume=True)

    def budget(self, who: Principal, source_id: str) -> BudgetStatus:
        self.sources.get(who, source_id)
        return self.stores.ledger.status(source_id)

    def upload_file(self) -> Path:
        """A fresh temporary file for an upload in progress (removed by the caller)."""
        return self.stores.artifacts.temp_file(".upload")

    def close(self, *, wait: bool = True) -> None:
        self.stores.executor.shutdown(wait=wait)
        self.stores.meta.dispose()
