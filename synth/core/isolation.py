"""Jobs in child processes: the service's side of `synth.jobs.process`.

`with_process_executor` gives the service a `ProcessExecutor` whose entry
function is `run_job`: in the child it opens the stores (without touching
other jobs' temporary files), builds the domain service of the job's kind
and runs the job exactly as the thread executor would, reporting through
the context's pipe. The job reads its request from the store, so only the
configuration, the kind, the job id and "resume" cross to the child.
"""

from __future__ import annotations

import dataclasses
import sys

from synth.core.config import ServiceConfig
from synth.core.evaluation import EvaluationService
from synth.core.generation import GenerationService
from synth.core.sources import SourceService
from synth.core.stores import Stores
from synth.core.training import TrainingService
from synth.jobs.context import JobContext
from synth.jobs.process import ProcessExecutor
from synth.jobs.state import JobKind


def with_process_executor(stores: Stores) -> Stores:
    """`stores` with jobs run in child processes (ServiceConfig.job_isolation = "process")."""
    stores.executor.shutdown(wait=False)  # the idle thread executor Stores.open made
    config = stores.config
    executor = ProcessExecutor(
        stores.jobs,
        run_job,
        (config,),
        workers=config.job_workers,
        stop_grace=config.job_stop_grace_s,
    )
    return dataclasses.replace(stores, executor=executor)


def run_job(ctx: JobContext, config: ServiceConfig, kind: str, job_id: str, resume: bool) -> str:
    """A job's work, in its own process: the name of the resource it made."""
    stores = Stores.open(config, in_job=True)
    try:
        sources = SourceService(stores)
        training = TrainingService(stores, sources)
        runner: TrainingService | GenerationService | EvaluationService = training
        if kind == JobKind.GENERATE:
            runner = GenerationService(stores, training)
        elif kind == JobKind.EVALUATE:
            runner = EvaluationService(stores, sources, GenerationService(stores, training))
        job = stores.jobs.get(job_id)
        return runner.run(ctx, job, resume=resume)
    finally:
        stores.meta.dispose()
        sys.stdout.flush()
