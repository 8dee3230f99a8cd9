"""Hostile watchers: server streams (WatchJob, downloads) held open to take every thread.

A WatchJob stream lasts as long as its job; a caller who opens many holds as many
server threads. The stream slots (`max_concurrent_streams`, `max_streams_per_caller`)
refuse the rest with RESOURCE_EXHAUSTED while health and ListSources keep answering.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest

from synth.v1 import jobs_pb2
from tests.service.fixtures import distinct_csv
from tests.service.hostile import (
    calls_carry_identities,
    connect,
    honest_calls_answer,
    hostile_server,
    owner_token,
)


def _watch(stubs, job: jobs_pb2.Job) -> Iterator[jobs_pb2.Job]:  # type: ignore[no-untyped-def]
    return stubs.jobs.WatchJob(jobs_pb2.WatchJobRequest(name=job.name), timeout=120)


def test_watch_streams_past_the_slots_are_refused(tmp_path: Path, adult: pa.Table) -> None:
    server = hostile_server(tmp_path / "data", max_concurrent_streams=2, max_streams_per_caller=1)
    try:
        if not calls_carry_identities(server):
            pytest.skip("a caller's share needs calls that carry an identity (the auth interceptor)")
        owner = owner_token(server, "watcher")
        stubs = connect(server, owner)
        src = stubs.register_approved("watched", distinct_csv(adult, 0, rows=400), epsilon=3.0)
        model = stubs.wait(stubs.train(src.name, epsilon=1.0))
        assert model.state == jobs_pb2.SUCCEEDED
        # A generation long enough to watch while the test runs; cancelled at the end.
        job = stubs.generate(model.result, rows=20_000_000)
        first = _watch(stubs, job)
        assert next(first).name == job.name  # the stream is open and holds a slot
        second = _watch(stubs, job)
        with pytest.raises(grpc.RpcError) as share:
            next(second)
        assert share.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "at most 1 streams at once from one caller" in share.value.details()
        other = _watch(connect(server, owner), job)  # the same caller on another channel
        with pytest.raises(grpc.RpcError):
            next(other)
        # Another caller takes the second slot; a third finds none left.
        admin = connect(server)
        held = _watch(admin, job)
        assert next(held).name == job.name
        third = _watch(connect(server, owner_token(server, "third")), job)
        with pytest.raises(grpc.RpcError) as full:
            next(third)
        assert "at most 2 streams at once and" in full.value.details()
        honest_calls_answer(server)
        stubs.jobs.CancelJob(jobs_pb2.CancelJobRequest(name=job.name), timeout=30)
        states = [j.state for j in first]
        assert states and states[-1] == jobs_pb2.CANCELLED
    finally:
        server.stop(grace=0)
