"""Jobs: the state machine, the record, the executor contract, the local executor.

A job's persistence (its row, idempotency, watchers) is `synth.store.jobs`;
this package never imports the store, it talks to it through `JobUpdates`.
"""

from synth.jobs.context import JobContext
from synth.jobs.executor import Executor, JobFn, Resumable
from synth.jobs.local import LocalExecutor
from synth.jobs.record import JobRecord, request_hash
from synth.jobs.state import JobKind, JobState, can_move
from synth.jobs.updates import JobUpdates

__all__ = [
    "Executor",
    "JobContext",
    "JobFn",
    "JobKind",
    "JobRecord",
    "JobState",
    "JobUpdates",
    "LocalExecutor",
    "Resumable",
    "can_move",
    "request_hash",
]
