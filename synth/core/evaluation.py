"""Evaluate: score a dataset against its source's train and holdout parts, in the background.

The result (every score as JSON) and the HTML report are stored together as
one artifact folder; the headline numbers also go into the metadata so a
release policy can read them without opening files.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import Row, select

from synth.base.atomic import write_bytes_atomic
from synth.base.errors import FieldViolation, InvalidArgument, NotFound
from synth.base.progress import Progress
from synth.core.names import name_of, new_id
from synth.core.pages import Page, fetch_page
from synth.core.records import JobKind, JobRecord
from synth.jobs.context import JobContext
from synth.store.sqltables import evaluations

RESULT_FILE = "evaluation.json"
REPORT_FILE = "report.html"
#: Parts of the result that are per-column detail, not headline scores.
_DETAIL_KEYS = {"distributions", "shapes", "pairs", "options", "seconds", "columns", "flags"}


@dataclass(frozen=True)
class EvaluateRequest:
    dataset_id: str
    target: str = ""
    seed: int | None = None
    metrics: tuple[str, ...] = ()
    idempotency_key: str = ""


@dataclass(frozen=True)
class EvaluationRecord:
    id: str
    dataset_id: str
    model_id: str
    source_id: str
    target: str
    flagged: bool
    scores: dict[str, float]
    artifact: str
    report_size: int
    job_id: str
    create_time: float
    result: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, r: Row[Any]) -> EvaluationRecord:
        m = dict(r._mapping)
        return cls(scores=json.loads(m.pop("scores_json")), **m)


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
    def __init__(self, svc: Any) -> None:
        self.svc = svc

    def submit(self, req: EvaluateRequest) -> JobRecord:
        from evaluators import STEPS

        dataset = self.svc.generation.get(req.dataset_id)
        source = self.svc.sources.get(dataset.source_id)
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
        request = {
            "dataset": dataset.id,
            "target": req.target,
            "seed": req.seed,
            "metrics": list(req.metrics),
        }
        with self.svc.meta.transaction() as conn:
            existing = self.svc.jobs.find_idempotent(
                conn, JobKind.EVALUATE, req.idempotency_key, request
            )
            if existing is not None:
                return existing
            job = self.svc.jobs.create(
                conn,
                JobKind.EVALUATE,
                name_of("datasets", dataset.id),
                request,
                req.idempotency_key,
            )
        self.svc.executor.submit(job.id, lambda ctx: self._run(ctx, request))
        return job

    def _run(self, ctx: JobContext, request: dict[str, Any]) -> str:
        from evaluators import evaluate

        dataset = self.svc.generation.get(request["dataset"])
        source = self.svc.sources.get(dataset.source_id)
        synthetic = pq.read_table(self.svc.artifacts.path(dataset.artifact))
        ctx.touch_data()
        train = self.svc.sources.read_part(source, "train")
        holdout = self.svc.sources.read_part(source, "holdout")

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
        )
        ctx.check()
        doc = result.to_json_dict()
        evaluation_id = new_id("e")
        rel = f"evaluations/{evaluation_id}"
        with self.svc.artifacts.staged_dir(rel) as staging:
            write_bytes_atomic(staging / RESULT_FILE, json.dumps(doc).encode())
            result.write_report(str(staging / REPORT_FILE))
        report_size = (self.svc.artifacts.path(rel) / REPORT_FILE).stat().st_size
        try:
            with self.svc.meta.transaction() as conn:
                conn.execute(
                    evaluations.insert().values(
                        id=evaluation_id,
                        dataset_id=dataset.id,
                        model_id=dataset.model_id,
                        source_id=source.id,
                        target=request["target"],
                        flagged=result.flagged,
                        scores_json=json.dumps(headline_scores(doc)),
                        artifact=rel,
                        report_size=report_size,
                        job_id=ctx.job_id,
                        create_time=time.time(),
                    )
                )
        except BaseException:
            self.svc.artifacts.remove(rel)
            raise
        return name_of("evaluations", evaluation_id)

    def get(self, evaluation_id: str, *, with_result: bool = True) -> EvaluationRecord:
        with self.svc.meta.transaction() as conn:
            row = conn.execute(select(evaluations).where(evaluations.c.id == evaluation_id)).first()
        if row is None:
            raise NotFound(f"evaluation 'evaluations/{evaluation_id}' does not exist")
        rec = EvaluationRecord.from_row(row)
        if with_result:
            doc = json.loads((self.svc.artifacts.path(rec.artifact) / RESULT_FILE).read_text())
            rec = EvaluationRecord(**{**rec.__dict__, "result": doc})
        return rec

    def report_path(self, evaluation_id: str) -> Any:
        rec = self.get(evaluation_id, with_result=False)
        return self.svc.artifacts.path(rec.artifact) / REPORT_FILE

    def list(self, *, page_size: int, token: str, parent: str = "") -> Page[EvaluationRecord]:
        q = select(evaluations).order_by(evaluations.c.create_time, evaluations.c.id)
        coll, _, rid = parent.partition("/")
        if coll == "datasets":
            q = q.where(evaluations.c.dataset_id == rid)
        elif coll == "sources":
            q = q.where(evaluations.c.source_id == rid)
        elif parent:
            raise InvalidArgument("parent must be 'datasets/ID' or 'sources/ID'")
        return fetch_page(
            self.svc.meta, q, page_size=page_size, token=token, make=EvaluationRecord.from_row
        )
