"""The executor contract: run a job's function somewhere, cancel it, shut down.

The local thread pool (`synth.jobs.local`) is the default; other executors
(a Ray cluster) implement the same three calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from synth.jobs.context import JobContext

#: A job's work: given its context, returns the name of the resource it made.
JobFn = Callable[[JobContext], str]
#: Says whether an interrupted job can pick up where it stopped (it has a checkpoint).
Resumable = Callable[[], bool]


class Executor(Protocol):
    def submit(
        self,
        job_id: str,
        fn: JobFn,
        *,
        resumable: Resumable | None = None,
        running: bool = False,
        owner: str = "",
    ) -> None:
        """Queue `fn`; `running=True` picks up a job a previous process left RUNNING.

        Owners take turns for the workers (`synth.jobs.fair`): one owner's queue
        never holds back another owner's next job.
        """

    def cancel(self, job_id: str) -> None:
        """Ask a job to stop; a job still queued is cancelled at once."""

    def shutdown(self, *, wait: bool = True) -> None:
        """Interrupt running jobs and stop taking new ones."""
