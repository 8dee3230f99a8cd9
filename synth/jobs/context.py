"""What a running job sees: progress reporting and cooperative cancellation."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from synth.base.errors import Cancelled, Interrupted
from synth.base.progress import Progress
from synth.jobs.updates import JobUpdates


@dataclass
class JobContext:
    job_id: str
    jobs: JobUpdates
    cancel_event: threading.Event = field(default_factory=threading.Event)
    shutdown_event: threading.Event = field(default_factory=threading.Event)
    #: Write progress to the store at most this often (phase changes always go through).
    min_interval: float = 0.2
    _last_write: float = 0.0
    _last_phase: str = ""

    def check(self) -> None:
        """Raise if the job should stop: call between steps."""
        if self.shutdown_event.is_set():
            raise Interrupted("the server is shutting down")
        if self.cancel_event.is_set():
            raise Cancelled("cancelled by request")

    def progress(self, p: Progress) -> None:
        """The generators' progress callback: records the event, then checks for cancellation."""
        now = time.monotonic()
        if (
            p.phase != self._last_phase
            or now - self._last_write >= self.min_interval
            or p.fraction >= 1.0
        ):
            self.jobs.progress(self.job_id, p)
            self._last_write, self._last_phase = now, p.phase
        self.check()

    def touch_data(self) -> None:
        self.check()
        self.jobs.mark_touched(self.job_id)
