"""Owners take turns for the job workers: one owner's queue does not starve another's job."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from synth.core.config import ServiceConfig
from synth.server import start_server
from synth.v1 import jobs_pb2
from tests.service.fixtures import OTHER_OWNER, csv_bytes, token_for
from tests.service.stubs import Stubs


def _wait_running(stubs: Stubs, job: jobs_pb2.Job) -> None:
    for snap in stubs.jobs.WatchJob(jobs_pb2.WatchJobRequest(name=job.name), timeout=120):
        if snap.state == jobs_pb2.RUNNING and snap.progress.phase == "sampling":
            return
    raise AssertionError("the blocking job never ran")


def test_a_second_owners_job_runs_before_the_first_owners_backlog(
    tmp_path: Path, adult: pa.Table
) -> None:
    folder = tmp_path / "one-worker"
    running = start_server(folder, config=ServiceConfig(data_dir=folder, job_workers=1))
    alice = Stubs.connect(running)
    bob = Stubs.connect(running, token=token_for(running, OTHER_OWNER, "owner"))
    try:
        a_src = alice.register_approved("alice-adult", csv_bytes(adult.slice(0, 3000)), epsilon=9.0)
        b_src = bob.register_approved("bob-adult", csv_bytes(adult.slice(3000, 3000)), epsilon=9.0)
        model = alice.wait(alice.train(a_src.name, epsilon=1.0)).result
        blocker = alice.generate(model, rows=30_000_000, seed=1)  # holds the only worker
        _wait_running(alice, blocker)
        backlog = [alice.train(a_src.name, epsilon=0.5) for _ in range(3)]
        theirs = bob.train(b_src.name, epsilon=0.5)
        alice.jobs.CancelJob(jobs_pb2.CancelJobRequest(name=blocker.name))
        done = [alice.wait(j, timeout=300) for j in backlog]
        mine = bob.wait(theirs, timeout=300)
        assert all(j.state == jobs_pb2.SUCCEEDED for j in [*done, mine])
        starts = sorted([(j.start_time.ToNanoseconds(), j.name) for j in [*done, mine]])
        # With one FIFO queue bob's job would start last; taking turns, it is second.
        assert [name for _, name in starts].index(mine.name) == 1, starts
    finally:
        for s in (alice, bob):
            s.channel.close()
        running.stop(grace=0)
