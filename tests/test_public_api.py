"""The public surface of `import synth` is pinned: changing it is a decision, not an accident."""

from __future__ import annotations

import subprocess
import sys

import synth
import synth.base.errors

EXPECTED = {
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
}


def test_all_is_pinned() -> None:
    assert set(synth.__all__) == EXPECTED
    assert len(synth.__all__) == len(EXPECTED)


def test_every_name_resolves() -> None:
    for name in synth.__all__:
        assert getattr(synth, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from synth import *", namespace)
    assert set(namespace) >= EXPECTED


def test_every_error_class_is_exported_as_itself() -> None:
    for name in synth.__all__:
        value = getattr(synth, name)
        if isinstance(value, type) and issubclass(value, synth.base.errors.SynthError):
            assert getattr(synth.base.errors, name) is value


def test_importing_synth_does_not_load_the_client() -> None:
    code = "import sys, synth.base.schema; print('synth.client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_names_are_attribute_errors() -> None:
    try:
        synth.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("synth.NoSuchThing resolved")
