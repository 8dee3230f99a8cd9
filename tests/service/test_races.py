"""Races the database settles: one idempotency key sent by many clients at once.

On SQLite, BEGIN IMMEDIATE serialises the calls; on PostgreSQL
(SYNTH_TEST_DATABASE_URL) they overlap, the unique index uq_jobs_idempotency
refuses every insert but the first, and the losers answer with the winner's
job. (Charges racing for one budget: test_concurrency.py.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from synth.core.config import DEFAULT_SIZE_EPSILON as SIZE
from synth.server import RunningServer
from synth.v1 import jobs_pb2
from tests.service.stubs import Stubs

CLIENTS = 8


def at_once(server: RunningServer, call: Callable[[Stubs], jobs_pb2.Job]) -> list[str]:
    """`call` from CLIENTS clients let go together; the job names they got."""
    barrier = threading.Barrier(CLIENTS)

    def client(_: int) -> str:
        s = Stubs.connect(server)
        try:
            barrier.wait()
            return call(s).name
        finally:
            s.channel.close()

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(client, range(CLIENTS)))


def test_one_key_sent_at_once_makes_one_job_and_one_charge(
    fresh_server: RunningServer, adult_small_csv: bytes
) -> None:
    s = Stubs.connect(fresh_server)
    src = s.register_approved("adult", adult_small_csv, epsilon=3.0)

    trains = at_once(
        fresh_server, lambda c: c.train(src.name, epsilon=1.0, idempotency_key="nightly")
    )
    assert len(set(trains)) == 1
    budget = s.budget(src.name)
    # One job, one charge, and one size measurement for all of them.
    assert budget.spent.epsilon == pytest.approx(1.0 + SIZE)
    assert {e.job for e in budget.entries} == {trains[0], ""}
    assert [e.spend.purpose for e in budget.entries].count("size") == 1

    done = s.wait(jobs_pb2.Job(name=trains[0]))
    assert done.state == jobs_pb2.SUCCEEDED
    generations = at_once(
        fresh_server,
        lambda c: c.generate(done.result, rows=50, seed=3, idempotency_key="daily"),
    )
    assert len(set(generations)) == 1
    assert s.wait(jobs_pb2.Job(name=generations[0])).state == jobs_pb2.SUCCEEDED
    s.channel.close()
