"""Runs jobs on a thread pool in the server process.

Torch and numpy release the GIL in their kernels, so a few worker threads
keep the cores busy; the gRPC threads stay free to answer. Cancellation is
cooperative: the job's context raises at the next progress report.
"""

from __future__ import annotations

import logging
import threading

from synth.base.errors import Cancelled, Interrupted
from synth.jobs.context import JobContext
from synth.jobs.executor import JobFn, Resumable
from synth.jobs.fair import FairPool
from synth.jobs.updates import JobUpdates

log = logging.getLogger(__name__)


class LocalExecutor:
    def __init__(self, jobs: JobUpdates, *, workers: int = 2) -> None:
        self.jobs = jobs
        self._pool = FairPool(workers)
        self._contexts: dict[str, JobContext] = {}
        self._lock = threading.Lock()
        self._shutdown = threading.Event()

    def submit(
        self,
        job_id: str,
        fn: JobFn,
        *,
        resumable: Resumable | None = None,
        running: bool = False,
        owner: str = "",
    ) -> None:
        """Queue `fn`; `running=True` picks up a job a previous process left RUNNING."""
        ctx = JobContext(job_id=job_id, jobs=self.jobs, shutdown_event=self._shutdown)
        with self._lock:
            self._contexts[job_id] = ctx
            self._pool.submit(owner, self._run, ctx, fn, resumable, running)

    def _run(self, ctx: JobContext, fn: JobFn, resumable: Resumable | None, running: bool) -> None:
        try:
            if ctx.shutdown_event.is_set() and not running:
                self.jobs.interrupt(ctx.job_id, "the server shut down before this job started")
                return
            if ctx.cancel_event.is_set() or not (running or self.jobs.start(ctx.job_id)):
                return
            result = fn(ctx)
            self.jobs.succeed(ctx.job_id, result)
        except Interrupted as exc:
            if resumable is not None and resumable():
                self.jobs.note(
                    ctx.job_id,
                    "paused by a server shutdown; resumes from its last checkpoint at the next start",
                )
            else:
                self.jobs.interrupt(ctx.job_id, str(exc))
        except Cancelled as exc:
            self.jobs.cancel(ctx.job_id, str(exc))
        except BaseException as exc:
            log.exception("job %s failed", ctx.job_id)
            self.jobs.fail(ctx.job_id, exc)
        finally:
            with self._lock:
                self._contexts.pop(ctx.job_id, None)

    def cancel(self, job_id: str) -> None:
        """Ask a job to stop; a job still queued is cancelled at once (and refunded)."""
        with self._lock:
            ctx = self._contexts.get(job_id)
        if ctx is not None:
            ctx.cancel_event.set()
        self.jobs.cancel(job_id, only_if_queued=True)

    def shutdown(self, *, wait: bool = True) -> None:
        """Interrupt running jobs, mark queued ones INTERRUPTED, wait for workers to return."""
        self._shutdown.set()
        self._pool.shutdown(wait=wait)
