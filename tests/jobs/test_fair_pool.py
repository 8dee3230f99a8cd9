"""The job pool takes owners in turn: one owner's queue never starves another's job."""

from __future__ import annotations

import threading

import pytest

from synth.jobs.fair import FairPool


def test_owners_take_turns_whatever_each_queued() -> None:
    gate, started = threading.Event(), threading.Event()
    order: list[str] = []
    pool = FairPool(1)

    def hold() -> None:  # holds the only worker while the queues fill
        started.set()
        gate.wait()

    pool.submit("x", hold)
    assert started.wait(30)
    for i in range(5):
        pool.submit("flood", order.append, f"flood-{i}")
    pool.submit("small", order.append, "small-0")
    pool.submit("other", order.append, "other-0")
    assert pool.queued() == {"flood": 5, "small": 1, "other": 1}
    gate.set()
    pool.shutdown(wait=True)
    # One of the flood, then the two waiting owners, then the rest of the flood in order.
    assert order == ["flood-0", "small-0", "other-0", "flood-1", "flood-2", "flood-3", "flood-4"]


def test_work_queued_before_shutdown_still_runs_and_later_work_is_refused() -> None:
    done: list[int] = []
    pool = FairPool(2)
    for i in range(10):
        pool.submit(f"o{i % 3}", done.append, i)
    pool.shutdown(wait=True)
    assert sorted(done) == list(range(10))
    with pytest.raises(RuntimeError):
        pool.submit("late", done.append, 99)


def test_an_item_that_raises_does_not_stop_the_worker() -> None:
    done: list[str] = []
    pool = FairPool(1)
    pool.submit("a", lambda: 1 / 0)
    pool.submit("a", done.append, "after")
    pool.shutdown(wait=True)
    assert done == ["after"]
