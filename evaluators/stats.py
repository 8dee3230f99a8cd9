"""Intervals for the rates and areas the risk metrics report.

Pure functions; the confidence level is always explicit. The Wilson interval
(not the normal one) because attack success rates sit near 0 or 1, where the
normal interval leaves [0, 1]. AUC intervals use Hanley & McNeil's (1982)
standard error, which needs only the two sample sizes and the AUC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided interval."""

    value: float
    low: float
    high: float

    def to_json_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def z_value(confidence: float) -> float:
    """The two-sided normal quantile; z_value(0.95) ≈ 1.96."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(norm.ppf(0.5 * (1.0 + confidence)))


def wilson(successes: float, n: int, *, confidence: float = 0.95) -> Estimate:
    """The observed rate with its Wilson score interval.

    >>> e = wilson(0, 10)
    >>> (e.value, round(e.low, 3), round(e.high, 3))
    (0.0, 0.0, 0.278)
    """
    if n <= 0:
        return Estimate(math.nan, math.nan, math.nan)
    z = z_value(confidence)
    p = successes / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / den
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half))


def wilson_centre(successes: float, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """(centre, half-width) of the Wilson interval: the rate anonymeter's model works with."""
    z = z_value(confidence)
    den = n + z * z
    centre = (successes + 0.5 * z * z) / den
    half = (z / den) * math.sqrt(successes * (n - successes) / n + 0.25 * z * z)
    return centre, half


def residual_risk(
    attack_successes: float,
    n_attack: int,
    control_successes: float,
    n_control: int,
    *,
    confidence: float = 0.95,
) -> Estimate:
    """risk = (attack − control) / (1 − control), the interval propagated from both Wilson intervals.

    The success the attack has on records the generator never saw (control)
    is what any good model allows; only the excess on its training records is
    a leak. Clipped to [0, 1].
    """
    a, da = wilson_centre(attack_successes, n_attack, confidence=confidence)
    c, dc = wilson_centre(control_successes, n_control, confidence=confidence)
    if c >= 1.0:
        return Estimate(math.nan, math.nan, math.nan)
    risk = (a - c) / (1.0 - c)
    d_a = 1.0 / (1.0 - c)
    d_c = (a - 1.0) / (1.0 - c) ** 2
    err = math.sqrt((da * d_a) ** 2 + (dc * d_c) ** 2)

    def clip(x: float) -> float:
        return min(1.0, max(0.0, x))

    return Estimate(clip(risk), clip(risk - err), clip(risk + err))


def auc(positive: np.ndarray, negative: np.ndarray, *, confidence: float = 0.95) -> Estimate:
    """ROC AUC of scores (higher = more likely positive), ties counted half, with a Hanley–McNeil interval.

    >>> auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])).value
    1.0
    """
    n1, n0 = positive.size, negative.size
    if n1 == 0 or n0 == 0:
        return Estimate(math.nan, math.nan, math.nan)
    ranks = rankdata(np.concatenate([positive, negative]))
    a = float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
    # At AUC 0 or 1 the Hanley–McNeil variance vanishes; evaluate it half an
    # observation away from the edge so a perfect score still has an interval.
    edge = 0.5 / min(n1, n0)
    v = min(max(a, edge), 1.0 - edge)
    q1 = v / (2 - v)
    q2 = 2 * v * v / (1 + v)
    var = (v * (1 - v) + (n1 - 1) * (q1 - v * v) + (n0 - 1) * (q2 - v * v)) / (n1 * n0)
    half = z_value(confidence) * math.sqrt(max(var, 0.0))
    return Estimate(a, max(0.0, a - half), min(1.0, a + half))
