"""Jobs: idempotency keys, cancellation, progress, and the state after a restart."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import grpc
import pytest

from synth.core.config import DEFAULT_SIZE_EPSILON as SIZE
from synth.core.config import ServiceConfig
from synth.server import start_server
from synth.v1 import datasets_pb2, jobs_pb2, models_pb2, sources_pb2
from tests.service.stubs import Stubs, error_info


def test_same_idempotency_key_and_request_return_the_same_job(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv)
    a = stubs.train(src.name, epsilon=1.0, idempotency_key="nightly-1")
    b = stubs.train(src.name, epsilon=1.0, idempotency_key="nightly-1")
    assert a.name == b.name
    stubs.wait(a)
    assert len({e.job for e in stubs.budget(src.name).entries if e.job}) == 1
    with pytest.raises(grpc.RpcError) as err:
        stubs.train(src.name, epsilon=0.5, idempotency_key="nightly-1")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    info = error_info(err.value)
    assert info is not None and info.reason == "IDEMPOTENCY_CONFLICT"
    assert info.metadata["job"] == a.name
    assert len({e.job for e in stubs.budget(src.name).entries if e.job}) == 1

    model = stubs.wait(a).result
    g1 = stubs.generate(model, rows=100, seed=1, idempotency_key="g")
    g2 = stubs.generate(model, rows=100, seed=1, idempotency_key="g")
    assert g1.name == g2.name
    with pytest.raises(grpc.RpcError) as err:
        stubs.generate(model, rows=200, seed=1, idempotency_key="g")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_watch_streams_progress_until_done(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv)
    job = stubs.train(src.name, epsilon=1.0)
    seen = list(stubs.jobs.WatchJob(jobs_pb2.WatchJobRequest(name=job.name), timeout=60))
    states = [s.state for s in seen]
    assert states[-1] == jobs_pb2.SUCCEEDED
    assert states == sorted(states)  # forward only
    spent = [s.progress.epsilon_spent for s in seen]
    assert spent == sorted(spent) and spent[-1] > 0
    assert {s.progress.phase for s in seen} - {"queued", "starting", "done"}


def _big_generate(stubs: Stubs, adult_small_csv: bytes) -> tuple[str, jobs_pb2.Job]:
    src = stubs.register_approved("adult", adult_small_csv)
    model = stubs.wait(stubs.train(src.name, epsilon=1.0)).result
    return model, stubs.generate(model, rows=50_000_000, seed=1)


def _wait_running(stubs: Stubs, job: jobs_pb2.Job) -> None:
    for snap in stubs.jobs.WatchJob(jobs_pb2.WatchJobRequest(name=job.name), timeout=60):
        if snap.state == jobs_pb2.RUNNING and snap.progress.phase == "sampling":
            return
    raise AssertionError("job never ran")


def test_cancel_a_running_job_leaves_no_dataset(stubs: Stubs, adult_small_csv: bytes, data_folder: Path) -> None:
    _, job = _big_generate(stubs, adult_small_csv)
    _wait_running(stubs, job)
    stubs.jobs.CancelJob(jobs_pb2.CancelJobRequest(name=job.name))
    done = stubs.wait(job)
    assert done.state == jobs_pb2.CANCELLED
    assert list(stubs.datasets.ListDatasets(datasets_pb2.ListDatasetsRequest()).datasets) == []
    assert list((data_folder / "artifacts" / "datasets").iterdir()) == []


def test_cancel_a_queued_training_refunds_its_charge(tmp_path: Path, adult_small_csv: bytes) -> None:
    folder = tmp_path / "one-worker"
    running = start_server(folder, config=ServiceConfig(data_dir=folder, job_workers=1))
    s = Stubs.connect(running)
    try:
        _, blocker = _big_generate(s, adult_small_csv)
        _wait_running(s, blocker)
        queued = s.train("sources/adult", epsilon=1.0)
        assert s.budget("sources/adult").spent.epsilon == pytest.approx(2.0 + SIZE)
        cancelled = s.jobs.CancelJob(jobs_pb2.CancelJobRequest(name=queued.name))
        assert cancelled.state == jobs_pb2.CANCELLED
        budget = s.budget("sources/adult")
        assert budget.spent.epsilon == pytest.approx(1.0 + SIZE)  # the size was not the job's
        assert [e.refunded for e in budget.entries if e.job == queued.name] == [True] * len(
            [e for e in budget.entries if e.job == queued.name]
        )
        s.jobs.CancelJob(jobs_pb2.CancelJobRequest(name=blocker.name))
    finally:
        running.stop(grace=0)


def test_graceful_stop_interrupts_running_jobs_and_a_restart_keeps_everything(
    tmp_path: Path, adult_small_csv: bytes
) -> None:
    folder = tmp_path / "data"
    running = start_server(folder)
    s = Stubs.connect(running)
    src = s.register_approved("adult", adult_small_csv)
    model = s.wait(s.train(src.name, epsilon=1.0)).result
    ds = s.wait(s.generate(model, rows=1000, seed=3)).result
    first_download = s.download(ds)
    job = s.generate(model, rows=50_000_000, seed=1)
    _wait_running(s, job)
    budget = s.budget(src.name)
    s.channel.close()
    running.stop(grace=1)

    again = start_server(folder)
    s2 = Stubs.connect(again)
    try:
        assert s2.sources.GetSource(sources_pb2.GetSourceRequest(name=src.name)).fingerprint == src.fingerprint
        assert s2.models.GetModel(models_pb2.GetModelRequest(name=model)).name == model
        assert s2.download(ds) == first_download
        assert s2.budget(src.name) == budget
        after = s2.jobs.GetJob(jobs_pb2.GetJobRequest(name=job.name))
        assert after.state == jobs_pb2.INTERRUPTED
        assert after.error.reason == "INTERRUPTED"
    finally:
        again.stop(grace=0)


CRASHING_SERVER = textwrap.dedent(
    """
    import sys, time
    from synth.server import start_server
    running = start_server(sys.argv[1])
    _, token = running.service.stores.tokens.create("alice", "owner")
    print(running.address, token, flush=True)
    time.sleep(600)
    """
)


def test_after_a_crash_a_running_job_shows_as_interrupted(tmp_path: Path, adult_small_csv: bytes) -> None:
    folder = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SERVER, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        address, token = proc.stdout.readline().split()
        s = Stubs.connect(address, token)
        _, job = _big_generate(s, adult_small_csv)
        _wait_running(s, job)
        s.channel.close()
    finally:
        proc.kill()  # no shutdown: the job row is left RUNNING
        proc.wait()
    again = start_server(folder)
    try:
        s2 = Stubs.connect(again)
        after = s2.jobs.GetJob(jobs_pb2.GetJobRequest(name=job.name))
        assert after.state == jobs_pb2.INTERRUPTED
        assert not list((folder / "artifacts" / "tmp").iterdir())
        assert list((folder / "artifacts" / "datasets").iterdir()) == []
        # The charge for the training stays: that job read the data.
        assert s2.budget("sources/adult").spent.epsilon == pytest.approx(1.0 + SIZE)
    finally:
        again.stop(grace=0)


def test_unknown_and_malformed_names(stubs: Stubs) -> None:
    with pytest.raises(grpc.RpcError) as err:
        stubs.jobs.GetJob(jobs_pb2.GetJobRequest(name="jobs/nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stubs.jobs.GetJob(jobs_pb2.GetJobRequest(name="models/x"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        stubs.generate("models/nope", rows=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stubs.jobs.ListJobs(jobs_pb2.ListJobsRequest(page_token="garbage"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_generate_refuses_bad_row_counts(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv)
    model = stubs.wait(stubs.train(src.name, epsilon=1.0)).result
    for rows in (0, -5):
        with pytest.raises(grpc.RpcError) as err:
            stubs.generate(model, rows=rows)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "rows must be between 1 and" in err.value.details()
    _ = time
