"""The SDK's evaluation verbs: score a dataset, read the scores, fetch the HTML report.

Evaluations read the source's real rows: they are for the source's owner.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synth.base.atomic import atomic_writer
from synth.client import convert
from synth.client.errors import translated
from synth.client.transfer import receive
from synth.v1 import evaluations_pb2

if TYPE_CHECKING:
    from synth.client.handles import JobHandle
    from synth.client.resources import Dataset


@dataclass(frozen=True)
class Evaluation:
    """Fidelity and risk scores of one dataset against its source's train and holdout parts."""

    name: str
    dataset: str
    model: str
    source: str
    flagged: bool
    #: Headline numbers by dotted name, e.g. "fidelity.overall", "membership.auc.value".
    scores: dict[str, float] = field(default_factory=dict, hash=False, repr=False)
    #: Every score, interval and flag, as the evaluators' JSON document.
    result: dict[str, Any] = field(default_factory=dict, hash=False, repr=False)
    target: str = ""
    report_size: int = 0
    job: str = ""
    create_time: datetime | None = None

    @property
    def id(self) -> str:
        return self.name.split("/", 1)[-1]

    def __str__(self) -> str:
        verdict = "FLAGGED" if self.flagged else "no leak found"
        parts = [f"{self.name} of {self.dataset}: {verdict}"]
        for key, label in (
            ("fidelity.overall", "quality"),
            ("fidelity.column_shapes", "shapes"),
            ("fidelity.column_pair_trends", "pair trends"),
            ("distance.dcr_share.value", "DCR share"),
            ("membership.auc.value", "MIA AUC"),
        ):
            if key in self.scores:
                parts.append(f"{label} {self.scores[key]:.3f}")
        return ", ".join(parts)


def evaluation_from_proto(msg: evaluations_pb2.Evaluation) -> Evaluation:
    return Evaluation(
        name=msg.name,
        dataset=msg.dataset,
        model=msg.model,
        source=msg.source,
        flagged=msg.flagged,
        scores=dict(msg.scores),
        result=json.loads(msg.result_json) if msg.result_json else {},
        target=msg.target,
        report_size=msg.report_size,
        job=msg.job,
        create_time=convert._time(msg.create_time),
    )


class EvaluationVerbs:
    """Mixed into `synth.Client`; uses its channel, stubs and config."""

    _stubs: Any
    config: Any
    address: str
    _call: Callable[..., Any]
    _handle: Callable[..., JobHandle[Any]]
    _pages: Callable[..., Any]

    def evaluate(
        self,
        dataset: Dataset | str,
        *,
        target: str | None = None,
        metrics: tuple[str, ...] | list[str] = (),
        seed: int | None = None,
        idempotency_key: str | None = None,
    ) -> JobHandle[Evaluation]:
        """Start scoring `dataset`: fidelity, ML efficacy on `target`, detection and risk."""
        request = evaluations_pb2.EvaluateRequest(
            dataset=convert.resource_name(dataset, "datasets"),
            target=target or "",
            metrics=list(metrics),
            idempotency_key=idempotency_key or "",
        )
        if seed is not None:
            request.seed = seed
        return self._handle(self._call(self._stubs.evaluations.Evaluate, request))

    def get_evaluation(self, evaluation: Evaluation | str) -> Evaluation:
        name = convert.resource_name(evaluation, "evaluations")
        msg = self._call(
            self._stubs.evaluations.GetEvaluation, evaluations_pb2.GetEvaluationRequest(name=name)
        )
        return evaluation_from_proto(msg)

    def list_evaluations(self, *, parent: Any = None, page_size: int | None = None) -> list[Evaluation]:
        """Every evaluation (of a dataset or source, when `parent` is given), across all pages."""
        request = evaluations_pb2.ListEvaluationsRequest(parent=str(getattr(parent, "name", parent) or ""))
        pages = self._pages(self._stubs.evaluations.ListEvaluations, request, "evaluations", page_size)
        return [evaluation_from_proto(m) for m in pages]

    def download_report(self, evaluation: Evaluation | str, path: str | os.PathLike[str]) -> Path:
        """Write the evaluation's self-contained HTML report to `path` (atomically)."""
        name = convert.resource_name(evaluation, "evaluations")
        target = Path(path)
        with translated(address=self.address), atomic_writer(target) as fh:
            stream = self._stubs.evaluations.DownloadReport(
                evaluations_pb2.DownloadReportRequest(name=name),
                timeout=self.config.transfer_timeout,
                metadata=self.config.metadata or None,
            )
            receive(stream, fh)
        return target
