"""A worker pool that takes queued work round-robin across owners, not first-come.

With one FIFO queue, an owner who queues 200 trainings makes everyone else's
next job wait behind all of them. Here each owner has a queue of their own,
and a free worker takes the next item of the owner after the one it served
last: an owner with one job waits for at most one job of each other owner
(per worker), however many they queued. Within an owner, order is kept.

A drop-in for the two calls the executors make of `ThreadPoolExecutor`
(`submit`, `shutdown`): queued work still runs after `shutdown` (the
executors' job functions mark a job that had not started as interrupted).
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any


class FairPool:
    def __init__(self, workers: int, *, name: str = "synth-job") -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self._queues: OrderedDict[str, deque[Callable[[], Any]]] = OrderedDict()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, owner: str, fn: Callable[..., Any], *args: Any) -> None:
        """Queue `fn(*args)` under `owner` ("" is an owner too: the server's own work)."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            self._queues.setdefault(owner, deque()).append(lambda: fn(*args))
            self._cond.notify()

    def queued(self) -> dict[str, int]:
        """How many items each owner has waiting (for tests and operators)."""
        with self._cond:
            return {owner: len(q) for owner, q in self._queues.items()}

    def _next(self) -> Callable[[], Any] | None:
        with self._cond:
            while not self._queues and not self._closed:
                self._cond.wait()
            if not self._queues:
                return None  # closed and drained
            owner, queue = next(iter(self._queues.items()))
            item = queue.popleft()
            # This owner goes to the back of the line; gone when it has nothing left.
            del self._queues[owner]
            if queue:
                self._queues[owner] = queue
            return item

    def _work(self) -> None:
        while (item := self._next()) is not None:
            with contextlib.suppress(BaseException):  # the executors' functions log their own
                item()

    def shutdown(self, *, wait: bool = True) -> None:
        """Take no more work; the workers finish what is queued, then stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if wait:
            for t in self._threads:
                if t is not threading.current_thread():
                    t.join()
