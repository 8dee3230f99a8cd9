"""Evaluate: score a dataset against its source's train and holdout parts, in the background.

The result (every score as JSON) and the HTML report are stored together as
one artifact folder; the headline numbers also go into the metadata so a
release policy can read them without opening files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from synth.base.atomic import write_bytes_atomic
from synth.base.errors import FieldViolation, InvalidArgument, PermissionDenied
from synth.base.names import name_of, new_id
from synth.base.principal import SYSTEM, Principal, Role
from synth.base.progress import Progress
from synth.core import estimates, submission
from synth.core.access import evaluation_filter, require, sees_evaluations_of
from synth.core.generation import GenerationService
from synth.core.sources import SourceService
from synth.core.stores import Stores
from synth.jobs.context import JobContext
from synth.jobs.plan import JobPlan
from synth.jobs.record import JobRecord
from synth.jobs.state import JobKind
from synth.store.pages import Page
from synth.store.records import EvaluationRecord, SourceRecord

RESULT_FILE = "evaluation.json"
REPORT_FILE = "report.html"
#: Parts of the result that are per-column detail, not headline scores (nor the flag
#: saying the file holds real statistics).
_DETAIL_KEYS = {
    "distributions",
    "shapes",
    "pairs",
    "options",
    "seconds",
    "columns",
    "flags",
    "contains_real_statistics",
}


@dataclass(frozen=True)
class EvaluateRequest:
    dataset_id: str
    target: str = ""
    seed: int | None = None
    metrics: tuple[str, ...] = ()
    idempotency_key: str = ""
    #: A dry run (AIP-163): check and estimate, but create and write nothing.
    validate_only: bool = False


def headline_scores(result: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Flatten the numeric leaves of the result JSON into dotted names (details left out)."""
    out: dict[str, float] = {}
    for key, value in result.items():
        if key in _DETAIL_KEYS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, bool) or (isinstance(value, int | float) and math.isfinite(value)):
            out[name] = float(value)
        elif isinstance(value, dict):
            out.update(headline_scores(value, name + "."))
        elif isinstance(value, list) and key == "attacks":
            for attack in value:
                if isinstance(attack, dict) and "name" in attack:
                    out.update(headline_scores(attack, f"{name}.{attack['name']}."))
    return out


