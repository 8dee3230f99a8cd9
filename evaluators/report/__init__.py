"""The self-contained HTML report of an `Evaluation` (inline SVG, no network)."""

from evaluators.report.html import render

__all__ = ["render"]
