"""Raw-stub helpers for the service tests (the SDK has its own tests)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from synth.v1 import (
    common_pb2,
    datasets_pb2,
    datasets_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    sources_pb2,
    sources_pb2_grpc,
)

CHUNK = 1 << 20


class _Bearer(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call of a channel."""

    def __init__(self, token: str) -> None:
        self.header = ("authorization", f"Bearer {token}")

    def _add(self, details: Any) -> Any:
        metadata = [*(details.metadata or ()), self.header]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._add(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._add(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._add(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._add(details), requests)


@dataclass
class Stubs:
    channel: grpc.Channel
    sources: sources_pb2_grpc.SourceServiceStub
    models: models_pb2_grpc.ModelServiceStub
    datasets: datasets_pb2_grpc.DatasetServiceStub
    jobs: jobs_pb2_grpc.JobServiceStub

    @classmethod
    def connect(cls, server: Any, token: str | None = None) -> Stubs:
        """Stubs on `server` (a RunningServer: as its test owner, unless `token` says
        otherwise; an address: with `token` only)."""
        from tests.service.fixtures import owner_token

        address = server if isinstance(server, str) else server.address
        if token is None and not isinstance(server, str):
            token = owner_token(server)
        ch = grpc.insecure_channel(address)
        if token is not None:
            ch = grpc.intercept_channel(ch, _Bearer(token))
        return cls(
            ch,
            sources_pb2_grpc.SourceServiceStub(ch),
            models_pb2_grpc.ModelServiceStub(ch),
            datasets_pb2_grpc.DatasetServiceStub(ch),
            jobs_pb2_grpc.JobServiceStub(ch),
        )

    def register(
        self,
        source_id: str,
        data: bytes | None,
        *,
        epsilon: float = 3.0,
        delta: float = 1e-6,
        timeout: float | None = 60,
        **header: Any,
    ) -> sources_pb2.Source:
        return self.sources.RegisterSource(
            upload(source_id, data, epsilon=epsilon, delta=delta, **header), timeout=timeout
        )

    def approve(self, source: sources_pb2.Source) -> sources_pb2.Source:
        """Approve the schema version `source` shows (a registered schema is pending)."""
        return self.sources.ApproveSchema(
            sources_pb2.ApproveSchemaRequest(name=source.name, schema_version=source.schema_version),
            timeout=30,
        )

    def register_approved(self, source_id: str, data: bytes | None, **kw: Any) -> sources_pb2.Source:
        """`register`, then approve the proposed schema as is: for tests that train on it."""
        return self.approve(self.register(source_id, data, **kw))

    def train(self, source: str, epsilon: float | None = 1.0, **kw: Any) -> jobs_pb2.Job:
        req = models_pb2.TrainRequest(source=source, generator=kw.pop("generator", "dp_marginals"), **kw)
        if epsilon is not None:
            req.epsilon = epsilon
        return self.models.Train(req, timeout=30)

    def wait(self, job: jobs_pb2.Job, timeout: float = 120) -> jobs_pb2.Job:
        last = job
        for snapshot in self.jobs.WatchJob(jobs_pb2.WatchJobRequest(name=job.name), timeout=timeout):
            last = snapshot
        return last

    def generate(self, model: str, rows: int, seed: int | None = None, **kw: Any) -> jobs_pb2.Job:
        req = datasets_pb2.GenerateRequest(model=model, rows=rows, **kw)
        if seed is not None:
            req.seed = seed
        return self.datasets.Generate(req, timeout=30)

    def download(self, dataset: str) -> bytes:
        return b"".join(
            c.data for c in self.datasets.DownloadDataset(datasets_pb2.DownloadDatasetRequest(name=dataset), timeout=120)
        )

    def budget(self, source: str) -> sources_pb2.Budget:
        return self.sources.GetBudget(sources_pb2.GetBudgetRequest(name=source))


def upload(
    source_id: str, data: bytes | None, *, epsilon: float, delta: float, **header: Any
) -> Iterator[sources_pb2.RegisterSourceRequest]:
    yield sources_pb2.RegisterSourceRequest(
        header=sources_pb2.RegisterSourceHeader(
            source_id=source_id, budget=common_pb2.PrivacyBudget(epsilon=epsilon, delta=delta), **header
        )
    )
    if data:
        for i in range(0, len(data), CHUNK):
            yield sources_pb2.RegisterSourceRequest(chunk=common_pb2.DataChunk(data=data[i : i + CHUNK], offset=i))


def error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    if status is None:
        return None
    for d in status.details:
        if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            d.Unpack(info)
            return info
    return None


def quota_failure(err: grpc.RpcError) -> error_details_pb2.QuotaFailure | None:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    for d in status.details if status is not None else []:
        if d.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            quota = error_details_pb2.QuotaFailure()
            d.Unpack(quota)
            return quota
    return None
