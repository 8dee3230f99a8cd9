"""The frozen result of an evaluation: every score, its interval and the verdict inputs.

An `EvaluationResult` holds everything the report shows (including the small
per-column histograms), so rendering the HTML needs no real rows; it never
holds a real row itself, only aggregates, and of those none that fewer than
`min_group_rows` real rows make up, nor a real column's minimum or maximum
(`evaluators.evaluate.distributions`). Its JSON says so at the top
(`contains_real_statistics`): it is for the source's owner only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from evaluators.attacks import AttackResult
from evaluators.fidelity import Fidelity
from evaluators.report.html import render
from evaluators.risk import DistanceRisk, ExactMatches, MembershipInference
from evaluators.utility import Detection, Efficacy
from synth.base.atomic import write_bytes_atomic


@dataclass(frozen=True)
class ColumnDistribution:
    """What the report draws for one column: bins (or categories) and both tables' shares."""

    column: str
    continuous: bool
    labels: tuple[str, ...]  # category names, or bin lower edges as text (none when edges are withheld)
    real: tuple[float, ...]
    synthetic: tuple[float, ...]
    edges: tuple[float, ...] = ()  # bin edges for continuous columns (len(labels) + 1), when shown
    null_real: float = 0.0  # NaN: withheld, fewer than min_group_rows real rows are null
    null_synthetic: float = 0.0
    datetime: bool = False  # edges are nanoseconds since the epoch
    #: Categories (left out) or bins (real share shown as 0) held by fewer than min_group_rows real rows.
    withheld: int = 0
    #: Where a histogram's edges come from: "public" (the schema's bounds), "dp" (the model's
    #: DP bounds) or "none" (bins span the synthetic table's range; edges not shown). "" for categories.
    bounds: str = ""


@dataclass(frozen=True)
class Flag:
    """One risk check the verdict looks at."""

    metric: str
    value: float
    threshold: float
    flagged: bool
    why: str


@dataclass(frozen=True)
class EvaluationResult:
    """Every score of one `evaluate` call (the SDK's `synth.Evaluation` is the service's record of one)."""

    n_synthetic: int
    n_train: int
    n_holdout: int
    columns: tuple[str, ...]
    fidelity: Fidelity | None
    efficacy: Efficacy | None
    detection: Detection | None
    exact_matches: ExactMatches | None
    distance: DistanceRisk | None
    membership: MembershipInference | None
    attacks: tuple[AttackResult, ...]
    distributions: tuple[ColumnDistribution, ...]
    flags: tuple[Flag, ...]
    options: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    #: No value fewer than this many real rows hold is shown (`EvaluateOptions.min_group_rows`).
    min_group_rows: int = 10

    @property
    def real_statistics_note(self) -> str:
        """What the JSON and the report say about the real data they show."""
        return (
            "Holds statistics of the real source rows (shares, correlations, scores): for the "
            f"source's owner only. No value, histogram bin or null count held by fewer than "
            f"{self.min_group_rows} real rows is shown, and no real minimum or maximum: histogram "
            "edges are the schema's declared bounds or the model's DP bounds, else not shown."
        )

    @property
    def flagged(self) -> bool:
        """Whether any risk check found a leak beyond its chance level."""
        return any(f.flagged for f in self.flags)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON types only (NaN becomes null)."""
        fid = None
        if self.fidelity is not None:
            f = self.fidelity
            fid = {
                "overall": f.overall,
                "column_shapes": f.column_shapes,
                "column_pair_trends": f.column_pair_trends,
                "column_pair_trends_all": f.column_pair_trends_all,
                "shapes": [s.__dict__ for s in f.shapes],
                "pairs": [p.__dict__ for p in f.pairs],
            }
        out = {
            "contains_real_statistics": True,
            "real_statistics_note": self.real_statistics_note,
            "sizes": {"synthetic": self.n_synthetic, "train": self.n_train, "holdout": self.n_holdout},
            "columns": list(self.columns),
            "fidelity": fid,
            "efficacy": None if self.efficacy is None else self.efficacy.to_json_dict(),
            "detection": None if self.detection is None else self.detection.to_json_dict(),
            "exact_matches": None if self.exact_matches is None else self.exact_matches.to_json_dict(),
            "distance": None if self.distance is None else self.distance.to_json_dict(),
            "membership": None if self.membership is None else self.membership.to_json_dict(),
            "attacks": [a.to_json_dict() for a in self.attacks],
            "distributions": [d.__dict__ for d in self.distributions],
            "verdict": {
                "flagged": self.flagged,
                "fidelity": None if self.fidelity is None else self.fidelity.overall,
                "flags": [fl.__dict__ for fl in self.flags],
            },
            "options": self.options,
            "seconds": self.seconds,
        }
        return _clean(out)

    def report_html(self) -> str:
        """The self-contained HTML report of these scores (`evaluators.report.html`)."""
        return render(self)

    def write_report(self, path: str) -> None:
        """Write the self-contained HTML report atomically (a crash leaves no half file)."""
        write_bytes_atomic(path, self.report_html().encode("utf-8"))


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return None if math.isnan(x) or math.isinf(x) else x
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str):  # numpy scalars
        return _clean(x.item())
    return x
