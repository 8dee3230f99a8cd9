"""`synth.Client`: the Python SDK over the gRPC API.

One client holds one gRPC channel. Calls take resources or their names,
return small frozen values (`Source`, `Model`, `Dataset`, `Job`,
`BudgetStatus`), and raise the same typed `synth.base.errors` exceptions the server
raised. Long work (`train`, `generate`) returns a `JobHandle` at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import grpc

from synth.base.errors import InvalidArgument, InvalidTable, Unavailable
from synth.base.schema import TableSchema
from synth.client import convert
from synth.client.config import ClientConfig, with_token
from synth.client.credentials import channel_credentials, local_server, resolve_token
from synth.client.downloads import DownloadVerbs
from synth.client.errors import translated
from synth.client.evaluations import EvaluationVerbs
from synth.client.handles import JobHandle
from synth.client.jobs import JobVerbs
from synth.client.progress import ByteProgressBar
from synth.client.releases import ReleaseVerbs
from synth.client.resources import (
    Budget,
    BudgetStatus,
    Dataset,
    Model,
    Source,
)
from synth.client.schemas import SchemaVerbs
from synth.client.transfer import (
    format_for,
    upload_requests,
)
from synth.schema_proto import schema_to_proto
from synth.v1 import (
    datasets_pb2,
    datasets_pb2_grpc,
    evaluations_pb2_grpc,
    jobs_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    sources_pb2,
    sources_pb2_grpc,
)

DEFAULT_ADDRESS = "localhost:50051"
DownloadFormat = Literal["polars", "pandas", "arrow"]
T = TypeVar("T")

@dataclass(frozen=True)
class _Stubs:
    sources: sources_pb2_grpc.SourceServiceStub
    models: models_pb2_grpc.ModelServiceStub
    datasets: datasets_pb2_grpc.DatasetServiceStub
    jobs: jobs_pb2_grpc.JobServiceStub
    evaluations: evaluations_pb2_grpc.EvaluationServiceStub


def _payload(data: Any, header: sources_pb2.RegisterSourceHeader) -> bytes | Path | None:
    """The bytes to upload for `data` (a path, bytes or a DataFrame); sets the header's size and format."""
    payload: bytes | Path | None = None
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if not path.is_file():
            raise InvalidArgument(f"no file at {str(path)!r}")
        payload = path
        header.size_bytes = path.stat().st_size
        header.format = format_for(path)  # type: ignore[assignment]
    elif isinstance(data, bytes | bytearray | memoryview):
        payload = bytes(data)
        header.size_bytes = len(payload)
    elif data is not None:
        payload = convert.parquet_bytes(convert.to_arrow(data))
        header.size_bytes = len(payload)
        header.format = sources_pb2.PARQUET
    if payload is not None and header.size_bytes == 0:
        raise InvalidTable("the file is empty: send a table with a header and at least one row")
    return payload


