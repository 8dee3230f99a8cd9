"""Jobs in child processes (synth.jobs.process): cancel kills, memory is capped, state survives.

The first tests drive `ProcessExecutor` directly with a recording `JobUpdates`
and entry functions of this module (a child process imports it by name);
the last ones run real trainings through a server with
`job_isolation="process"`. Deadlines are generous (a loaded 2-core box):
they bound a hang, they time nothing.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import synth
from synth.base.errors import SynthError
from synth.base.progress import Progress
from synth.client import Client
from synth.core.config import ServiceConfig
from synth.jobs.context import JobContext
from synth.jobs.process import IsolatedJob, ProcessExecutor, nvidia_driver_present
from synth.jobs.state import JobState
from synth.server import RunningServer, start_server
from tests.service.fixtures import connect, csv_bytes, register_approved

DEADLINE = 120.0  # seconds: only a hang takes this long


class Recorder:
    """A `JobUpdates` that keeps every call, for the executor tests."""

    def __init__(self) -> None:
        self.state: dict[str, JobState] = {}
        self.errors: dict[str, BaseException] = {}
        self.results: dict[str, str] = {}
        self.progress_seen: dict[str, list[Progress]] = {}
        self.touched: set[str] = set()
        self.notes: dict[str, str] = {}
        self.changed = threading.Condition()

    def _set(self, job_id: str, state: JobState) -> bool:
        with self.changed:
            if self.state.get(job_id, JobState.QUEUED).final:
                return False
            self.state[job_id] = state
            self.changed.notify_all()
        return True

    def start(self, job_id: str) -> bool:
        return self._set(job_id, JobState.RUNNING)

    def progress(self, job_id: str, p: Progress) -> None:
        with self.changed:
            self.progress_seen.setdefault(job_id, []).append(p)
            self.changed.notify_all()

    def mark_touched(self, job_id: str) -> None:
        self.touched.add(job_id)

    def note(self, job_id: str, message: str) -> None:
        self.notes[job_id] = message

    def succeed(self, job_id: str, result: str, message: str = "") -> bool:
        self.results[job_id] = result
        return self._set(job_id, JobState.SUCCEEDED)

    def fail(self, job_id: str, err: BaseException) -> bool:
        self.errors[job_id] = err
        return self._set(job_id, JobState.FAILED)

    def cancel(self, job_id: str, message: str = "", *, only_if_queued: bool = False) -> bool:
        if only_if_queued and self.state.get(job_id, JobState.QUEUED) is not JobState.QUEUED:
            return False
        return self._set(job_id, JobState.CANCELLED)

    def interrupt(self, job_id: str, message: str) -> bool:
        return self._set(job_id, JobState.INTERRUPTED)

    def wait(self, predicate: Any) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout=DEADLINE), "timed out"


# --- entry functions the child runs: (ctx, kind, job_id, resume) -> resource name ---------


def entry(ctx: JobContext, kind: str, job_id: str, resume: bool) -> str:
    if kind == "quick":
        ctx.touch_data()
        ctx.progress(Progress("working", 0.5, message="half way"))
        return f"things/{job_id}"
    if kind == "polite":  # stops at its next step when asked
        while True:
            ctx.progress(Progress("working", 0.1))
            time.sleep(0.05)
    if kind == "stubborn":  # one long step: never looks at the cancel signal
        ctx.jobs.progress(ctx.job_id, Progress("working", 0.1))  # reports, checks nothing
        while True:
            time.sleep(1)
    if kind == "hungry":  # takes memory until the cap stops it
        ctx.progress(Progress("working", 0.1))
        hoard = []
        for _ in range(10_000):
            hoard.append(bytearray(64 * 2**20))
        return "never/here"
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "typed":
        raise synth.InvalidArgument("a typed error crosses as its code, reason and message")
    raise AssertionError(kind)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def executor(recorder: Recorder) -> Iterator[ProcessExecutor]:
    ex = ProcessExecutor(recorder, entry, workers=2, stop_grace=1.0)
    yield ex
    ex.shutdown(wait=True)


def _job(kind: str, job_id: str, memory_mb: int | None = None) -> IsolatedJob:
    def here(ctx: JobContext) -> str:
        raise AssertionError("the process executor never runs a job in the server process")

    return IsolatedJob(kind=kind, job_id=job_id, resume=False, run_here=here, memory_mb=memory_mb)


def _running(recorder: Recorder, job_id: str) -> bool:
    return bool(recorder.progress_seen.get(job_id))


def test_a_job_runs_in_another_process_and_reports_back(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit("j1", _job("quick", "j1"))
    recorder.wait(lambda: recorder.state.get("j1", JobState.QUEUED).final)
    assert recorder.state["j1"] is JobState.SUCCEEDED and recorder.results["j1"] == "things/j1"
    assert "j1" in recorder.touched
    assert [p.message for p in recorder.progress_seen["j1"]] == ["half way"]


def test_cancel_stops_a_polite_job_at_its_next_step(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit("j2", _job("polite", "j2"))
    recorder.wait(lambda: _running(recorder, "j2"))
    executor.cancel("j2")
    recorder.wait(lambda: recorder.state["j2"].final)
    assert recorder.state["j2"] is JobState.CANCELLED


def test_cancel_kills_a_job_stuck_in_one_long_step(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    killed: list[str] = []
    work = _job("stubborn", "j3")
    work = IsolatedJob(
        kind=work.kind,
        job_id=work.job_id,
        resume=False,
        run_here=work.run_here,
        after_kill=lambda: killed.append("j3"),
    )
    executor.submit("j3", work)
    recorder.wait(lambda: _running(recorder, "j3"))
    pid = executor.pid("j3")
    assert pid is not None and pid != os.getpid()
    executor.cancel("j3")
    recorder.wait(lambda: recorder.state["j3"].final)
    assert recorder.state["j3"] is JobState.CANCELLED
    assert killed == ["j3"], "what the killed child could not clean up is cleaned by the parent"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.skipif(
    nvidia_driver_present(), reason="no address-space cap where CUDA may initialise"
)
def test_a_job_past_its_memory_cap_fails_saying_so(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit("j4", _job("hungry", "j4", memory_mb=256))
    recorder.wait(lambda: recorder.state.get("j4", JobState.QUEUED).final)
    assert recorder.state["j4"] is JobState.FAILED
    err = recorder.errors["j4"]
    assert isinstance(err, SynthError) and err.code == "RESOURCE_EXHAUSTED"
    assert "out of memory" in err.message and "256 MiB" in err.message


def test_a_job_process_killed_by_a_signal_fails_naming_it(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit("j5", _job("crash", "j5", memory_mb=512))
    recorder.wait(lambda: recorder.state.get("j5", JobState.QUEUED).final)
    assert recorder.state["j5"] is JobState.FAILED
    assert "SIGKILL" in str(recorder.errors["j5"]) and "512 MiB" in str(recorder.errors["j5"])


def test_a_typed_error_crosses_the_pipe_as_itself(
    executor: ProcessExecutor, recorder: Recorder
) -> None:
    executor.submit("j6", _job("typed", "j6"))
    recorder.wait(lambda: recorder.state.get("j6", JobState.QUEUED).final)
    err = recorder.errors["j6"]
    assert isinstance(err, synth.InvalidArgument) and "crosses as its code" in str(err)


def test_shutdown_interrupts_running_jobs(recorder: Recorder) -> None:
    ex = ProcessExecutor(recorder, entry, workers=1, stop_grace=1.0)
    ex.submit("j7", _job("stubborn", "j7"))
    ex.submit("j8", _job("quick", "j8"))  # still queued behind j7
    recorder.wait(lambda: _running(recorder, "j7"))
    ex.shutdown(wait=True)
    assert recorder.state["j7"] is JobState.INTERRUPTED
    assert recorder.state["j8"] is JobState.INTERRUPTED


# --- through a server whose jobs run in processes ---------------------------------------


@pytest.fixture(scope="module")
def process_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("synth-isolated")
    config = ServiceConfig(data_dir=folder, job_isolation="process", job_stop_grace_s=2.0)
    with start_server(folder, port=0, config=config) as running:
        yield running


@pytest.fixture(scope="module")
def pclient(process_server: RunningServer) -> Iterator[Client]:
    with connect(process_server) as c:
        yield c


def _wait_for(handle: Any, predicate: Any) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        job = handle.status()
        if predicate(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"{handle.name} did not get there: {handle.status()}")


@pytest.mark.slow
def test_train_generate_and_evaluate_run_isolated(pclient: Client, adult: pa.Table) -> None:
    src = register_approved(
        pclient, "iso", csv_bytes(adult.slice(0, 2000)), budget=synth.Budget(epsilon=3.0)
    )
    model = pclient.train(src, generator="dp_marginals", epsilon=0.5).result(timeout=DEADLINE)
    dataset = pclient.generate(model, rows=1_000, seed=3).result(timeout=DEADLINE)
    assert dataset.rows == 1_000
    ev = pclient.evaluate(dataset, target="income").result(timeout=DEADLINE)  # every metric
    assert "fidelity.overall" in ev.scores and "membership.auc.value" in ev.scores


@pytest.mark.slow
def test_cancel_stops_a_long_training_and_refunds_nothing_it_used(
    pclient: Client, adult: pa.Table
) -> None:
    src = register_approved(
        pclient, "iso-cancel", csv_bytes(adult.slice(2000, 2000)), budget=synth.Budget(epsilon=3.0)
    )
    handle = pclient.train(src, generator="dpctgan", epsilon=1.0, epochs=1000, batch_size=50)
    _wait_for(handle, lambda j: j.progress.phase == "training")
    handle.cancel()
    job = _wait_for(handle, lambda j: j.state.done)
    assert job.state is JobState.CANCELLED
    assert pclient.budget(src).spent.epsilon > 0  # it read rows: the charge stands


@pytest.mark.slow
def test_a_training_killed_with_its_server_resumes_from_its_checkpoint(
    tmp_path: Path, adult: pa.Table
) -> None:
    folder = tmp_path / "data"
    config = ServiceConfig(data_dir=folder, job_isolation="process", job_stop_grace_s=1.0)
    running = start_server(folder, port=0, config=config)
    try:
        with connect(running) as c:
            src = register_approved(
                c,
                "iso-resume",
                csv_bytes(adult.slice(4000, 2000)),
                budget=synth.Budget(epsilon=3.0),
            )
            handle = c.train(
                src, generator="dpctgan", epsilon=1.0, epochs=6, batch_size=200, checkpoint_every=1
            )
            _wait_for(handle, lambda j: j.progress.metrics.get("epoch", 0) >= 2)
            name = handle.name
    finally:
        running.stop(grace=0)  # the job's process is killed with its server
    again = start_server(folder, port=0, config=config)
    try:
        with connect(again) as c:
            model = c.job(name).result(timeout=DEADLINE)
            assert model.generator == "dpctgan"
    finally:
        again.stop(grace=0)


def test_synth_serve_isolates_jobs_by_default_and_the_library_keeps_threads(
    tmp_path: Path,
) -> None:
    """`synth serve` runs each job in a process; a library or test server keeps threads
    (no start-up cost per job), unless its configuration asks for processes."""
    from synth.cli.parser import build_parser

    assert build_parser().parse_args(["serve"]).job_isolation == "process"
    assert build_parser().parse_args(["serve", "--job-isolation", "thread"]).job_isolation == (
        "thread"
    )
    assert ServiceConfig(data_dir=tmp_path).job_isolation == "thread"
