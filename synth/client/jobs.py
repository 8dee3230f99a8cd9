"""Job verbs of the SDK: handles, reads, listings, cancellation, and the calls a handle makes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from synth.base.errors import InvalidArgument
from synth.client import convert
from synth.client.config import ClientConfig
from synth.client.convert import plan_from_proto
from synth.client.handles import JobCalls, JobHandle
from synth.client.resources import Dataset, Job, JobPlan, JobState, Model, Source
from synth.v1 import datasets_pb2, evaluations_pb2, jobs_pb2, models_pb2


class JobVerbs:
    """Mixed into `synth.Client`; uses its stubs, config and call helpers."""

    _stubs: Any
    config: ClientConfig
    address: str
    _call: Callable[..., Any]
    _pages: Callable[..., Any]

    def _as_job_calls(self) -> JobCalls:
        """This object as its handles see it: the `Client` it is mixed into implements `JobCalls`."""
        return cast(JobCalls, self)

    def _handle(self, msg: jobs_pb2.Job) -> JobHandle[Any]:
        job = convert.job_from_proto(msg)
        return JobHandle(self._as_job_calls(), job.name, job=job)

    def job(self, job: Job | JobHandle[Any] | str) -> JobHandle[Any]:
        """A handle on an existing job (no call is made)."""
        return JobHandle(self._as_job_calls(), convert.resource_name(job, "jobs"))

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

    # --- dry runs: the plan of a job, charging and creating nothing (AIP-163 validate_only) ---

    def plan_training(
        self,
        source: Source | str,
        *,
        generator: str = "auto",
        epsilon: float | None,
        delta: float | None = None,
        params: dict[str, Any] | None = None,
        **hyperparameters: Any,
    ) -> JobPlan:
        """What `train` with these arguments would do: the generator ("auto" resolved) and
        why, the ledger charges, and the memory and time estimates. Nothing is charged
        or created; it raises what `train` would raise (a spent budget, a limit passed)."""
        both = sorted(set(params or {}) & set(hyperparameters))
        if both:
            raise InvalidArgument(f"{', '.join(both)} given both in params and as keywords")
        merged = {**(params or {}), **hyperparameters}
        request = models_pb2.TrainRequest(
            source=convert.resource_name(source, "sources"),
            generator=generator,
            params=convert.params_to_struct(merged or None),
            validate_only=True,
        )
        if epsilon is not None:
            request.epsilon = epsilon
        if delta is not None:
            request.delta = delta
        return plan_from_proto(self._call(self._stubs.models.Train, request))

    def plan_generation(self, model: Model | str, *, rows: int) -> JobPlan:
        """The memory and time estimates of `generate(model, rows=rows)`; nothing is created."""
        request = datasets_pb2.GenerateRequest(
            model=convert.resource_name(model, "models"), rows=rows, validate_only=True
        )
        return plan_from_proto(self._call(self._stubs.datasets.Generate, request))

    def plan_evaluation(
        self,
        dataset: Dataset | str,
        *,
        target: str | None = None,
        metrics: tuple[str, ...] | list[str] = (),
    ) -> JobPlan:
        """The memory and time estimates of `evaluate(dataset, ...)`; nothing is created."""
        request = evaluations_pb2.EvaluateRequest(
            dataset=convert.resource_name(dataset, "datasets"),
            target=target or "",
            metrics=list(metrics),
            validate_only=True,
        )
        return plan_from_proto(self._call(self._stubs.evaluations.Evaluate, request))

    # --- the calls a JobHandle makes (synth.client.handles.JobCalls) ------------------

    def _cancel_job_message(self, name: str) -> jobs_pb2.Job:
        return self._call(self._stubs.jobs.CancelJob, jobs_pb2.CancelJobRequest(name=name))

    def _watch_job_stream(self, name: str, *, timeout: float | None) -> Any:
        return self._stubs.jobs.WatchJob(
            jobs_pb2.WatchJobRequest(name=name),
            timeout=timeout,
            metadata=self.config.metadata or None,
        )