class EvaluationService:
    kind = JobKind.EVALUATE

    def __init__(self, stores: Stores, sources: SourceService, datasets: GenerationService) -> None:
        self.stores = stores
        self.sources = sources
        self.datasets = datasets

    def submit(self, who: Principal, req: EvaluateRequest) -> JobRecord:
        from evaluators import STEPS

        require(who, Role.OWNER, "evaluating a dataset")
        submission.check_quota(self.stores, who.subject)
        dataset = self.datasets.get(who, req.dataset_id)
        source = self.sources.get(SYSTEM, dataset.source_id)
        if not sees_evaluations_of(who, source.owner):
            raise PermissionDenied(
                "evaluations are the source owner's alone: they hold statistics of the real "
                f"rows. Ask the owner of {name_of('sources', source.id)} to evaluate it"
            )
        if req.target and req.target not in source.schema.names:
            raise InvalidArgument(
                f"target {req.target!r} is not a column of {name_of('sources', source.id)}; "
                f"columns are {', '.join(source.schema.names)}",
                violations=[FieldViolation("target", "unknown column")],
            )
        unknown = [m for m in req.metrics if m not in STEPS]
        if unknown:
            raise InvalidArgument(
                f"unknown metrics {unknown}; known are {', '.join(STEPS)}",
                violations=[FieldViolation("metrics", "unknown metric")],
            )
        if source.holdout_rows == 0:
            raise InvalidArgument(
                f"{name_of('sources', source.id)} has no holdout part (registered with holdout_fraction=0); "
                "risk scores need one as their chance level"
            )
        job_plan = self.admit(dataset.rows, source)
        request = {
            "dataset": dataset.id,
            "target": req.target,
            "seed": req.seed,
            "metrics": list(req.metrics),
        }
        return submission.submit(
            self.stores,
            self,
            target=name_of("datasets", dataset.id),
            request=request,
            idempotency_key=req.idempotency_key,
            plan=job_plan,
            validate_only=req.validate_only,
            owner=who.subject,
        )

    def admit(self, synthetic_rows: int, source: SourceRecord) -> JobPlan:
        """The job's estimates; refused (RESOURCE_EXHAUSTED) past the server's limits."""
        estimate = estimates.evaluation(
            len(source.schema.names), synthetic_rows, source.train_rows, source.holdout_rows
        )
        estimates.check(
            estimate, self.stores.config, f"evaluating {synthetic_rows:,} synthetic rows"
        )
        return JobPlan(
            memory_mb=estimate.memory_mb,
            seconds=estimate.seconds,
            memory_limit_mb=self.stores.config.max_job_memory_mb,
            seconds_limit=self.stores.config.max_job_seconds,
            basis=estimate.basis,
        )

    def resumable(self, job: JobRecord) -> bool:
        return False

    def run(self, ctx: JobContext, job: JobRecord, *, resume: bool = False) -> str:
        from evaluators import EvaluateOptions, evaluate

        request = job.request
        dataset = self.datasets.get(SYSTEM, request["dataset"])
        source = self.sources.get(SYSTEM, dataset.source_id)
        synthetic = pq.read_table(self.stores.artifacts.path(dataset.artifact))
        ctx.touch_data()
        train = self.sources.read_part(source, "train")
        holdout = self.sources.read_part(source, "holdout")

        def progress(phase: str, fraction: float) -> None:
            ctx.progress(Progress("evaluate", fraction, message=phase))

        result = evaluate(
            synthetic,
            train,
            holdout,
            schema=source.schema,
            target=request["target"] or None,
            seed=request["seed"] if request["seed"] is not None else 0,
            metrics=tuple(request["metrics"]) or None,
            progress=progress,
            options=EvaluateOptions(min_group_rows=self.stores.config.min_group_rows),
        )
        ctx.check()
        doc = result.to_json_dict()
        evaluation_id = new_id("e")
        rel = f"evaluations/{evaluation_id}"
        with self.stores.artifacts.staged_dir(rel) as staging:
            write_bytes_atomic(staging / RESULT_FILE, json.dumps(doc).encode())
            result.write_report(str(staging / REPORT_FILE))
        report_size = (self.stores.artifacts.path(rel) / REPORT_FILE).stat().st_size
        record = EvaluationRecord(
            id=evaluation_id,
            dataset_id=dataset.id,
            model_id=dataset.model_id,
            source_id=source.id,
            target=request["target"],
            flagged=result.flagged,
            scores=headline_scores(doc),
            artifact=rel,
            report_size=report_size,
            job_id=ctx.job_id,
            create_time=time.time(),
        )
        try:
            self.stores.evaluations.insert(record)
        except BaseException:
            self.stores.artifacts.remove(rel)
            raise
        return name_of("evaluations", evaluation_id)

    def get(
        self, who: Principal, evaluation_id: str, *, with_result: bool = True
    ) -> EvaluationRecord:
        """The evaluation, if `who` owns its source; else the NotFound of an absent id."""
        rec = self.stores.evaluations.get(evaluation_id, owner=evaluation_filter(who))
        if with_result:
            path = self.stores.artifacts.path(rec.artifact) / RESULT_FILE
            rec = dataclasses.replace(rec, result=json.loads(path.read_text()))
        return rec

    def report_path(self, who: Principal, evaluation_id: str) -> Path:
        rec = self.get(who, evaluation_id, with_result=False)
        return self.stores.artifacts.path(rec.artifact) / REPORT_FILE

    def list(
        self, who: Principal, *, page_size: int, token: str, parent: str = ""
    ) -> Page[EvaluationRecord]:
        return self.stores.evaluations.list(
            page_size=page_size, token=token, parent=parent, owner=evaluation_filter(who)
        )
