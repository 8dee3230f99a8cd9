"""Helpers of the hostile-client tests: a server with small limits, what an honest client
checks while an attack runs, and what "nothing was stored" means."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from synth.core.config import ServiceConfig
from synth.server import RunningServer, start_server
from synth.v1 import (
    common_pb2,
    datasets_pb2_grpc,
    jobs_pb2_grpc,
    models_pb2_grpc,
    sources_pb2,
    sources_pb2_grpc,
)
from tests.service.stubs import Stubs

#: Generous: an honest call answers in milliseconds; this only bounds a hung test.
HONEST_DEADLINE = 20.0


def hostile_server(folder: Path, **limits: Any) -> RunningServer:
    config = ServiceConfig(data_dir=folder, **{"max_source_bytes": 64 << 20, **limits})
    return start_server(folder, port=0, config=config)


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor,
              grpc.UnaryStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self.metadata = (("authorization", f"Bearer {token}"),)

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=(*(details.metadata or ()), *self.metadata))

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


def owner_token(server: RunningServer, subject: str) -> str:
    """A fresh owner token for `subject`."""
    return str(server.service.stores.tokens.create(subject, "owner", description="hostile")[1])


def connect(server: RunningServer, token: str | None = None) -> Stubs:
    """Raw stubs that send `token`, by default the server's first admin token (the
    attacker holds a valid token: the limits must hold for authenticated callers too)."""
    token_file = Path(server.service.config.data_dir) / "admin.token"
    channel = grpc.insecure_channel(server.address)
    if token is None and token_file.exists():
        token = token_file.read_text().strip()
    if token is not None:
        channel = grpc.intercept_channel(channel, _Bearer(token))
    stubs = Stubs.connect(server.address)
    stubs.channel.close()
    return Stubs(
        channel,
        sources_pb2_grpc.SourceServiceStub(channel),
        models_pb2_grpc.ModelServiceStub(channel),
        datasets_pb2_grpc.DatasetServiceStub(channel),
        jobs_pb2_grpc.JobServiceStub(channel),
    )


def calls_carry_identities(server: RunningServer) -> bool:
    """Whether the server authenticates calls (per-caller shares need an identity)."""
    with grpc.insecure_channel(server.address) as ch:
        try:
            sources_pb2_grpc.SourceServiceStub(ch).ListSources(
                sources_pb2.ListSourcesRequest(), timeout=HONEST_DEADLINE
            )
        except grpc.RpcError as err:
            return err.code() == grpc.StatusCode.UNAUTHENTICATED
    return False


def honest_calls_answer(server: RunningServer) -> None:
    """Health and ListSources answer for a client of its own channel."""
    with grpc.insecure_channel(server.address) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=HONEST_DEADLINE)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    honest = connect(server)
    try:
        honest.sources.ListSources(sources_pb2.ListSourcesRequest(), timeout=HONEST_DEADLINE)
    finally:
        honest.channel.close()


def assert_nothing_stored(stubs: Stubs, folder: Path, *source_ids: str) -> None:
    """No source row, no ledger, no stored part, no upload left in tmp."""
    for source_id in source_ids:
        with pytest.raises(grpc.RpcError) as err:
            stubs.budget(f"sources/{source_id}")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    artifacts = folder / "artifacts"
    assert list((artifacts / "tmp").iterdir()) == []
    stored = {p.name for p in (artifacts / "sources").iterdir()}
    assert not stored & set(source_ids)


def header(source_id: str, epsilon: float = 3.0, **kw: Any) -> sources_pb2.RegisterSourceRequest:
    return sources_pb2.RegisterSourceRequest(
        header=sources_pb2.RegisterSourceHeader(
            source_id=source_id, budget=common_pb2.PrivacyBudget(epsilon=epsilon, delta=1e-6), **kw
        )
    )


class Stall:
    """A request stream that sends `first` and then nothing until released."""

    def __init__(self, *first: sources_pb2.RegisterSourceRequest) -> None:
        self.first = first
        self.release = threading.Event()

    def __iter__(self) -> Iterator[sources_pb2.RegisterSourceRequest]:
        yield from self.first
        self.release.wait(120)
