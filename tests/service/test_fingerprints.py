"""No unkeyed hash of a source leaves the server; the keyed fingerprint is the owner's alone.

An unsalted SHA-256 of the whole table lets whoever knows all rows but one
test candidates for the last row offline. Models and datasets name a random
source version id instead; the source shows an HMAC keyed by the server secret.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth.base.tableio import fingerprint, read_table
from synth.core.config import ServiceConfig
from synth.server import start_server
from synth.v1 import datasets_pb2, jobs_pb2, models_pb2, sources_pb2
from tests.service.database import fresh_database
from tests.service.stubs import Stubs


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def texts_of(*messages: object) -> Iterator[str]:
    """Every form a message is seen in: its text format and its wire bytes (decoded leniently)."""
    for msg in messages:
        yield str(msg)
        yield msg.SerializeToString().decode("latin-1")  # type: ignore[attr-defined]


def test_no_unkeyed_hash_of_the_source_ships_with_a_model_or_dataset(
    stubs: Stubs, adult_small_csv: bytes
) -> None:
    plain = fingerprint(read_table(adult_small_csv))  # what the server used to publish
    digest = plain.removeprefix("sha256:")
    src = stubs.register_approved("adult", adult_small_csv)
    assert src.fingerprint.startswith("hmac-sha256:") and digest not in src.fingerprint
    assert src.version_id.startswith("sv-") and len(src.version_id) == 35

    done = stubs.wait(stubs.train(src.name, epsilon=1.0))
    assert done.state == jobs_pb2.SUCCEEDED, done.error.message
    gen = stubs.wait(stubs.generate(done.result, rows=200, seed=1))
    assert gen.state == jobs_pb2.SUCCEEDED, gen.error.message
    table = pq.read_table(io.BytesIO(stubs.download(gen.result)))
    metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    assert metadata["synth.source_version"] == src.version_id
    assert "synth.source_fingerprint" not in metadata

    model = stubs.models.GetModel(models_pb2.GetModelRequest(name=done.result))
    assert model.source_version == src.version_id
    dataset = stubs.datasets.GetDataset(datasets_pb2.GetDatasetRequest(name=gen.result))
    listed_models = stubs.models.ListModels(models_pb2.ListModelsRequest())
    listed_datasets = stubs.datasets.ListDatasets(datasets_pb2.ListDatasetsRequest())
    seen = [
        *metadata.keys(),
        *metadata.values(),
        *texts_of(model, dataset, listed_models, listed_datasets),
    ]
    for text in seen:
        assert digest not in text, text[:200]
        assert src.fingerprint not in text  # the keyed one is the owner's view only


def _register_on_a_new_server(folder: Path, data: bytes, stack: ExitStack) -> str:
    url = stack.enter_context(fresh_database())
    running = start_server(folder, port=0, config=ServiceConfig(data_dir=folder, database_url=url))
    stack.callback(running.stop, grace=0)
    stubs = Stubs.connect(running)
    stack.callback(stubs.channel.close)
    return stubs.register("same", data).fingerprint


def test_servers_with_different_secrets_give_different_fingerprints(
    tmp_path: Path, adult_small_csv: bytes
) -> None:
    with ExitStack() as stack:
        one = _register_on_a_new_server(tmp_path / "one", adult_small_csv, stack)
        two = _register_on_a_new_server(tmp_path / "two", adult_small_csv, stack)
    assert (tmp_path / "one" / "secret.key").read_bytes() != (
        tmp_path / "two" / "secret.key"
    ).read_bytes()
    assert one.startswith("hmac-sha256:") and two.startswith("hmac-sha256:")
    assert one != two
    assert fingerprint(read_table(adult_small_csv)).removeprefix("sha256:") not in one + two


def test_one_server_gives_the_same_fingerprint_for_the_same_rows_in_any_format(
    stubs: Stubs, adult: pa.Table, adult_small_csv: bytes
) -> None:
    part = read_table(adult_small_csv)
    as_csv = stubs.register("as-csv", adult_small_csv)
    assert as_csv.fingerprint.startswith("hmac-sha256:")
    # The same rows as Parquet have the same fingerprint, so they are refused as the same
    # source (no fresh budget by registering again).
    with pytest.raises(grpc.RpcError) as err:
        stubs.register("as-parquet", parquet_bytes(part))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "same rows exists: sources/as-csv" in err.value.details()
    again = stubs.sources.GetSource(sources_pb2.GetSourceRequest(name=as_csv.name))
    assert again.fingerprint == as_csv.fingerprint
    other = stubs.register("other-rows", parquet_bytes(adult.slice(1, 3000)))
    assert other.fingerprint != as_csv.fingerprint
    assert len({as_csv.version_id, other.version_id}) == 2
