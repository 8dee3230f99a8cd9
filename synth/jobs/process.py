"""Runs each job in a child process: cancel stops it within seconds, its memory is capped.

The thread executor (`synth.jobs.local`) can only ask a job to stop at its
next step; one long step (a huge batch, a slow solver call) holds a core and
its memory until it returns, and nothing can free it. Here every job is a
child process started with multiprocessing's "forkserver" method ("spawn"
where there is none) - never "fork", which would copy the server's gRPC
threads' locks - and the parent keeps one supervising thread per job:

- progress, "about to read data" and notes flow child → parent over a pipe,
  and the parent writes them to the job store (so watchers wake as before);
  "cancel" and "shutdown" flow parent → child, where the job's context raises
  at its next step;
- a child that has not stopped `stop_grace` seconds after a cancel or a
  shutdown is killed (SIGKILL); the job is then CANCELLED (or, at shutdown,
  INTERRUPTED, or left to resume from its checkpoint);
- the child caps its address space (RLIMIT_AS) at the job's memory cap above
  what it had mapped after start-up: an allocation past it fails in the child
  (MemoryError) and the job is FAILED with RESOURCE_EXHAUSTED saying so; a
  child killed by a signal is FAILED naming the signal and the cap;
- a job's result is the name of the resource it stored; nothing but our own
  small messages (progress, names, error codes and messages) crosses the pipe.

The work itself is an `IsolatedJob`: the job's kind, id and whether it
resumes. The child calls the executor's entry function with them (the
service passes `synth.core.isolation.run_job`, which opens the stores in the
child and runs the job as the thread executor would).

This module is the parent's side; the child's (its entry point and the pipe's
messages) is `synth.jobs.child`, the memory cap `synth.jobs.limits`. Their
public names are re-exported here.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from synth.base.errors import ResourceLimit, SynthError, error_class_for
from synth.jobs.child import PipeUpdates, child_main
from synth.jobs.context import JobContext
from synth.jobs.executor import JobFn, Resumable
from synth.jobs.fair import FairPool
from synth.jobs.limits import MIB, cap_memory, nvidia_driver_present
from synth.jobs.updates import JobUpdates

__all__ = [
    "MIB",
    "PRELOAD",
    "IsolatedJob",
    "NoExecutor",
    "PipeUpdates",
    "ProcessExecutor",
    "cap_memory",
    "child_main",
    "no_job_runs_here",
    "nvidia_driver_present",
]

log = logging.getLogger(__name__)

#: Modules the forkserver imports once, so each job's process starts without importing them.
PRELOAD = (
    "numpy",
    "pyarrow",
    "pyarrow.parquet",
    "polars",
    "synth.jobs.process",
    "synth.jobs.child",
)


@dataclass(frozen=True)
class IsolatedJob:
    """A job told by plain values, so a child process can run it.

    The process executor calls its `entry` function (given at construction)
    with `(ctx, *entry_args, kind, job_id, resume)` in the child; the thread
    executor calls `run_here` in the server process. `memory_mb` caps the
    child's memory (None: no cap). `after_kill` runs in the parent when the
    child was killed before it could clean up after itself (a cancelled
    training's checkpoint folder).
    """

    kind: str
    job_id: str
    resume: bool
    run_here: JobFn = field(compare=False)
    memory_mb: int | None = None
    after_kill: Callable[[], None] | None = field(default=None, compare=False)

    def __call__(self, ctx: JobContext) -> str:
        return self.run_here(ctx)


@dataclass
class _Child:
    conn: Connection
    process: Any  # multiprocessing.process.BaseProcess
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Why the parent asked it to stop ("cancel" or "shutdown"), and when to kill it.
    stop: str = ""
    kill_at: float = 0.0
    killed: bool = False

    def send(self, msg: str) -> None:
        with self.lock, contextlib.suppress(OSError):  # the child is gone already
            self.conn.send(msg)


def _context(preload: tuple[str, ...]) -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([*PRELOAD, *preload])
        return ctx
    return multiprocessing.get_context("spawn")


class ProcessExecutor:
    """The `Executor` that runs each job in a child process (see the module docstring)."""

    #: `synth.core.submission` hands this executor `IsolatedJob`s.
    isolated = True

    def __init__(
        self,
        jobs: JobUpdates,
        entry: Callable[..., str],
        entry_args: tuple[Any, ...] = (),
        *,
        workers: int = 2,
        stop_grace: float = 3.0,
        preload: tuple[str, ...] = (),
    ) -> None:
        self.jobs = jobs
        self.entry = entry
        self.entry_args = entry_args
        self.stop_grace = stop_grace
        # The forkserver imports these once (the entry's module, say); each job forks from it.
        self._mp = _context((*preload, entry.__module__))
        self._pool = FairPool(workers)
        self._children: dict[str, _Child] = {}
        self._cancelled: set[str] = set()
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
        """Queue `fn` (an `IsolatedJob`); `running=True` picks up a job left RUNNING."""
        if not isinstance(fn, IsolatedJob):
            raise TypeError("the process executor runs IsolatedJob work only")
        self._pool.submit(owner, self._run, job_id, fn, resumable, running)

    def _run(
        self, job_id: str, work: IsolatedJob, resumable: Resumable | None, running: bool
    ) -> None:
        try:
            if self._shutdown.is_set() and not running:
                self.jobs.interrupt(job_id, "the server shut down before this job started")
                return
            with self._lock:
                cancelled = job_id in self._cancelled
            if cancelled or not (running or self.jobs.start(job_id)):
                return
            outcome, child = self._supervise(job_id, work)
            self._settle(job_id, work, resumable, outcome, child)
        except BaseException as exc:
            log.exception("job %s failed", job_id)
            self.jobs.fail(job_id, exc)
        finally:
            with self._lock:
                self._children.pop(job_id, None)
                self._cancelled.discard(job_id)

    def _supervise(self, job_id: str, work: IsolatedJob) -> tuple[tuple[Any, ...] | None, _Child]:
        """Start the child and relay its messages until it reports an outcome or ends."""
        parent, child_end = self._mp.Pipe()
        process = self._mp.Process(
            target=child_main,
            args=(
                child_end,
                job_id,
                self.entry,
                (*self.entry_args, work.kind, work.job_id, work.resume),
                work.memory_mb,
            ),
            name=f"synth-job-{job_id}",
            daemon=True,
        )
        child = _Child(parent, process)
        with self._lock:
            self._children[job_id] = child
            stop = (
                "cancel"
                if job_id in self._cancelled
                else "shutdown"
                if self._shutdown.is_set()
                else ""
            )
        process.start()
        child_end.close()
        if stop:
            self._ask_to_stop(child, stop)
        outcome: tuple[Any, ...] | None = None
        while outcome is None:
            if child.kill_at and time.monotonic() >= child.kill_at and process.is_alive():
                child.killed = True
                process.kill()
            try:
                ready = parent.poll(0.2)
                msg = parent.recv() if ready else None
            except (EOFError, OSError):
                break
            if msg is None:
                if not process.is_alive() and not parent.poll(0):
                    break
                continue
            outcome = self._relay(job_id, child, msg)
        process.join(timeout=self.stop_grace + 5)
        if process.is_alive():
            child.killed = True
            process.kill()
            process.join()
        parent.close()
        return outcome, child

    def _relay(self, job_id: str, child: _Child, msg: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Write one of the child's reports to the store; the outcome, if it is one."""
        kind = msg[0]
        if kind == "progress":
            self.jobs.progress(job_id, msg[1])
        elif kind == "touched":
            self.jobs.mark_touched(job_id)
            child.send("ack")
        elif kind == "note":
            self.jobs.note(job_id, msg[1])
        else:
            return msg
        return None

    def _settle(
        self,
        job_id: str,
        work: IsolatedJob,
        resumable: Resumable | None,
        outcome: tuple[Any, ...] | None,
        child: _Child,
    ) -> None:
        """Move the job to its final state (or leave it to resume) from what the child said."""
        kind = outcome[0] if outcome else ""
        if kind == "ok":
            self.jobs.succeed(job_id, outcome[1])  # type: ignore[index]
            return
        if child.killed and work.after_kill is not None and child.stop != "shutdown":
            work.after_kill()
        if kind == "cancelled" or (not kind and child.stop == "cancel"):
            self.jobs.cancel(
                job_id,
                "cancelled by request"
                if kind
                else "cancelled by request (its process did not stop in time and was killed)",
            )
        elif kind == "interrupted" or (not kind and child.stop == "shutdown"):
            if resumable is not None and resumable():
                self.jobs.note(
                    job_id,
                    "paused by a server shutdown; resumes from its last checkpoint at the next start",
                )
            else:
                self.jobs.interrupt(job_id, "the server shut down while this job ran")
        elif kind == "error":
            _, code, reason, message = outcome  # type: ignore[misc]
            self.jobs.fail(job_id, error_class_for(reason, code)(message))
        else:
            self.jobs.fail(job_id, self._died(child, work))

    def _died(self, child: _Child, work: IsolatedJob) -> SynthError:
        code = child.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            cap = f" (its memory cap was {work.memory_mb:,} MiB)" if work.memory_mb else ""
            return ResourceLimit(
                f"the job's process was killed by {name}{cap}: most often the system ran out of "
                "memory; lower what the job's plan names, or run it when the server is less busy"
            )
        return error_class_for("INTERNAL", "INTERNAL")(
            f"the job's process exited with status {code} without a result"
        )

    def _ask_to_stop(self, child: _Child, why: str) -> None:
        child.stop = child.stop or why
        if not child.kill_at:
            child.kill_at = time.monotonic() + self.stop_grace
        child.send(why)

    def cancel(self, job_id: str) -> None:
        """Ask a job to stop; its process is killed if it has not stopped `stop_grace` s later."""
        with self._lock:
            self._cancelled.add(job_id)
            child = self._children.get(job_id)
        if child is not None:
            self._ask_to_stop(child, "cancel")
        self.jobs.cancel(job_id, only_if_queued=True)

    def shutdown(self, *, wait: bool = True) -> None:
        """Ask every running job to stop (killing it after `stop_grace`); queued ones are interrupted."""
        self._shutdown.set()
        with self._lock:
            children = list(self._children.values())
        for child in children:
            self._ask_to_stop(child, "shutdown")
        self._pool.shutdown(wait=wait)

    def pid(self, job_id: str) -> int | None:
        """The process id of a running job (for tests and operators), None if it has none."""
        with self._lock:
            child = self._children.get(job_id)
        return child.process.pid if child is not None else None


def no_job_runs_here(*_: Any, **__: Any) -> None:
    """The executor of a job's own process: jobs do not start jobs."""
    raise RuntimeError("a job's process does not run other jobs")


class NoExecutor:
    """Stands in for the executor inside a job's process (`Stores` needs one)."""

    isolated = False
    submit = cancel = staticmethod(no_job_runs_here)

    def shutdown(self, *, wait: bool = True) -> None:
        return None
