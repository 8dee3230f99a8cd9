"""The gRPC servicers: translate protos to the core and back, nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from synth.base.errors import FieldViolation, InvalidArgument, Unavailable
from synth.base.names import parse_name
from synth.core.evaluation import EvaluateRequest
from synth.core.generation import GenerateRequest
from synth.core.service import SynthService
from synth.core.training import TrainRequest
from synth.jobs.state import JobState
from synth.server import convert
from synth.server.uploads import check_alive, receive
from synth.store.pages import page_size
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


class SourceServicer(sources_pb2_grpc.SourceServiceServicer):
    def __init__(self, svc: SynthService) -> None:
        self.svc = svc

    def RegisterSource(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        tmp = self.svc.upload_file()
        try:
            req, got_bytes = receive(
                request_iterator, context, tmp, max_bytes=self.svc.config.max_source_bytes
            )
            record = self.svc.sources.register(
                req, tmp if got_bytes else None, alive=context.is_active
            )
            check_alive(context)
            return convert.source_to_pb(record)
        finally:
            tmp.unlink(missing_ok=True)

    def GetSource(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.source_to_pb(self.svc.sources.get(parse_name(request.name, "sources")))

    def ListSources(self, request: Any, context: grpc.ServicerContext) -> Any:
        page = self.svc.sources.list(
            page_size=page_size(request.page_size), token=request.page_token
        )
        return sources_pb2.ListSourcesResponse(
            sources=[convert.source_to_pb(s) for s in page.items], next_page_token=page.next_token
        )

    def UpdateSchema(self, request: Any, context: grpc.ServicerContext) -> Any:
        source_id = parse_name(request.name, "sources")
        if not request.HasField("schema"):
            raise InvalidArgument(
                "schema is required", violations=[FieldViolation("schema", "required")]
            )
        record = self.svc.sources.update_schema(
            source_id, convert.schema_from_pb(request.schema), approve=request.approve
        )
        return convert.source_to_pb(record)

    def ApproveSchema(self, request: Any, context: grpc.ServicerContext) -> Any:
        record = self.svc.sources.approve_schema(
            parse_name(request.name, "sources"), request.schema_version
        )
        return convert.source_to_pb(record)

    def GetBudget(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.budget_to_pb(self.svc.budget(parse_name(request.name, "sources")))

    def DeleteSource(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.svc.sources.delete(parse_name(request.name, "sources"))
        return sources_pb2.DeleteSourceResponse()


class ModelServicer(models_pb2_grpc.ModelServiceServicer):
    def __init__(self, svc: SynthService) -> None:
        self.svc = svc

    def Train(self, request: Any, context: grpc.ServicerContext) -> Any:
        req = TrainRequest(
            source_id=parse_name(request.source, "sources", field="source"),
            generator=request.generator or "auto",
            epsilon=request.epsilon if request.HasField("epsilon") else None,
            delta=request.delta if request.HasField("delta") else None,
            params=convert.struct_to_dict(request.params),
            idempotency_key=request.idempotency_key,
            display_name=request.display_name,
            validate_only=request.validate_only,
        )
        return convert.job_to_pb(self.svc.training.submit(req))

    def GetModel(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.model_to_pb(self.svc.training.get(parse_name(request.name, "models")))

    def ListModels(self, request: Any, context: grpc.ServicerContext) -> Any:
        source = parse_name(request.source, "sources", field="source") if request.source else ""
        page = self.svc.training.list(
            page_size=page_size(request.page_size), token=request.page_token, source_id=source
        )
        return models_pb2.ListModelsResponse(
            models=[convert.model_to_pb(m) for m in page.items], next_page_token=page.next_token
        )


class DatasetServicer(datasets_pb2_grpc.DatasetServiceServicer):
    def __init__(self, svc: SynthService) -> None:
        self.svc = svc

    def Generate(self, request: Any, context: grpc.ServicerContext) -> Any:
        req = GenerateRequest(
            model_id=parse_name(request.model, "models", field="model"),
            rows=request.rows,
            seed=request.seed if request.HasField("seed") else None,
            idempotency_key=request.idempotency_key,
            display_name=request.display_name,
            validate_only=request.validate_only,
        )
        return convert.job_to_pb(self.svc.generation.submit(req))

    def GetDataset(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.dataset_to_pb(self.svc.generation.get(parse_name(request.name, "datasets")))

    def ListDatasets(self, request: Any, context: grpc.ServicerContext) -> Any:
        page = self.svc.generation.list(
            page_size=page_size(request.page_size), token=request.page_token, parent=request.parent
        )
        return datasets_pb2.ListDatasetsResponse(
            datasets=[convert.dataset_to_pb(d) for d in page.items], next_page_token=page.next_token
        )

    def DownloadDataset(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        path = self.svc.generation.dataset_path(parse_name(request.name, "datasets"))
        chunk = request.chunk_size or DEFAULT_CHUNK
        if not 0 < chunk <= MAX_CHUNK:
            raise InvalidArgument(
                f"chunk_size must be in (0, {MAX_CHUNK}]",
                violations=[FieldViolation("chunk_size", "out of range")],
            )
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
    def __init__(self, svc: SynthService) -> None:
        self.svc = svc

    def Evaluate(self, request: Any, context: grpc.ServicerContext) -> Any:
        req = EvaluateRequest(
            dataset_id=parse_name(request.dataset, "datasets", field="dataset"),
            target=request.target,
            seed=request.seed if request.HasField("seed") else None,
            metrics=tuple(request.metrics),
            idempotency_key=request.idempotency_key,
            validate_only=request.validate_only,
        )
        return convert.job_to_pb(self.svc.evaluation.submit(req))

    def GetEvaluation(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.evaluation_to_pb(
            self.svc.evaluation.get(parse_name(request.name, "evaluations"))
        )

    def ListEvaluations(self, request: Any, context: grpc.ServicerContext) -> Any:
        page = self.svc.evaluation.list(
            page_size=page_size(request.page_size), token=request.page_token, parent=request.parent
        )
        return evaluations_pb2.ListEvaluationsResponse(
            evaluations=[convert.evaluation_to_pb(e) for e in page.items],
            next_page_token=page.next_token,
        )

    def DownloadReport(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        path = self.svc.evaluation.report_path(parse_name(request.name, "evaluations"))
        yield from stream_file(path, DEFAULT_CHUNK, context)


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, svc: SynthService, shutting_down: Any) -> None:
        self.svc = svc
        self.shutting_down = shutting_down

    def GetJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        return convert.job_to_pb(self.svc.jobs.get(parse_name(request.name, "jobs")))

    def ListJobs(self, request: Any, context: grpc.ServicerContext) -> Any:
        state = JobState(jobs_pb2.JobState.Name(request.state)) if request.state else None
        page = self.svc.jobs.list(
            page_size=page_size(request.page_size),
            token=request.page_token,
            target=request.target,
            state=state,
        )
        return jobs_pb2.ListJobsResponse(
            jobs=[convert.job_to_pb(j) for j in page.items], next_page_token=page.next_token
        )

    def WatchJob(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        job_id = parse_name(request.name, "jobs")

        def alive() -> bool:
            return context.is_active() and not self.shutting_down.is_set()

        last = None
        for job in self.svc.jobs.watch(job_id, alive=alive):
            last = job
            yield convert.job_to_pb(job)
        if self.shutting_down.is_set() and (last is None or not last.state.final):
            raise Unavailable("the server is shutting down; watch the job again once it is back")

    def CancelJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        job_id = parse_name(request.name, "jobs")
        return convert.job_to_pb(self.svc.jobs.cancel(job_id))
