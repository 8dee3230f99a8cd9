"""A checkpointed training survives a crash or a shutdown: the same job resumes, charged once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import synth
from synth.core.config import DEFAULT_SIZE_EPSILON as SIZE
from synth.server import start_server
from tests.service.fixtures import connect, register_approved

PARAMS = dict(epochs=6, batch_size=400, generator_dim=[16], discriminator_dim=[16], embedding_dim=8)

SERVER = textwrap.dedent(
    """
    import sys, time
    from synth.server import start_server
    running = start_server(sys.argv[1])
    _, token = running.service.stores.tokens.create("alice", "owner")
    print(running.address, token, flush=True)
    time.sleep(600)
    """
)


def _wait_for_checkpoint(folder: Path, job: str, timeout: float = 120) -> None:
    index = folder / "artifacts" / "checkpoints" / job.split("/")[1] / "checkpoint.json"
    deadline = time.monotonic() + timeout
    while not index.is_file():
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.05)


def test_a_crashed_training_resumes_from_its_checkpoint(tmp_path: Path, adult_small_csv: bytes) -> None:
    folder = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address, token = proc.stdout.readline().split()
        client = synth.Client.connect(address, token=token)
        src = register_approved(client, "adult", adult_small_csv, budget=synth.Budget(epsilon=8.0, delta=1e-6))
        handle = client.train(src, generator="dpctgan", epsilon=3.0, **PARAMS)
        _wait_for_checkpoint(folder, handle.name)
        client.close()
    finally:
        proc.kill()  # a crash: no shutdown, the job row is left RUNNING
        proc.wait()

    with start_server(folder) as running, connect(running) as client:
        model = client.job(handle.name).result(timeout=300)
        job = client.get_job(handle.name)
        assert job.state is synth.JobState.SUCCEEDED
        budget = client.budget("adult")
        # Charged once, not again on resume (and the source's size, measured once).
        assert budget.spent.epsilon == pytest.approx(3.0 + SIZE)
        assert {e.job for e in budget.entries} == {handle.name, ""}
        # The ε of an uninterrupted run with the same plan, on the same source.
        straight = client.train("adult", generator="dpctgan", epsilon=3.0, **PARAMS).result(timeout=300)
        assert model.epsilon == straight.epsilon
        assert "checkpoint_dir" not in model.params
        assert not list((folder / "artifacts" / "checkpoints").iterdir())


def test_a_shutdown_pauses_a_checkpointed_training_until_the_next_start(
    tmp_path: Path, adult_small_csv: bytes
) -> None:
    folder = tmp_path / "data"
    running = start_server(folder)
    client = connect(running)
    src = register_approved(client, "adult", adult_small_csv, budget=synth.Budget(epsilon=4.0, delta=1e-6))
    handle = client.train(src, generator="dpctgan", epsilon=3.0, **PARAMS)
    _wait_for_checkpoint(folder, handle.name)
    client.close()
    running.stop(grace=1)

    with start_server(folder) as again, connect(again) as client:
        model = client.job(handle.name).result(timeout=300)
        assert model.generator == "dpctgan" and model.epsilon is not None and model.epsilon <= 3.0
        assert client.budget("adult").spent.epsilon == pytest.approx(3.0 + SIZE)
