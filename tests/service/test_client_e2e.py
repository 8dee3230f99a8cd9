"""The SDK against a real in-process server on port 0, on the real Adult table."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import synth
from synth.base.schema import TableSchema
from synth.base.tableio import read_metadata
from synth.client import Client, Dataset, JobState, Model, Source
from synth.core.config import ServiceConfig
from synth.server import start_server
from tests.service.fixtures import admin_token, connect, register_approved

CAP = synth.Budget(epsilon=4.0, delta=1e-4)


@pytest.fixture(scope="module")
def src(client: Client, adult_csv: Path) -> Source:
    return register_approved(client, "adult", adult_csv, budget=CAP, split_seed=1)


@pytest.fixture(scope="module")
def model(client: Client, src: Source) -> Model:
    return client.train(src, generator="dp_marginals", epsilon=1.0).result()


@pytest.fixture(scope="module")
def dataset(client: Client, model: Model) -> Dataset:
    return client.generate(model, rows=2000, seed=7).result()


def test_register_reports_the_table(src: Source, adult: pa.Table) -> None:
    assert src.name == "sources/adult" and src.id == "adult"
    assert src.row_count == adult.num_rows == src.train_rows + src.holdout_rows
    assert src.holdout_rows == round(0.2 * adult.num_rows)
    assert src.schema.names == adult.column_names
    assert src.budget_cap == CAP and src.split_seed == 1
    assert "sources/adult" in str(src) and "32,561 rows" in str(src)


def test_quickstart_session(
    client: Client, src: Source, adult: pa.Table, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = client.train(src, generator="dp_marginals", epsilon=0.5).result(progress=True)
    assert "100%" in capsys.readouterr().err  # the bar reached the end
    assert model.generator == "dp_marginals" and model.source == src.name
    assert model.epsilon is not None and 0 < model.epsilon <= 0.5
    ds = client.generate(model, rows=1000, seed=3).result(progress=True)
    assert ds.rows == 1000 and ds.model == model.name and ds.seed == 3

    df = client.download(ds)
    assert isinstance(df, pl.DataFrame)
    assert df.columns == adult.column_names and df.height == 1000
    table = client.download(ds, format="arrow")
    assert isinstance(table, pa.Table)
    assert table.schema.names == adult.schema.names  # the source's names and Arrow types
    assert table.schema.types == adult.schema.types
    pdf = client.download(ds, format="pandas")
    assert isinstance(pdf, pd.DataFrame) and len(pdf) == 1000

    path = client.download(ds, path=tmp_path / "out" / "adult_synth.parquet")
    assert path == tmp_path / "out" / "adult_synth.parquet"
    assert pq.read_table(path).equals(table)
    assert [p.name for p in path.parent.iterdir()] == ["adult_synth.parquet"]  # no temp left
    lineage = read_metadata(path)
    assert ds.lineage and ds.lineage.items() <= lineage.items()
    assert {model.name, src.name, src.version_id, "3"} <= set(lineage.values())
    assert model.source_version == src.version_id and src.fingerprint not in lineage.values()

    budget = client.budget(src)
    assert budget.cap == CAP
    mine = [e for e in budget.entries if e.model == model.name]
    assert mine and sum(e.spend.epsilon for e in mine) == pytest.approx(model.epsilon)
    assert budget.remaining.epsilon == pytest.approx(CAP.epsilon - budget.spent.epsilon)
    assert model.name in str(budget)


def test_functions_take_names_as_well_as_objects(client: Client, src: Source, model: Model,
                                                 dataset: Dataset) -> None:
    assert client.get_source("adult") == client.get_source(src)
    assert client.get_model(model.name) == client.get_model(model)
    assert client.get_dataset(dataset.id) == dataset
    assert client.get_job(model.job).result == model.name
    assert client.job(dataset.job).status().state is JobState.SUCCEEDED


def test_lists_walk_every_page(client: Client, src: Source, model: Model, dataset: Dataset) -> None:
    for i in range(3):
        client.register_source(f"small-{i}", synth_small(i), budget=CAP)
    everything = client.list_sources()
    assert {s.name for s in client.list_sources(page_size=1)} == {s.name for s in everything}
    assert {"sources/adult", "sources/small-0", "sources/small-2"} <= {s.name for s in everything}
    assert model.name in [m.name for m in client.list_models(source=src)]
    assert dataset.name in [d.name for d in client.list_datasets(parent=model)]
    jobs = client.list_jobs(target=src, page_size=1)
    assert model.job in [j.name for j in jobs]
    assert all(j.target == src.name for j in jobs)
    assert model.job in [j.name for j in client.list_jobs(state="SUCCEEDED")]


def synth_small(i: int) -> pl.DataFrame:
    return pl.DataFrame({"x": list(range(50 + i)), "c": ["a", "b"] * 25 + ["a"] * i})


def test_tables_of_every_kind_register_alike(client: Client, adult: pa.Table) -> None:
    part = adult.slice(0, 3000)
    s = client.register_source("kind-0", part, budget=CAP)
    assert s.row_count == 3000 and s.schema.names == part.column_names
    for i, data in enumerate((pl.from_arrow(part), part.to_pandas()), start=1):
        # The same content, whatever the frame it came in: refused as the same rows.
        with pytest.raises(synth.AlreadyExists, match="same rows exists: sources/kind-0"):
            client.register_source(f"kind-{i}", data, budget=CAP)


def test_register_by_a_path_the_server_reads(tmp_path: Path, adult: pa.Table) -> None:
    roots = tmp_path / "imports"
    roots.mkdir()
    pq.write_table(adult.slice(0, 2000), roots / "part.parquet")
    config = ServiceConfig(data_dir=tmp_path / "data", import_roots=(roots,))
    with start_server(tmp_path / "data", config=config) as running, Client.connect(
        running.address, token=admin_token(running)  # server-side paths: an admin's alone
    ) as c:
        s = c.register_source("by-uri", uri=str(roots / "part.parquet"), budget=CAP)
        assert s.row_count == 2000
        # The same rows uploaded are the same source.
        with pytest.raises(synth.AlreadyExists, match="sources/by-uri"):
            c.register_source("by-upload", adult.slice(0, 2000), budget=CAP)


def test_schema_export_edit_and_send_back(client: Client, adult: pa.Table, tmp_path: Path) -> None:
    s = client.register_source("schema-edit", adult.slice(0, 2000), budget=CAP)
    schema = client.schema(s)
    assert isinstance(schema, TableSchema) and schema.names == adult.column_names
    path = tmp_path / "schema.json"
    path.write_text(schema.with_column(dataclasses.replace(schema["age"], lower=17, upper=90)).to_json())
    updated = client.update_schema(s, path)
    assert (updated.schema["age"].lower, updated.schema["age"].upper) == (17, 90)
    assert updated.schema_version == s.schema_version + 1
    assert client.schema(s.name) == updated.schema
    assert (s.schema_state, updated.schema_state) == ("pending", "pending")
    approved = client.update_schema(s, path, approve=True)
    assert approved.schema_approved and approved.approved_schema_version == s.schema_version + 2


def test_a_spend_over_the_cap_is_refused_with_what_remains(client: Client, src: Source,
                                                            model: Model) -> None:
    before = client.budget(src)
    with pytest.raises(synth.BudgetExhausted) as info:
        client.train(src, generator="dp_marginals", epsilon=100.0)
    err = info.value
    assert float(err.metadata["remaining_epsilon"]) == pytest.approx(before.remaining.epsilon)
    assert "remaining_delta" in err.metadata
    after = client.budget(src)
    assert after.spent == before.spent and len(after.entries) == len(before.entries)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"PAR1 this is not parquet PAR1", "corrupt"),
        (b"", "empty"),
        (b"a,b\n", "no rows"),
        (b"a,a\n1,2\n", "duplicate"),
    ],
)
def test_bad_tables_are_invalid_table(client: Client, data: bytes, match: str) -> None:
    with pytest.raises(synth.InvalidTable, match=match):
        client.register_source("bad-table", data, budget=CAP)
    with pytest.raises(synth.NotFound):
        client.get_source("bad-table")


def test_other_typed_errors(client: Client, src: Source, adult_csv: Path) -> None:
    with pytest.raises(synth.NotFound):
        client.get_source("no-such-source")
    with pytest.raises(synth.NotFound):
        client.get_model("models/no-such-model")
    with pytest.raises(synth.AlreadyExists):
        client.register_source("adult", adult_csv, budget=CAP)
    with pytest.raises(synth.InvalidArgument, match="not both"):
        client.register_source("x", adult_csv, uri=str(adult_csv), budget=CAP)
    with pytest.raises(synth.InvalidArgument, match="no file"):
        client.register_source("x", adult_csv.with_name("missing.csv"), budget=CAP)


def test_idempotency_keys(client: Client, model: Model) -> None:
    first = client.generate(model, rows=100, seed=1, idempotency_key="gen-key-1")
    again = client.generate(model, rows=100, seed=1, idempotency_key="gen-key-1")
    assert again.name == first.name
    with pytest.raises(synth.IdempotencyConflict):
        client.generate(model, rows=200, seed=1, idempotency_key="gen-key-1")
    assert first.result().name == again.result().name


def test_the_same_seed_gives_the_same_rows(client: Client, model: Model, dataset: Dataset) -> None:
    twin = client.generate(model, rows=2000, seed=7).result()
    assert twin.name != dataset.name
    assert client.download(twin).equals(client.download(dataset))
    other = client.generate(model, rows=2000, seed=8).result()
    assert not client.download(other).equals(client.download(dataset))


def test_watch_follows_a_job_to_its_end(client: Client, model: Model) -> None:
    handle = client.generate(model, rows=5000, seed=2)
    snapshots = list(handle.watch())
    assert snapshots[-1].state is JobState.SUCCEEDED and snapshots[-1].done
    assert not any(s.done for s in snapshots[:-1])
    fractions = [s.progress.fraction for s in snapshots]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    seen: list[str] = []
    handle.wait(progress=lambda job: seen.append(job.state.value))
    assert seen[-1] == "SUCCEEDED"


def test_cancel_stops_a_job(client: Client, model: Model) -> None:
    handle = client.generate(model, rows=20_000_000, seed=5)
    with pytest.raises(synth.DeadlineExceeded, match="keeps running"):
        handle.result(timeout=0.05)
    handle.cancel()
    with pytest.raises(synth.Cancelled):
        handle.result(timeout=60)
    assert handle.status().state is JobState.CANCELLED


def test_one_client_serves_many_threads(client: Client, src: Source, model: Model) -> None:
    def work(i: int) -> tuple[str, str]:
        return client.get_source(src).name, client.get_model(model).name

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(32)))
    assert set(results) == {(src.name, model.name)}


def test_download_to_a_path_leaves_nothing_when_it_fails(client: Client, tmp_path: Path) -> None:
    target = tmp_path / "never.parquet"
    with pytest.raises(synth.NotFound):
        client.download("datasets/no-such-dataset", path=target)
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_server_is_unavailable() -> None:
    with Client.connect("127.0.0.1:1") as c, pytest.raises(synth.Unavailable, match=r"127\.0\.0\.1:1"):
        c.list_sources()
    with pytest.raises(synth.Unavailable, match="no synth server answered"):
        Client.connect("127.0.0.1:1", wait_ready=0.2)


def test_a_job_cut_off_by_a_restart_raises_interrupted(tmp_path: Path, adult: pa.Table) -> None:
    with start_server(tmp_path, port=0) as first, connect(first) as c:
        s = register_approved(c, "restart", adult.slice(0, 2000), budget=CAP)
        m = c.train(s, generator="dp_marginals", epsilon=0.5).result()
        handle = c.generate(m, rows=50_000_000, seed=1)
        for job in handle.watch():
            if job.state is JobState.RUNNING:
                break
        first.stop(grace=0.5)
    with start_server(tmp_path, port=0) as second, connect(second) as c:
        with pytest.raises(synth.Interrupted, match="interrupted"):
            c.job(handle.name).result(timeout=30)
        assert c.get_job(handle.name).state is JobState.INTERRUPTED


def test_transfers_can_show_byte_progress(
    client: Client, dataset: Dataset, adult: pa.Table, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "part.parquet"
    pq.write_table(adult.slice(0, 5000), path)
    s = client.register_source("with-progress", path, budget=CAP, progress=True)
    err = capsys.readouterr().err
    assert "upload with-progress" in err and "100%" in err
    assert s.row_count == 5000
    client.download(dataset, path=tmp_path / "d.parquet", progress=True)
    err = capsys.readouterr().err
    assert f"download {dataset.id}" in err and "100%" in err


def test_hyperparameters_pass_as_keywords(client, adult) -> None:  # type: ignore[no-untyped-def]
    import synth

    src = register_approved(client, "kw-params", adult.slice(0, 4000), budget=synth.Budget(epsilon=3.0, delta=1e-6))
    model = client.train(src, generator="dp_marginals", epsilon=1.0, bins=32).result()
    assert model.params["bins"] == 32
    with pytest.raises(synth.InvalidArgument, match="both in params and as keywords"):
        client.train(src, generator="dp_marginals", epsilon=1.0, params={"bins": 8}, bins=16)
    with pytest.raises(synth.InvalidArgument, match="bad parameters for generator"):
        client.train(src, generator="dp_marginals", epsilon=1.0, no_such_knob=1)


def test_a_model_never_shows_its_training_seed(server, client, adult) -> None:  # type: ignore[no-untyped-def]
    """The model says only whether a seed was fixed, never the seed (with the server secret, it replays the noise)."""
    import json

    from sqlalchemy import update

    import synth
    from synth.store.sqltables import models

    src = register_approved(client, "seedless", adult.slice(0, 4500), budget=synth.Budget(epsilon=3.0, delta=1e-6))
    drawn = client.train(src, generator="dp_marginals", epsilon=1.0).result()
    fixed = client.train(src, generator="dp_marginals", epsilon=1.0, seed=12345).result()
    for model, seeded in ((drawn, False), (fixed, True)):
        again = client.get_model(model.name)
        assert "seed" not in again.params and again.params["seeded"] is seeded
        assert "12345" not in repr(again)
    # A model stored before seeds were withheld has one in its params: it is dropped on read.
    old = {**fixed.params, "seed": 424242}
    old.pop("seeded")
    with server.service.stores.meta.transaction() as conn:
        conn.execute(update(models).where(models.c.id == fixed.id).values(params_json=json.dumps(old)))
    for shown in (client.get_model(fixed.name), next(m for m in client.list_models() if m.id == fixed.id)):
        assert "seed" not in shown.params and shown.params["seeded"] is True
        assert "424242" not in repr(shown)
