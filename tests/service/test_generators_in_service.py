"""Every registered generator trains and samples through the service, charged to the ledger."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

import synth
from synth.core.config import DEFAULT_SIZE_EPSILON as SIZE
from synth.server import RunningServer
from synth.store.sqltables import jobs
from synth.v1 import jobs_pb2
from tests.service.fixtures import connect, register_approved
from tests.service.stubs import Stubs


def test_dpctgan_through_the_service(fresh_server: RunningServer, adult_small_csv: bytes) -> None:
    client = connect(fresh_server)
    src = register_approved(client, "adult", adult_small_csv, budget=synth.Budget(epsilon=4.0, delta=1e-6))
    handle = client.train(src, generator="dpctgan", epsilon=3.0, epochs=1, batch_size=200,
                          generator_dim=[32, 32], discriminator_dim=[32, 32], embedding_dim=16)
    snapshots = list(handle.watch(timeout=300))  # every progress event a caller can read
    model = handle.result()
    final = client.get_job(handle.name)
    assert model.generator == "dpctgan"
    assert model.epsilon is not None and model.epsilon <= 3.0
    assert {s.purpose for s in model.spends} == {"preprocessing", "training"}
    budget = client.budget(src)
    assert budget.spent.epsilon == pytest.approx(3.0 + SIZE)
    # The last progress event of the training (the generator's loss, ε spent) stays on the
    # finished job. The discriminator's loss, a sum over real rows and not DP, is never shown.
    assert {"loss_g", "epsilon"} <= set(final.progress.metrics)
    assert any("loss_g" in s.progress.metrics for s in snapshots)
    assert not any("loss_d" in s.progress.metrics for s in [*snapshots, final])
    # A job stored before the discriminator's loss was withheld holds it: dropped on read.
    with fresh_server.service.stores.meta.transaction() as conn:
        old = json.dumps({**final.progress.metrics, "loss_d": 0.69})
        conn.execute(update(jobs).where(jobs.c.id == handle.name.split("/")[1]).values(metrics_json=old))
    assert "loss_d" not in client.get_job(handle.name).progress.metrics
    assert "loss_d" not in next(j for j in client.list_jobs() if j.name == handle.name).progress.metrics
    assert final.progress.epsilon_spent == pytest.approx(model.epsilon)
    df = client.download(client.generate(model, rows=500, seed=3).result())
    assert df.height == 500 and df.columns == [c.name for c in src.schema.columns]
    client.close()


def test_non_private_training_needs_a_source_that_allows_it(admin_stubs: Stubs, adult_small_csv: bytes) -> None:
    stubs = admin_stubs  # allow_non_private is set by an admin alone
    stubs.register_approved("internal", adult_small_csv, allow_non_private=True)
    job = stubs.train("sources/internal", epsilon=None, generator="dp_marginals")
    done = stubs.wait(job)
    assert done.state == jobs_pb2.SUCCEEDED
    assert list(stubs.budget("sources/internal").entries) == []


def test_aim_and_auto_through_the_service(fresh_server: RunningServer, adult_small_csv: bytes) -> None:
    client = connect(fresh_server)
    src = register_approved(client, "adult", adult_small_csv, budget=synth.Budget(epsilon=4.0, delta=1e-6))
    model = client.train(src, generator="aim", epsilon=1.0).result()
    assert model.generator == "aim" and model.epsilon is not None and model.epsilon <= 1.0
    auto = client.train(src, generator="auto", epsilon=1.0).result()
    assert auto.generator in ("aim", "dpctgan", "dp_marginals")
    assert client.budget(src).spent.epsilon == pytest.approx(2.0 + SIZE)
    df = client.download(client.generate(model, rows=300, seed=1).result())
    assert df.height == 300
    client.close()
