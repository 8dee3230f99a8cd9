"""The self-contained HTML report of an `EvaluationResult` (inline SVG, no network)."""

from evaluators.report.html import render

__all__ = ["render"]
