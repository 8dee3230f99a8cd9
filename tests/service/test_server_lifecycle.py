"""Health, reflection, deadlines, cancellation and graceful shutdown of a real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from synth.server import start_server
from synth.v1 import common_pb2, sources_pb2
from tests.service.stubs import CHUNK, Stubs, upload


def test_health_and_reflection(stubs: Stubs) -> None:
    health = health_pb2_grpc.HealthStub(stubs.channel)
    for service in ("", "synth.v1.SourceService", "synth.v1.JobService"):
        resp = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    db = ProtoReflectionDescriptorDatabase(stubs.channel)
    services = set(db.get_services())
    assert {
        "synth.v1.SourceService",
        "synth.v1.ModelService",
        "synth.v1.DatasetService",
        "synth.v1.JobService",
        "grpc.health.v1.Health",
    } <= services


def slow_upload(data: bytes, pause: float, started: threading.Event | None = None) -> Iterator[sources_pb2.RegisterSourceRequest]:
    for i, msg in enumerate(upload("slow", data, epsilon=1.0, delta=1e-6)):
        if i == 1 and started is not None:
            started.set()
        if i >= 1:
            time.sleep(pause)
        yield msg


def _nothing_stored(stubs: Stubs, folder: Path) -> None:
    deadline = time.monotonic() + 10
    while list((folder / "artifacts" / "tmp").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the handler notices the cancellation at its next chunk
    assert list(stubs.sources.ListSources(sources_pb2.ListSourcesRequest()).sources) == []
    assert list((folder / "artifacts" / "sources").iterdir()) == []
    assert list((folder / "artifacts" / "tmp").iterdir()) == []


def test_deadline_stops_an_upload_and_stores_nothing(
    stubs: Stubs, data_folder: Path, adult_csv_path: Path
) -> None:
    data = adult_csv_path.read_bytes()
    with pytest.raises(grpc.RpcError) as err:
        stubs.sources.RegisterSource(slow_upload(data, 0.2), timeout=0.5)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    _nothing_stored(stubs, data_folder)


def test_client_cancellation_stops_an_upload_and_stores_nothing(
    stubs: Stubs, data_folder: Path, adult_csv_path: Path
) -> None:
    data = adult_csv_path.read_bytes()
    started = threading.Event()
    future = stubs.sources.RegisterSource.future(slow_upload(data, 0.2, started))
    assert started.wait(10)
    future.cancel()
    with pytest.raises(grpc.FutureCancelledError):
        future.result()
    _nothing_stored(stubs, data_folder)


def test_graceful_shutdown_says_not_serving_then_drains_in_flight_calls(
    tmp_path: Path, adult_csv_path: Path
) -> None:
    running = start_server(tmp_path / "data")
    s = Stubs.connect(running)
    watch = health_pb2_grpc.HealthStub(s.channel).Watch(health_pb2.HealthCheckRequest(service=""))
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    data = adult_csv_path.read_bytes()
    started = threading.Event()
    future = s.sources.RegisterSource.future(slow_upload(data, 0.1, started))
    assert started.wait(10)
    stopper = threading.Thread(target=running.stop, kwargs={"grace": 30})
    stopper.start()
    assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    watch.cancel()  # a health watcher would otherwise hold the drain for the whole grace
    source = future.result(timeout=60)  # the in-flight upload finished
    assert source.name == "sources/slow" and source.row_count == 32561
    stopper.join(60)
    assert not stopper.is_alive()


def test_chunks_may_not_follow_a_second_header(stubs: Stubs, adult_small_csv: bytes) -> None:
    def two_headers() -> Iterator[sources_pb2.RegisterSourceRequest]:
        yield from upload("x", adult_small_csv[:CHUNK], epsilon=1.0, delta=1e-6)
        yield from upload("x", None, epsilon=1.0, delta=1e-6)

    with pytest.raises(grpc.RpcError) as err:
        stubs.sources.RegisterSource(two_headers())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    def chunk_first() -> Iterator[sources_pb2.RegisterSourceRequest]:
        yield sources_pb2.RegisterSourceRequest(chunk=common_pb2.DataChunk(data=b"a,b\n1,2\n"))

    with pytest.raises(grpc.RpcError) as err:
        stubs.sources.RegisterSource(chunk_first())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "first message" in err.value.details()
