"""What the executor and a running job need from the job store.

A protocol, so the job layer does not import the store (which imports it):
`synth.store.jobs.JobStore` is the implementation.
"""

from __future__ import annotations

from typing import Protocol

from synth.base.progress import Progress


class JobUpdates(Protocol):
    def start(self, job_id: str) -> bool: ...

    def progress(self, job_id: str, p: Progress) -> None: ...

    def mark_touched(self, job_id: str) -> None: ...

    def note(self, job_id: str, message: str) -> None: ...

    def succeed(self, job_id: str, result: str, message: str = "") -> bool: ...

    def fail(self, job_id: str, err: BaseException) -> bool: ...

    def cancel(
        self, job_id: str, message: str = "cancelled by request", *, only_if_queued: bool = False
    ) -> bool: ...

    def interrupt(self, job_id: str, message: str) -> bool: ...
