"""`synth.Client`: the Python SDK over the gRPC API.

One client holds one gRPC channel. Calls take resources or their names,
return small frozen values (`Source`, `Model`, `Dataset`, `Job`,
`BudgetStatus`), and raise the same typed `synth.base.errors` exceptions the server
raised. Long work (`train`, `generate`) returns a `JobHandle` at once.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

import grpc
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from synth.base.atomic import atomic_writer
from synth.base.errors import InvalidArgument, InvalidTable, Unavailable
from synth.base.schema import TableSchema
from synth.client import convert
from synth.client.config import ClientConfig
from synth.client.errors import translated
from synth.client.evaluations import EvaluationVerbs
from synth.client.handles import JobHandle
from synth.client.progress import ByteProgressBar
from synth.client.resources import (
    Budget,
    BudgetStatus,
    Dataset,
    Job,
    JobState,
    Model,
    Source,
)
from synth.client.transfer import (
    MAX_DOWNLOAD_CHUNK,
    format_for,
    receive,
    upload_requests,
)
from synth.schema_proto import schema_to_proto
from synth.v1 import (
    datasets_pb2,
    datasets_pb2_grpc,
    evaluations_pb2_grpc,
    jobs_pb2,
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


class Client(EvaluationVerbs):
    """A connection to a synth server.

    Thread-safe: the gRPC channel and stubs are safe to share, and the client
    keeps no other mutable state, so one client may serve every thread of a
    program. Use it as a context manager, or call `close()`.

    >>> client = synth.Client.connect("localhost:50051")          # doctest: +SKIP
    >>> src = client.register_source("adult", "adult.csv",
    ...                              budget=synth.Budget(epsilon=3.0, delta=1e-6))
    """

    def __init__(
        self, channel: grpc.Channel, *, address: str = "", config: ClientConfig | None = None
    ) -> None:
        self.address = address
        self.config = config or ClientConfig()
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
    ) -> Client:
        """Open a channel to `address` ("host:port"); TLS when `credentials` are given.

        The channel connects lazily; pass `wait_ready=seconds` to fail fast
        with `synth.Unavailable` when no server answers.
        """
        config = config or ClientConfig()
        if credentials is None:
            channel = grpc.insecure_channel(address, options=config.options())
        else:
            channel = grpc.secure_channel(address, credentials, options=config.options())
        client = cls(channel, address=address, config=config)
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
        (a `TableSchema` or a path to its JSON) overrides the inferred one.
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
        )
        if holdout_fraction is not None:
            header.holdout_fraction = holdout_fraction
        if split_seed is not None:
            header.split_seed = split_seed
        if schema is not None:
            header.schema.CopyFrom(schema_to_proto(convert.coerce_schema(schema)))
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

    def schema(self, source: Source | str) -> TableSchema:
        """The source's current schema; export with `.to_json()`, edit, `update_schema` it back."""
        return self.get_source(source).schema

    def update_schema(
        self, source: Source | str, schema: TableSchema | str | os.PathLike[str]
    ) -> Source:
        """Replace the source's schema (a `TableSchema`, or a path to its JSON)."""
        request = sources_pb2.UpdateSchemaRequest(
            name=convert.resource_name(source, "sources"),
            schema=schema_to_proto(convert.coerce_schema(schema)),
        )
        return convert.source_from_proto(self._call(self._stubs.sources.UpdateSchema, request))

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

    @overload
    def download(
        self,
        dataset: Dataset | str,
        *,
        format: Literal["polars"] = ...,
        path: None = None,
        progress: bool = ...,
        timeout: float | None = ...,
    ) -> pl.DataFrame: ...

    @overload
    def download(
        self,
        dataset: Dataset | str,
        *,
        format: Literal["arrow"],
        path: None = None,
        progress: bool = ...,
        timeout: float | None = ...,
    ) -> pa.Table: ...

    @overload
    def download(
        self,
        dataset: Dataset | str,
        *,
        format: Literal["pandas"],
        path: None = None,
        progress: bool = ...,
        timeout: float | None = ...,
    ) -> Any: ...

    @overload
    def download(
        self,
        dataset: Dataset | str,
        *,
        path: str | os.PathLike[str],
        format: DownloadFormat = ...,
        progress: bool = ...,
        timeout: float | None = ...,
    ) -> Path: ...

    def download(
        self,
        dataset: Dataset | str,
        *,
        format: DownloadFormat = "polars",
        path: str | os.PathLike[str] | None = None,
        progress: bool = False,
        timeout: float | None = None,
    ) -> pl.DataFrame | pa.Table | Path | Any:
        """Stream the dataset's Parquet file down.

        With `path`, the file is written there atomically (a temp file renamed
        into place: an interrupted download leaves nothing) and the path comes
        back; otherwise the table comes back in memory as a polars DataFrame,
        or as pandas / a pyarrow Table when `format` says so.
        """
        if format not in ("polars", "pandas", "arrow"):
            raise InvalidArgument(f"format must be 'polars', 'pandas' or 'arrow', got {format!r}")
        if path is not None:
            target = Path(path)
            with atomic_writer(target) as fh:
                self._download_into(dataset, fh, progress=progress, timeout=timeout)
            return target
        buf = io.BytesIO()
        self._download_into(dataset, buf, progress=progress, timeout=timeout)
        if format == "polars":
            buf.seek(0)
            return pl.read_parquet(buf)  # polars' own reader: no detour through Arrow
        table = pq.read_table(pa.BufferReader(buf.getbuffer()))
        if format == "arrow":
            return table
        return table.to_pandas()

    def _download_into(
        self, dataset: Dataset | str, sink: Any, *, progress: bool, timeout: float | None
    ) -> int:
        name = convert.resource_name(dataset, "datasets")
        request = datasets_pb2.DownloadDatasetRequest(
            name=name, chunk_size=min(self.config.chunk_size, MAX_DOWNLOAD_CHUNK)
        )
        bar = ByteProgressBar(f"download {name.split('/', 1)[-1]}") if progress else None
        with translated(address=self.address):
            stream = self._stubs.datasets.DownloadDataset(
                request,
                timeout=self.config.transfer_timeout if timeout is None else timeout,
                metadata=self.config.metadata or None,
            )
            try:
                return receive(
                    stream,
                    sink,
                    on_total=bar.set_total if bar else None,
                    on_bytes=bar or (lambda _: None),
                )
            finally:
                stream.cancel()
                if bar is not None:
                    bar.close()

    # ---- jobs ------------------------------------------------------------------

    def _handle(self, msg: jobs_pb2.Job) -> JobHandle[Any]:
        job = convert.job_from_proto(msg)
        return JobHandle(self, job.name, job=job)

    def job(self, job: Job | JobHandle[Any] | str) -> JobHandle[Any]:
        """A handle on an existing job (no call is made)."""
        return JobHandle(self, convert.resource_name(job, "jobs"))

    def get_job(self, job: Job | JobHandle[Any] | str) -> Job:
        name = convert.resource_name(job, "jobs")
        return convert.job_from_proto(
            self._call(self._stubs.jobs.GetJob, jobs_pb2.GetJobRequest(name=name))
        )

    def list_jobs(
        self,
        *,
        target: Source | Model | Dataset | str | None = None,
        state: JobState | str | None = None,
        page_size: int | None = None,
    ) -> list[Job]:
        """Every job (on `target`, in `state`, when given), across all pages."""
        request = jobs_pb2.ListJobsRequest(
            target=str(getattr(target, "name", target) or ""),
            state=convert.job_state_to_proto(state),  # type: ignore[arg-type]
        )
        pages = self._pages(self._stubs.jobs.ListJobs, request, "jobs", page_size)
        return [convert.job_from_proto(m) for m in pages]

    def cancel_job(self, job: Job | JobHandle[Any] | str) -> Job:
        return self.job(job).cancel()

    # --- the calls a JobHandle makes (synth.client.handles.JobCalls) ------------------

    def _cancel_job_message(self, name: str) -> jobs_pb2.Job:
        return self._call(self._stubs.jobs.CancelJob, jobs_pb2.CancelJobRequest(name=name))

    def _watch_job_stream(self, name: str, *, timeout: float | None) -> Any:
        return self._stubs.jobs.WatchJob(
            jobs_pb2.WatchJobRequest(name=name),
            timeout=timeout,
            metadata=self.config.metadata or None,
        )

