"""The job state machine: what a job is, where it stands, and where it may go.

States only move forward: QUEUED → RUNNING → one final state. A job that
never reached a row of data when it stopped (cancelled, interrupted, failed)
gets its budget charge back; `refunds_charge` says which stops those are.
"""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    #: The wire's zero value (a client that names no kind); never stored.
    UNSPECIFIED = "JOB_KIND_UNSPECIFIED"
    TRAIN = "TRAIN"
    GENERATE = "GENERATE"
    EVALUATE = "EVALUATE"


class JobState(StrEnum):
    """States only move forward: QUEUED → RUNNING → one of the final states.

    The server's job records and the SDK's `synth.JobState` are this one enum.
    """

    #: The wire's zero value (a filter that names no state); never stored.
    UNSPECIFIED = "JOB_STATE_UNSPECIFIED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"

    @property
    def final(self) -> bool:
        return self in _FINAL

    @property
    def done(self) -> bool:
        """The SDK's word for `final`: the job will not change again."""
        return self.final

    @property
    def refunds_charge(self) -> bool:
        """A stop after which an untouched job's charge is given back."""
        return self in (JobState.CANCELLED, JobState.INTERRUPTED, JobState.FAILED)


_FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED})

_ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset(
        {JobState.RUNNING, JobState.CANCELLED, JobState.INTERRUPTED, JobState.FAILED}
    ),
    JobState.RUNNING: frozenset(
        {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED}
    ),
}


def can_move(current: JobState, new: JobState) -> bool:
    """Whether a job in `current` may move to `new` (never backwards, never out of a final state)."""
    return new in _ALLOWED.get(current, frozenset())