class Client(SchemaVerbs, JobVerbs, DownloadVerbs, EvaluationVerbs, ReleaseVerbs):
    """A connection to a synth server.

    Thread-safe: the gRPC channel and stubs are safe to share, and the client
    keeps no other mutable state, so one client may serve every thread of a
    program. Use it as a context manager, or call `close()`.

    >>> client = synth.Client.connect("localhost:50051")          # doctest: +SKIP
    >>> src = client.register_source("adult", "adult.csv",
    ...                              budget=synth.Budget(epsilon=3.0, delta=1e-6))
    """

    def __init__(
        self,
        channel: grpc.Channel,
        *,
        address: str = "",
        config: ClientConfig | None = None,
        token: str | None = None,
    ) -> None:
        self.address = address
        self.config = with_token(config or ClientConfig(), token)
        self._channel = channel
        self._stubs = _Stubs(
            sources=sources_pb2_grpc.SourceServiceStub(channel),
            models=models_pb2_grpc.ModelServiceStub(channel),
            datasets=datasets_pb2_grpc.DatasetServiceStub(channel),
            jobs=jobs_pb2_grpc.JobServiceStub(channel),
            evaluations=evaluations_pb2_grpc.EvaluationServiceStub(channel),
        )

    @classmethod
    def connect(
        cls,
        address: str = DEFAULT_ADDRESS,
        *,
        config: ClientConfig | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        wait_ready: float | None = None,
        token: str | None = None,
        tls: bool | None = None,
        root_certificates: str | os.PathLike[str] | bytes | None = None,
        client_cert: str | os.PathLike[str] | bytes | None = None,
        client_key: str | os.PathLike[str] | bytes | None = None,
    ) -> Client:
        """Open a channel to `address` ("host:port"); TLS when `credentials` are given.

        `token` (a bearer token from `synth token create`) is sent with every call;
        without it, `SYNTH_TOKEN`, the credentials file, or a local server's admin
        token (`synth.client.credentials`). `tls=True` (or a CA in
        `root_certificates`, PEM bytes or a path) makes it TLS; `client_cert` and
        `client_key` make it mutual TLS.

        The channel connects lazily; pass `wait_ready=seconds` to fail fast
        with `synth.Unavailable` when no server answers.
        """
        config = config or ClientConfig()
        if credentials is None:
            credentials = channel_credentials(
                address,
                tls=tls,
                root_certificates=root_certificates,
                client_cert=client_cert,
                client_key=client_key,
            )
        if token is None and not any(k.lower() == "authorization" for k, _ in config.metadata):
            token = resolve_token(address)
            if token is None and (local := local_server(address)) is not None:
                # The local server's admin token, sent only to the address it bound.
                token, address = local
        if credentials is None:
            channel = grpc.insecure_channel(address, options=config.options())
        else:
            channel = grpc.secure_channel(address, credentials, options=config.options())
        client = cls(channel, address=address, config=config, token=token)
        if wait_ready is not None:
            client.wait_ready(wait_ready)
        return client

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the channel is connected, or raise `synth.Unavailable`."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as exc:
            raise Unavailable(
                f"no synth server answered at {self.address} within {timeout:g} s; "
                "is `synth serve` running?"
            ) from exc

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.address!r})"

    # ---- plumbing -------------------------------------------------------------

    def _call(self, method: Callable[..., T], request: Any, *, timeout: float | None = None) -> T:
        with translated(address=self.address):
            return method(
                request,
                timeout=self.config.timeout if timeout is None else timeout,
                metadata=self.config.metadata or None,
            )

    def _pages(
        self, method: Callable[..., Any], request: Any, items: str, page_size: int | None
    ) -> Iterator[Any]:
        if page_size:
            request.page_size = page_size
        while True:
            resp = self._call(method, request)
            yield from getattr(resp, items)
            if not resp.next_page_token:
                return
            request.page_token = resp.next_page_token

    # ---- sources ---------------------------------------------------------------

    def register_source(
        self,
        source_id: str,
        data: str | os.PathLike[str] | bytes | Any | None = None,
        *,
        budget: Budget,
        uri: str | None = None,
        schema: TableSchema | str | os.PathLike[str] | None = None,
        approve_schema: bool = False,
        holdout_fraction: float | None = None,
        split_seed: int | None = None,
        allow_non_private: bool = False,
        display_name: str = "",
        format: Literal["parquet", "csv"] | None = None,
        progress: bool = False,
        timeout: float | None = None,
    ) -> Source:
        """Register a private table under "sources/{source_id}" with an (ε, δ) cap.

        `data` is a local Parquet/CSV path (streamed in 1 MiB chunks), raw file
        bytes, or a pyarrow Table / polars / pandas DataFrame (sent as
        Parquet); or pass `uri`, a path the *server* reads, instead. `schema`
        (a `TableSchema` or a path to its JSON) overrides the inferred one; its
        declared `arrow_type`s are how the server reads the columns (CSV text
        is cast to them).

        The source starts with its schema pending: review `source.schema` (and
        `source.inferred_fields`, what came from the table), then
        `approve_schema(source)`; `train` refuses it until then
        (`synth.SchemaNotApproved`). `approve_schema=True` approves `schema`
        at once, for a schema that declares every column's type (then nothing
        in it came from the table's values).
        """
        if (data is None) == (uri is None):
            raise InvalidArgument("pass either the table (a path, bytes or a DataFrame) or uri=, not both")
        if not isinstance(budget, Budget):
            raise InvalidArgument(f"budget must be a synth.Budget, got {budget!r}")
        header = sources_pb2.RegisterSourceHeader(
            source_id=source_id,
            display_name=display_name,
            uri=uri or "",
            budget=convert.budget_to_proto(budget),
            allow_non_private=allow_non_private,
            approve_schema=approve_schema,
            schema=schema_to_proto(convert.coerce_schema(schema)) if schema is not None else None,
            holdout_fraction=holdout_fraction,
            split_seed=split_seed,
        )
        payload = _payload(data, header)
        if format is not None:
            header.format = sources_pb2.PARQUET if format == "parquet" else sources_pb2.CSV
        bar = ByteProgressBar(f"upload {source_id}", total=header.size_bytes) if progress and payload else None
        try:
            requests = upload_requests(
                header, payload, chunk_size=self.config.chunk_size, on_bytes=bar or (lambda _: None)
            )
            msg = self._call(
                self._stubs.sources.RegisterSource,
                requests,
                timeout=self.config.transfer_timeout if timeout is None else timeout,
            )
        finally:
            if bar is not None:
                bar.close()
        return convert.source_from_proto(msg)

    def get_source(self, source: Source | str) -> Source:
        name = convert.resource_name(source, "sources")
        msg = self._call(self._stubs.sources.GetSource, sources_pb2.GetSourceRequest(name=name))
        return convert.source_from_proto(msg)

    def list_sources(self, *, page_size: int | None = None) -> list[Source]:
        """Every source, across all pages."""
        pages = self._pages(
            self._stubs.sources.ListSources, sources_pb2.ListSourcesRequest(), "sources", page_size
        )
        return [convert.source_from_proto(m) for m in pages]

    def budget(self, source: Source | str) -> BudgetStatus:
        """The source's ledger: cap, spent, remaining and every charge."""
        request = sources_pb2.GetBudgetRequest(name=convert.resource_name(source, "sources"))
        return convert.budget_status_from_proto(self._call(self._stubs.sources.GetBudget, request))

    def delete_source(self, source: Source | str) -> None:
        """Delete the source's rows and everything trained from it (its ledger stays)."""
        request = sources_pb2.DeleteSourceRequest(name=convert.resource_name(source, "sources"))
        self._call(self._stubs.sources.DeleteSource, request)

    # ---- models ----------------------------------------------------------------

    def train(
        self,
        source: Source | str,
        *,
        generator: str = "auto",
        epsilon: float | None,
        delta: float | None = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        display_name: str = "",
        **hyperparameters: Any,
    ) -> JobHandle[Model]:
        """Start training; the spend is charged to the ledger before this returns.

        The source's schema must be approved (`approve_schema`); a pending one
        is refused with `synth.SchemaNotApproved`, naming what to review, and
        nothing is charged.

        `epsilon=None` asks for a non-private model (only on sources registered
        with `allow_non_private`). Generator hyper-parameters go in `params` or
        as keywords (`client.train(src, generator="dpctgan", epsilon=3, epochs=30)`).
        The same `idempotency_key` with the same request returns the same job.
        """
        both = sorted(set(params or {}) & set(hyperparameters))
        if both:
            raise InvalidArgument(f"{', '.join(both)} given both in params and as keywords")
        merged = {**(params or {}), **hyperparameters}
        request = models_pb2.TrainRequest(
            source=convert.resource_name(source, "sources"),
            generator=generator,
            params=convert.params_to_struct(merged or None),
            idempotency_key=idempotency_key or "",
            display_name=display_name,
        )
        if epsilon is not None:
            request.epsilon = epsilon
        if delta is not None:
            request.delta = delta
        return self._handle(self._call(self._stubs.models.Train, request))

    def get_model(self, model: Model | str) -> Model:
        name = convert.resource_name(model, "models")
        return convert.model_from_proto(
            self._call(self._stubs.models.GetModel, models_pb2.GetModelRequest(name=name))
        )

    def list_models(
        self, *, source: Source | str | None = None, page_size: int | None = None
    ) -> list[Model]:
        """Every model (of `source`, when given), across all pages."""
        request = models_pb2.ListModelsRequest(
            source=convert.resource_name(source, "sources") if source is not None else ""
        )
        pages = self._pages(self._stubs.models.ListModels, request, "models", page_size)
        return [convert.model_from_proto(m) for m in pages]

    # ---- datasets --------------------------------------------------------------

    def generate(
        self,
        model: Model | str,
        *,
        rows: int,
        seed: int | None = None,
        idempotency_key: str | None = None,
        display_name: str = "",
    ) -> JobHandle[Dataset]:
        """Start sampling `rows` rows; the same model and seed give the same rows."""
        if rows <= 0:
            raise InvalidArgument(f"rows must be positive, got {rows}")
        request = datasets_pb2.GenerateRequest(
            model=convert.resource_name(model, "models"),
            rows=rows,
            idempotency_key=idempotency_key or "",
            display_name=display_name,
        )
        if seed is not None:
            request.seed = seed
        return self._handle(self._call(self._stubs.datasets.Generate, request))

    def get_dataset(self, dataset: Dataset | str) -> Dataset:
        name = convert.resource_name(dataset, "datasets")
        return convert.dataset_from_proto(
            self._call(self._stubs.datasets.GetDataset, datasets_pb2.GetDatasetRequest(name=name))
        )

    def list_datasets(
        self, *, parent: Model | Source | str | None = None, page_size: int | None = None
    ) -> list[Dataset]:
        """Every dataset (of a model or source, when `parent` is given), across all pages."""
        parent_name = getattr(parent, "name", parent) or ""
        request = datasets_pb2.ListDatasetsRequest(parent=str(parent_name))
        pages = self._pages(self._stubs.datasets.ListDatasets, request, "datasets", page_size)
        return [convert.dataset_from_proto(m) for m in pages]

    # ---- jobs: synth.client.jobs.JobVerbs; downloads: synth.client.downloads.DownloadVerbs
