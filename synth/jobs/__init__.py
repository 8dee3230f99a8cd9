"""Long-running work: the executor interface and the local (thread pool) executor."""

from synth.jobs.context import JobContext
from synth.jobs.local import LocalExecutor

__all__ = ["JobContext", "LocalExecutor"]
