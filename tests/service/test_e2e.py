"""The whole flow through a real server: register, train, generate, download, budget."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth.core.config import DEFAULT_SIZE_EPSILON as SIZE
from synth.v1 import jobs_pb2, models_pb2, sources_pb2
from tests.service.fixtures import distinct_csv
from tests.service.stubs import Stubs


def test_register_train_generate_download(stubs: Stubs, adult_small_csv: bytes, adult: pa.Table) -> None:
    src = stubs.register_approved("adult", adult_small_csv, epsilon=3.0, delta=1e-6, display_name="Adult")
    assert src.name == "sources/adult"
    assert src.row_count == 3000 and src.train_rows == 2400 and src.holdout_rows == 600
    assert src.fingerprint.startswith("hmac-sha256:")
    assert src.version_id.startswith("sv-")
    assert [c.name for c in src.schema.columns] == adult.column_names

    job = stubs.train(src.name, epsilon=1.0)
    assert job.state == jobs_pb2.QUEUED or job.state == jobs_pb2.RUNNING
    done = stubs.wait(job)
    assert done.state == jobs_pb2.SUCCEEDED, done.error.message
    assert 0 < done.progress.epsilon_spent <= 1.0
    model = stubs.models.GetModel(models_pb2.GetModelRequest(name=done.result))
    assert model.source == src.name and model.generator == "dp_marginals"
    assert model.epsilon <= 1.0 and model.delta < 1 / 2400

    budget = stubs.budget(src.name)
    assert budget.spent.epsilon == pytest.approx(sum(e.spend.epsilon for e in budget.entries))
    assert budget.spent.epsilon <= 1.0 + SIZE + 1e-9  # the training and the source's size
    assert budget.remaining.epsilon == pytest.approx(3.0 - budget.spent.epsilon)
    assert all(e.model == model.name and e.job == job.name for e in budget.entries if e.job)
    assert [e.spend.purpose for e in budget.entries if not e.job] == ["size"]

    gen = stubs.wait(stubs.generate(model.name, rows=5000, seed=7))
    assert gen.state == jobs_pb2.SUCCEEDED, gen.error.message
    table = pq.read_table(io.BytesIO(stubs.download(gen.result)))
    assert table.num_rows == 5000
    assert table.column_names == adult.column_names
    assert [f.type for f in table.schema] == [f.type for f in adult.schema]
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert meta["synth.source"] == src.name
    assert meta["synth.source_version"] == src.version_id == model.source_version
    assert "synth.source_fingerprint" not in meta
    assert meta["synth.model"] == model.name
    assert meta["synth.generator"] == "dp_marginals"
    assert float(meta["synth.epsilon"]) == pytest.approx(model.epsilon)
    assert meta["synth.seed"] == "7"
    for key in ("synth.delta", "synth.version", "synth.created", "synth.generator_version"):
        assert meta[key]


def test_same_model_and_seed_give_the_same_rows(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv)
    model = stubs.wait(stubs.train(src.name, epsilon=1.0)).result
    a = stubs.wait(stubs.generate(model, rows=3000, seed=11)).result
    b = stubs.wait(stubs.generate(model, rows=3000, seed=11)).result
    c = stubs.wait(stubs.generate(model, rows=3000, seed=12)).result
    ta, tb, tc = (pq.read_table(io.BytesIO(stubs.download(d))) for d in (a, b, c))
    assert ta.equals(tb)
    assert not ta.equals(tc)


def test_tables_larger_than_the_message_limit_stream_both_ways(
    stubs: Stubs, adult_csv_path: Path, adult: pa.Table
) -> None:
    raw = adult_csv_path.read_bytes()
    big = raw + raw.split(b"\n", 1)[1]
    assert len(big) > 4 * 1024 * 1024 + 1
    src = stubs.register_approved("adult-big", big)
    assert src.row_count == 2 * adult.num_rows
    model = stubs.wait(stubs.train(src.name, epsilon=1.0)).result
    ds = stubs.wait(stubs.generate(model, rows=600_000, seed=1)).result
    data = stubs.download(ds)
    assert len(data) > 4 * 1024 * 1024
    assert pq.read_table(io.BytesIO(data)).num_rows == 600_000


def test_list_calls_paginate(stubs: Stubs, adult: pa.Table) -> None:
    for i in range(5):
        stubs.register(f"s{i}", distinct_csv(adult, i, rows=200))
    names: list[str] = []
    token = ""
    while True:
        page = stubs.sources.ListSources(sources_pb2.ListSourcesRequest(page_size=2, page_token=token))
        names += [s.name for s in page.sources]
        token = page.next_page_token
        if not token:
            break
    assert names == [f"sources/s{i}" for i in range(5)]
