"""What every domain service shares: configuration, the stores and the executor.

One typed container, built once by `synth.core.service.SynthService`; domain
services take it (and the other services they use) in their constructors, so
every call between them is checked by mypy.
"""

from __future__ import annotations

from dataclasses import dataclass

from synth.core.config import ServiceConfig
from synth.jobs.executor import Executor
from synth.store.artifacts import ArtifactStore
from synth.store.audit import AuditLog
from synth.store.datasets import DatasetRows
from synth.store.evaluations import EvaluationRows
from synth.store.jobs import JobStore
from synth.store.ledger import Ledger
from synth.store.metadata import MetadataStore
from synth.store.models import ModelRows
from synth.store.secret import load_or_create_secret
from synth.store.sizes import SizeRows
from synth.store.sources import SourceRows
from synth.store.tokens import TokenRows


@dataclass(frozen=True)
class Stores:
    config: ServiceConfig
    meta: MetadataStore
    artifacts: ArtifactStore
    jobs: JobStore
    executor: Executor
    ledger: Ledger
    sources: SourceRows
    models: ModelRows
    datasets: DatasetRows
    evaluations: EvaluationRows
    #: Sources' DP sizes (a noisy count of privacy units), measured once, charged.
    sizes: SizeRows
    #: Bearer tokens: who a call comes from (synth.server.auth authenticates with them).
    tokens: TokenRows
    #: The server secret (synth.store.secret): keys DP randomness and fingerprints.
    secret: bytes
    #: The audit trail (synth.store.audit): every state change appends an entry.
    audit: AuditLog

    @classmethod
    def open(
        cls, config: ServiceConfig, executor_workers: int | None = None, *, in_job: bool = False
    ) -> Stores:
        """Open the database and the artifact folder, and start the local executor.

        `in_job=True` inside a job's own process (synth.core.isolation): it leaves the
        temporary files alone (other jobs and uploads are writing them) and runs no jobs.
        """
        from synth.jobs.local import LocalExecutor
        from synth.jobs.process import NoExecutor

        meta = MetadataStore(config.resolved_database_url)
        artifacts = ArtifactStore(config.artifacts_dir)
        if not in_job:
            artifacts.clean_tmp()
        jobs = JobStore(meta)
        secret = load_or_create_secret(config.data_dir)
        return cls(
            config=config,
            meta=meta,
            artifacts=artifacts,
            jobs=jobs,
            executor=NoExecutor()
            if in_job
            else LocalExecutor(jobs, workers=executor_workers or config.job_workers),
            ledger=Ledger(meta),
            sources=SourceRows(meta),
            models=ModelRows(meta),
            datasets=DatasetRows(meta),
            evaluations=EvaluationRows(meta),
            sizes=SizeRows(meta),
            tokens=TokenRows(meta),
            secret=secret,
            audit=AuditLog(meta, secret),
        )
