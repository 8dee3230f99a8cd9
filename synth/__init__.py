"""synth: differentially private synthetic tables as a service.

The public surface for notebooks and scripts::

    import synth
    client = synth.Client.connect("localhost:50051")
    src = client.register_source("adult", "adult.csv", budget=synth.Budget(epsilon=3.0, delta=1e-6))

Every name is imported on first use: `import synth.base` (what `generators/`
and `evaluators/` import) loads neither the SDK nor gRPC, and `import synth`
alone costs nothing until a name is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synth.base.errors import (
        AlreadyExists,
        BudgetExhausted,
        Cancelled,
        DeadlineExceeded,
        FailedPrecondition,
        FieldViolation,
        IdempotencyConflict,
        Internal,
        Interrupted,
        InvalidArgument,
        InvalidSchema,
        InvalidTable,
        NotFound,
        PermissionDenied,
        PrivacyError,
        QuotaExceeded,
        ResourceLimit,
        SchemaNotApproved,
        SchemaVersionMismatch,
        SynthError,
        Unauthenticated,
        Unavailable,
    )
    from synth.base.schema import ColumnKind, ColumnSchema, TableSchema
    from synth.client import (
        Budget,
        BudgetStatus,
        Client,
        ClientConfig,
        Dataset,
        Evaluation,
        Job,
        JobHandle,
        JobState,
        LedgerEntry,
        Model,
        Source,
    )

from synth.base.version import __version__

_ERRORS = (
    "AlreadyExists",
    "BudgetExhausted",
    "Cancelled",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "IdempotencyConflict",
    "Internal",
    "Interrupted",
    "InvalidArgument",
    "InvalidSchema",
    "InvalidTable",
    "NotFound",
    "PermissionDenied",
    "PrivacyError",
    "QuotaExceeded",
    "ResourceLimit",
    "SchemaNotApproved",
    "SchemaVersionMismatch",
    "SynthError",
    "Unauthenticated",
    "Unavailable",
)
_LAZY: dict[str, str] = {name: "synth.base.errors" for name in _ERRORS}
_LAZY |= {
    name: "synth.base.schema"
    for name in ("ColumnKind", "ColumnSchema", "PrivacyUnit", "TableSchema")
}
_LAZY |= {
    name: "synth.client"
    for name in (
        "Evaluation",
        "Budget",
        "BudgetStatus",
        "Client",
        "ClientConfig",
        "Dataset",
        "Job",
        "JobHandle",
        "JobPlan",
        "JobState",
        "LedgerEntry",
        "Model",
        "Source",
    )
}

__all__ = [
    "AlreadyExists",
    "Budget",
    "BudgetExhausted",
    "BudgetStatus",
    "Cancelled",
    "Client",
    "ClientConfig",
    "ColumnKind",
    "ColumnSchema",
    "Dataset",
    "DeadlineExceeded",
    "Evaluation",
    "FailedPrecondition",
    "FieldViolation",
    "IdempotencyConflict",
    "Internal",
    "Interrupted",
    "InvalidArgument",
    "InvalidSchema",
    "InvalidTable",
    "Job",
    "JobHandle",
    "JobPlan",
    "JobState",
    "LedgerEntry",
    "Model",
    "NotFound",
    "PermissionDenied",
    "PrivacyError",
    "PrivacyUnit",
    "QuotaExceeded",
    "ResourceLimit",
    "SchemaNotApproved",
    "SchemaVersionMismatch",
    "Source",
    "SynthError",
    "TableSchema",
    "Unauthenticated",
    "Unavailable",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'synth' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
