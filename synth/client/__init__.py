"""The Python SDK: `synth.Client` and the values and handles it returns."""

from synth.client.client import DEFAULT_ADDRESS, Client
from synth.client.config import ClientConfig
from synth.client.errors import from_rpc_error
from synth.client.evaluations import Evaluation
from synth.client.handles import JobHandle
from synth.client.resources import (
    Budget,
    BudgetStatus,
    Dataset,
    Job,
    JobError,
    JobKind,
    JobPlan,
    JobProgress,
    JobState,
    LedgerEntry,
    Model,
    PlannedCharge,
    Source,
    Spend,
)

__all__ = [
    "DEFAULT_ADDRESS",
    "Budget",
    "BudgetStatus",
    "Client",
    "ClientConfig",
    "Dataset",
    "Evaluation",
    "Job",
    "JobError",
    "JobHandle",
    "JobKind",
    "JobPlan",
    "JobProgress",
    "JobState",
    "LedgerEntry",
    "Model",
    "PlannedCharge",
    "Source",
    "Spend",
    "from_rpc_error",
]
