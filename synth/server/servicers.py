"""The gRPC servicers: translate protos to the core and back, nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from synth.base.errors import FieldViolation, InvalidArgument, Unauthenticated, Unavailable
from synth.base.names import parse_name
from synth.core.evaluation import EvaluateRequest
from synth.core.generation import GenerateRequest
from synth.core.service import SynthService
from synth.core.training import TrainRequest
from synth.jobs.state import JobState
from synth.server import bounds, convert
from synth.server.auth import caller
from synth.server.uploads import Slots, check_alive, receive
from synth.store.pages import bounded_by_bytes, page_size
from synth.v1 import (
    common_pb2,
    datasets_pb2,
    datasets_pb2_grpc,
    evaluations_pb2,
    evaluations_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    sources_pb2,
    sources_pb2_grpc,
)

DEFAULT_CHUNK = 1024 * 1024
MAX_CHUNK = 3 * 1024 * 1024


def _caller_key(context: grpc.ServicerContext) -> str:
    """Whose share of the upload and stream slots a call takes: its token's subject. A
    call without an identity (a server without the auth interceptor) has a share of its
    own; the global caps still hold."""
    try:
        return caller().subject
    except Unauthenticated:
        return f"anonymous-{id(context)}"


def _bounded(page: Any, request: Any, to_pb: Any) -> tuple[list[Any], str]:
    """A page's items as protos, cut where the response would pass its byte budget."""
    return bounded_by_bytes(
        [to_pb(r) for r in page.items], page.next_token, request.page_token, lambda m: m.ByteSize()
    )


