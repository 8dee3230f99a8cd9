"""Distance-based re-identification risk: exact matches, DCR share, NNDR, membership inference.

Every number is set beside its chance level, measured on the holdout rows the
generator never saw. Distances are the mixed-type distance of `encoding`;
neighbours come from `neighbors.knn` at full train and holdout size. Only the
*queries* are sampled (synthetic rows for DCR, train/holdout rows for the
membership attack), which narrows the interval but never hides a copied row
from the search — unlike subsampling train and holdout, which is what lets
SDMetrics' DCR score a verbatim copy of train as safe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from evaluators.neighbors import Tick, knn
from evaluators.stats import Estimate, auc, wilson


@dataclass(frozen=True)
class ExactMatches:
    share_train: Estimate  # synthetic rows identical to some train row
    share_holdout: Estimate  # ... to some holdout row: the chance level
    chance_train: float  # holdout share scaled to the train table's size

    def to_json_dict(self) -> dict[str, object]:
        return {"share_train": self.share_train.to_json_dict(),
                "share_holdout": self.share_holdout.to_json_dict(),
                "chance_train": self.chance_train}


@dataclass(frozen=True)
class DistanceRisk:
    dcr_share: Estimate  # share of synthetic rows closer to train than to holdout (ties: ½)
    dcr_baseline: float  # n_train / (n_train + n_holdout): the share when nothing is memorised
    dcr_train_median: float
    dcr_holdout_median: float
    nndr_median: float  # nearest / second-nearest train distance of synthetic rows
    nndr_p05: float
    n_queries: int

    def to_json_dict(self) -> dict[str, object]:
        out: dict[str, object] = {k: getattr(self, k) for k in
                                  ("dcr_baseline", "dcr_train_median", "dcr_holdout_median",
                                   "nndr_median", "nndr_p05", "n_queries")}
        out["dcr_share"] = self.dcr_share.to_json_dict()
        return out


@dataclass(frozen=True)
class MembershipInference:
    auc: Estimate  # 0.5: train rows are no closer to the synthetic table than holdout rows
    n_targets: int  # per side

    def to_json_dict(self) -> dict[str, object]:
        return {"auc": self.auc.to_json_dict(), "n_targets": self.n_targets}


def exact_matches(
    synthetic: pl.DataFrame, train: pl.DataFrame, holdout: pl.DataFrame, *, confidence: float
) -> ExactMatches:
    """Share of synthetic rows that equal a train row, beside the same share for holdout."""
    cols = synthetic.columns
    n = synthetic.height

    def hits(ref: pl.DataFrame) -> int:
        return synthetic.join(ref.unique(), on=cols, how="semi", nulls_equal=True).height

    share_h = wilson(hits(holdout), n, confidence=confidence)
    chance = min(1.0, share_h.value * train.height / max(1, holdout.height))
    return ExactMatches(wilson(hits(train), n, confidence=confidence), share_h, chance)


def distance_risk(
    syn_x: np.ndarray,
    train_x: np.ndarray,
    hold_x: np.ndarray,
    *,
    max_queries: int | None,
    rng: np.random.Generator,
    confidence: float,
    tick: Tick | None = None,
) -> DistanceRisk:
    """DCR share against its baseline and NNDR, from (a sample of) synthetic rows."""
    q = _sample_rows(syn_x, max_queries, rng)
    d_train, _ = knn(q, train_x, k=2, tick=_part(tick, 0.0, 0.8))
    d_hold, _ = knn(q, hold_x, k=1, tick=_part(tick, 0.8, 1.0))
    dt = np.sqrt(d_train[:, 0])
    dh = np.sqrt(d_hold[:, 0])
    closer = (dt < dh).sum() + 0.5 * (dt == dh).sum()
    share = wilson(float(closer), q.shape[0], confidence=confidence)
    baseline = train_x.shape[0] / (train_x.shape[0] + hold_x.shape[0])
    if d_train.shape[1] > 1:
        d2 = np.sqrt(d_train[:, 1])
        nndr = np.where(d2 > 0, dt / np.where(d2 > 0, d2, 1.0), 1.0)
    else:
        nndr = np.ones_like(dt)
    return DistanceRisk(share, baseline, float(np.median(dt)), float(np.median(dh)),
                        float(np.median(nndr)), float(np.quantile(nndr, 0.05)), q.shape[0])


def membership_inference(
    syn_x: np.ndarray,
    train_x: np.ndarray,
    hold_x: np.ndarray,
    *,
    max_targets: int | None,
    rng: np.random.Generator,
    confidence: float,
    tick: Tick | None = None,
) -> MembershipInference:
    """An attacker guesses "member" for rows close to the synthetic table; the AUC of that guess.

    Equal numbers of train and holdout rows are attacked, so 0.5 is chance.
    """
    n = min(train_x.shape[0], hold_x.shape[0])
    if max_targets is not None:
        n = min(n, max_targets)
    members = train_x[rng.choice(train_x.shape[0], n, replace=False)]
    others = hold_x[rng.choice(hold_x.shape[0], n, replace=False)]
    d_in, _ = knn(members, syn_x, k=1, tick=_part(tick, 0.0, 0.5))
    d_out, _ = knn(others, syn_x, k=1, tick=_part(tick, 0.5, 1.0))
    return MembershipInference(auc(-d_in[:, 0], -d_out[:, 0], confidence=confidence), n)


def _sample_rows(x: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    if limit is None or x.shape[0] <= limit:
        return x
    return x[np.sort(rng.choice(x.shape[0], limit, replace=False))]


def _part(tick: Tick | None, lo: float, hi: float) -> Tick | None:
    """Map a sub-step's progress in [0, 1] onto [lo, hi] of the caller's."""
    if tick is None:
        return None
    return lambda f: tick(lo + (hi - lo) * f)
