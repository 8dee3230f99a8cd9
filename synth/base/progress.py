"""Progress events: what long work reports, and how a caller stops it.

Generators emit `Progress`; the job layer records it and streams it as job
progress. The callback may raise (`synth.base.errors.Cancelled`) to stop the
work, so producers call it often enough for cancellation to be prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Progress:
    """One progress event of a job: its phase, how far along, what it has spent."""

    phase: str
    fraction: float
    epsilon_spent: float = 0.0
    message: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)


#: Called with each progress event; it may raise to stop the work.
ProgressFn = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """The default callback: report nowhere, never stop."""
    return None