class SourceServicer(sources_pb2_grpc.SourceServiceServicer):
    def __init__(self, svc: SynthService) -> None:
        self.svc = svc
        self.uploads = Slots(
            svc.config.max_concurrent_uploads, "uploads", svc.config.max_uploads_per_caller
        )

    def RegisterSource(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        with self.uploads.slot(_caller_key(context)):
            return self._register(request_iterator, context)

    def _register(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        who = caller()
        tmp = self.svc.upload_file()
        try:
            req, got_bytes = receive(
                request_iterator,
                context,
                tmp,
                max_bytes=self.svc.config.max_source_bytes,
                check_header=lambda r: self.svc.sources.check_header(who, r),
                idle_timeout=self.svc.config.upload_idle_timeout_s,
            )
            record = self.svc.sources.register(
                who, req, tmp if got_bytes else None, alive=context.is_active
            )
            check_alive(context)
            return convert.source_to_pb(record)
        finally:
            tmp.unlink(missing_ok=True)

    def GetSource(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.source_to_pb(
            self.svc.sources.get(caller(), parse_name(request.name, "sources"))
        )

    def ListSources(self, request: Any, context: grpc.ServicerContext) -> Any:
        page = self.svc.sources.list(
            caller(), page_size=page_size(request.page_size), token=request.page_token
        )
        items, token = _bounded(page, request, convert.source_to_pb)
        return sources_pb2.ListSourcesResponse(sources=items, next_page_token=token)

    def UpdateSchema(self, request: Any, context: grpc.ServicerContext) -> Any:
        source_id = parse_name(request.name, "sources")
        if not request.HasField("schema"):
            raise InvalidArgument(
                "schema is required", violations=[FieldViolation("schema", "required")]
            )
        record = self.svc.sources.update_schema(
            caller(),
            source_id,
            convert.schema_from_pb(bounds.schema_bounds(request.schema)),
            approve=request.approve,
        )
        return convert.source_to_pb(record)

    def ApproveSchema(self, request: Any, context: grpc.ServicerContext) -> Any:
        record = self.svc.sources.approve_schema(
            caller(), parse_name(request.name, "sources"), request.schema_version
        )
        return convert.source_to_pb(record)

    def GetBudget(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.budget_to_pb(self.svc.budget(caller(), parse_name(request.name, "sources")))

    def DeleteSource(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.svc.sources.delete(caller(), parse_name(request.name, "sources"))
        return sources_pb2.DeleteSourceResponse()


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    def __init__(self, svc: SynthService) -> None:
        self.svc = svc

    def Train(self, request: Any, context: grpc.ServicerContext) -> Any:
        req = TrainRequest(
            source_id=parse_name(request.source, "sources", field="source"),
            generator=bounds.column(request.generator, "generator") or "auto",
            epsilon=bounds.epsilon(request.epsilon if request.HasField("epsilon") else None),
            delta=bounds.delta(request.delta if request.HasField("delta") else None),
            params=convert.struct_to_dict(request.params),
            idempotency_key=bounds.idempotency_key(request.idempotency_key),
            display_name=bounds.display_name(request.display_name),
            validate_only=request.validate_only,
        )
        return convert.job_to_pb(self.svc.training.submit(caller(), req))

    def GetModel(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.model_to_pb(
            self.svc.training.get(caller(), parse_name(request.name, "models"))
        )

    def ListModels(self, request: Any, context: grpc.ServicerContext) -> Any:
        source = parse_name(request.source, "sources", field="source") if request.source else ""
        page = self.svc.training.list(
            caller(),
            page_size=page_size(request.page_size),
            token=request.page_token,
            source_id=source,
        )
        items, token = _bounded(page, request, convert.model_to_pb)
        return models_pb2.ListModelsResponse(models=items, next_page_token=token)


def _streams(svc: SynthService, streams: Slots | None) -> Slots:
    c = svc.config
    return streams or Slots(c.max_concurrent_streams, "streams", c.max_streams_per_caller)


class DatasetServicer(datasets_pb2_grpc.DatasetServiceServicer):
    def __init__(self, svc: SynthService, streams: Slots | None = None) -> None:
        self.svc = svc
        self.streams = _streams(svc, streams)

    def Generate(self, request: Any, context: grpc.ServicerContext) -> Any:
        req = GenerateRequest(
            model_id=parse_name(request.model, "models", field="model"),
            rows=request.rows,
            seed=bounds.seed(request.seed if request.HasField("seed") else None),
            idempotency_key=bounds.idempotency_key(request.idempotency_key),
            display_name=bounds.display_name(request.display_name),
            validate_only=request.validate_only,
        )
        return convert.job_to_pb(self.svc.generation.submit(caller(), req))

    def GetDataset(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.dataset_to_pb(
            self.svc.generation.get(caller(), parse_name(request.name, "datasets"))
        )

    def ListDatasets(self, request: Any, context: grpc.ServicerContext) -> Any:
        page = self.svc.generation.list(
            caller(),
            page_size=page_size(request.page_size),
            token=request.page_token,
            parent=request.parent,
        )
        items, token = _bounded(page, request, convert.dataset_to_pb)
        return datasets_pb2.ListDatasetsResponse(datasets=items, next_page_token=token)

    def DownloadDataset(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        path = self.svc.generation.dataset_path(caller(), parse_name(request.name, "datasets"))
        chunk = request.chunk_size or DEFAULT_CHUNK
        if not 0 < chunk <= MAX_CHUNK:
            raise InvalidArgument(
                f"chunk_size must be in (0, {MAX_CHUNK}]",
                violations=[FieldViolation("chunk_size", "out of range")],
            )
        with self.streams.slot(_caller_key(context)):
            yield from stream_file(path, chunk, context)


def stream_file(path: Path, chunk: int, context: grpc.ServicerContext) -> Iterator[Any]:
    """A file as DataChunks; stops when the client goes away."""
    total = path.stat().st_size
    offset = 0
    with open(path, "rb") as fh:
        while True:
            check_alive(context)
            data = fh.read(chunk)
            if not data:
                break
            yield common_pb2.DataChunk(data=data, offset=offset, total_size=total)
            offset += len(data)


class EvaluationServicer(evaluations_pb2_grpc.EvaluationServiceServicer):
    def __init__(self, svc: SynthService, streams: Slots | None = None) -> None:
        self.svc = svc
        self.streams = _streams(svc, streams)

    def Evaluate(self, request: Any, context: grpc.ServicerContext) -> Any:
        req = EvaluateRequest(
            dataset_id=parse_name(request.dataset, "datasets", field="dataset"),
            target=bounds.column(request.target, "target"),
            seed=bounds.seed(request.seed if request.HasField("seed") else None),
            metrics=tuple(bounds.column(m, "metrics") for m in request.metrics),
            idempotency_key=bounds.idempotency_key(request.idempotency_key),
            validate_only=request.validate_only,
        )
        return convert.job_to_pb(self.svc.evaluation.submit(caller(), req))

    def GetEvaluation(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.evaluation_to_pb(
            self.svc.evaluation.get(caller(), parse_name(request.name, "evaluations"))
        )

    def ListEvaluations(self, request: Any, context: grpc.ServicerContext) -> Any:
        page = self.svc.evaluation.list(
            caller(),
            page_size=page_size(request.page_size),
            token=request.page_token,
            parent=request.parent,
        )
        items, token = _bounded(page, request, convert.evaluation_to_pb)
        return evaluations_pb2.ListEvaluationsResponse(evaluations=items, next_page_token=token)

    def DownloadReport(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        path = self.svc.evaluation.report_path(caller(), parse_name(request.name, "evaluations"))
        with self.streams.slot(_caller_key(context)):
            yield from stream_file(path, DEFAULT_CHUNK, context)


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, svc: SynthService, shutting_down: Any, streams: Slots | None = None) -> None:
        self.svc = svc
        self.shutting_down = shutting_down
        self.streams = _streams(svc, streams)

    def GetJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.job_to_pb(self.svc.jobs.get(caller(), parse_name(request.name, "jobs")))

    def ListJobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.state and request.state not in jobs_pb2.JobState.values():
            raise InvalidArgument(
                f"state {request.state} is not a job state",
                violations=[FieldViolation("state", "unknown value")],
            )
        state = JobState(jobs_pb2.JobState.Name(request.state)) if request.state else None
        page = self.svc.jobs.list(
            caller(),
            page_size=page_size(request.page_size),
            token=request.page_token,
            target=request.target,
            state=state,
        )
        items, token = _bounded(page, request, convert.job_to_pb)
        return jobs_pb2.ListJobsResponse(jobs=items, next_page_token=token)

    def WatchJob(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        job_id = parse_name(request.name, "jobs")

        def alive() -> bool:
            return context.is_active() and not self.shutting_down.is_set()

        last = None
        with self.streams.slot(_caller_key(context)):
            for job in self.svc.jobs.watch(caller(), job_id, alive=alive):
                last = job
                yield convert.job_to_pb(job)
        if self.shutting_down.is_set() and (last is None or not last.state.final):
            raise Unavailable("the server is shutting down; watch the job again once it is back")

    def CancelJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        job_id = parse_name(request.name, "jobs")
        return convert.job_to_pb(self.svc.jobs.cancel(caller(), job_id))
