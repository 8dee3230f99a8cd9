"""Fidelity and re-identification risk of synthetic tables: metrics, plots, reports.

Usable alone (`from evaluators import evaluate`) and by the service's Evaluate
job. Imports only numpy, polars, pyarrow, scipy, torch and synth's shared
vocabulary; SDMetrics and anonymeter are references in tests and bench/, never
runtime dependencies.
"""

from evaluators.evaluate import STEPS, EvaluateOptions, evaluate, register_step
from evaluators.fidelity import Fidelity, fidelity
from evaluators.inputs import Inputs, prepare
from evaluators.result import ColumnDistribution, EvaluationResult, Flag
from evaluators.stats import Estimate

__all__ = [
    "STEPS",
    "ColumnDistribution",
    "Estimate",
    "EvaluateOptions",
    "EvaluationResult",
    "Fidelity",
    "Flag",
    "Inputs",
    "evaluate",
    "fidelity",
    "prepare",
    "register_step",
]
