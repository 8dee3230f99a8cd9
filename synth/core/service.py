"""The domain facade the server (or a notebook) talks to. Knows nothing of gRPC."""

from __future__ import annotations

import logging
from pathlib import Path

from synth.core.config import ServiceConfig
from synth.core.evaluation import EvaluationService
from synth.core.generation import GenerationService
from synth.core.jobs import JobStore
from synth.core.ledger import budget_status
from synth.core.records import BudgetStatus
from synth.core.sources import SourceService
from synth.core.training import TrainingService
from synth.jobs.local import LocalExecutor
from synth.store.artifacts import ArtifactStore
from synth.store.metadata import MetadataStore

log = logging.getLogger(__name__)


class SynthService:
    """Stores, executor and the per-resource services, started and stopped together."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        self.meta = MetadataStore(config.resolved_database_url)
        self.artifacts = ArtifactStore(config.artifacts_dir)
        self.artifacts.clean_tmp()
        self.jobs = JobStore(self.meta)
        self.executor = LocalExecutor(self.jobs, workers=config.job_workers)
        self.sources = SourceService(config, self.meta, self.artifacts)
        self.training = TrainingService(self)
        self.generation = GenerationService(self)
        self.evaluation = EvaluationService(self)
        # Jobs a previous process left behind: checkpointed trainings resume, the rest
        # are marked INTERRUPTED (and refunded when they never read a row).
        for job in self.jobs.recover_after_restart(self.training.resumable):
            log.warning("resuming training %s from its last checkpoint", job.id)
            self.training.submit_to_executor(job, resume=True)

    def budget(self, source_id: str) -> BudgetStatus:
        self.sources.get(source_id)
        with self.meta.transaction() as conn:
            return budget_status(conn, source_id)

    def close(self, *, wait: bool = True) -> None:
        self.executor.shutdown(wait=wait)
        self.meta.dispose()
