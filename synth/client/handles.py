"""Handles on long-running work: wait for it, watch it, or cancel it.

`Client.train` and `Client.generate` return at once with a `JobHandle`; the
work runs on the server whether or not anyone waits. `result()` follows the
job over the WatchJob stream and turns a failed job back into the typed
exception the server recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar, cast

import grpc

from synth.base.errors import Cancelled, DeadlineExceeded, Interrupted, SynthError
from synth.client.convert import job_from_proto
from synth.client.errors import class_for, iter_translated
from synth.client.progress import JobCallback, JobProgressBar
from synth.client.resources import Job, JobKind, JobState
from synth.v1 import jobs_pb2

R = TypeVar("R")


class JobCalls(Protocol):
    """What a handle needs from the client that made it (`synth.Client` is one).

    A protocol, so this module does not import the client, which imports it.
    """

    address: str

    def get_job(self, job: str) -> Job: ...

    def get_model(self, model: str) -> Any: ...

    def get_dataset(self, dataset: str) -> Any: ...

    def get_evaluation(self, evaluation: str) -> Any: ...

    def _cancel_job_message(self, name: str) -> jobs_pb2.Job: ...

    def _watch_job_stream(self, name: str, *, timeout: float | None) -> Any: ...


def job_failure(job: Job) -> SynthError:
    """The exception a finished, unsuccessful job stands for."""
    if job.state is JobState.CANCELLED:
        return Cancelled(f"{job.name} was cancelled")
    if job.state is JobState.INTERRUPTED:
        return Interrupted(
            f"{job.name} was interrupted: the server stopped while it ran; start it again"
        )
    err = job.error
    if err is None:
        return SynthError(f"{job.name} ended in state {job.state.value} without an error")
    try:
        code = grpc.StatusCode[err.code] if err.code else grpc.StatusCode.UNKNOWN
    except KeyError:
        code = grpc.StatusCode.UNKNOWN
    cls = class_for(err.reason, code)
    return cls(f"{job.name} failed: {err.message}" if err.message else f"{job.name} failed")


class JobHandle(Generic[R]):
    """A job on the server. Cheap to create; safe to share across threads.

    `result()` returns a `Model` for a training job and a `Dataset` for a
    generation job.
    """

    def __init__(self, client: JobCalls, name: str, *, job: Job | None = None) -> None:
        self._client = client
        self.name = name
        self._last = job

    def __repr__(self) -> str:
        state = self._last.state.value if self._last else "?"
        return f"JobHandle({self.name!r}, last seen {state})"

    @property
    def last_seen(self) -> Job | None:
        """The latest snapshot this handle has seen (no call is made)."""
        return self._last

    def status(self) -> Job:
        """The job now (one GetJob call)."""
        self._last = self._client.get_job(self.name)
        return self._last

    def cancel(self) -> Job:
        """Ask the server to stop the job; a queued job is cancelled at once and refunded."""
        self._last = job_from_proto(self._client._cancel_job_message(self.name))
        return self._last

    def watch(self, *, timeout: float | None = None) -> Iterator[Job]:
        """Yield the job now, then on every change, until it is done."""
        stream = self._client._watch_job_stream(self.name, timeout=timeout)
        try:
            for msg in iter_translated(stream, address=self._client.address):
                job = job_from_proto(msg)
                self._last = job
                yield job
        finally:
            stream.cancel()

    def wait(
        self,
        *,
        timeout: float | None = None,
        progress: bool | JobCallback = False,
    ) -> Job:
        """Block until the job is done and return its last snapshot (raises nothing for failure)."""
        callback: JobCallback | None
        bar: JobProgressBar | None = None
        if progress is True:
            bar = JobProgressBar(self.name, description=self._describe())
            callback = bar
        elif callable(progress):
            callback = progress
        else:
            callback = None
        last: Job | None = None
        try:
            for job in self.watch(timeout=timeout):
                last = job
                if callback is not None:
                    callback(job)
        except DeadlineExceeded as exc:
            raise DeadlineExceeded(
                f"{self.name} did not finish within {timeout} s; it keeps running on the server",
                metadata=exc.metadata,
            ) from exc
        finally:
            if bar is not None:
                bar.close()
        if last is None or not last.done:
            last = self.status()
        if not last.done:
            raise SynthError(f"the watch on {self.name} ended before the job finished")
        return last

    def result(
        self,
        timeout: float | None = None,
        *,
        progress: bool | Callable[[Job], None] = False,
    ) -> R:
        """Wait for the job; return what it made, or raise why it did not.

        Raises the job's typed error if it failed, `synth.Cancelled` if it was
        cancelled, `synth.Interrupted` if the server stopped under it, and
        `synth.DeadlineExceeded` if `timeout` seconds pass first (the job then
        keeps running; call `result()` again).
        """
        job = self.wait(timeout=timeout, progress=progress)
        if job.state is not JobState.SUCCEEDED:
            raise job_failure(job)
        if job.kind is JobKind.TRAIN:
            return cast(R, self._client.get_model(job.result))
        if job.kind is JobKind.GENERATE:
            return cast(R, self._client.get_dataset(job.result))
        if job.kind is JobKind.EVALUATE:
            return cast(R, self._client.get_evaluation(job.result))
        return cast(R, job.result)

    def _describe(self) -> str:
        kind = self._last.kind.value.lower() if self._last else "job"
        return f"{kind} {self.name.split('/', 1)[-1]}"
