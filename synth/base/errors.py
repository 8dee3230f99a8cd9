"""One error root for the whole product, each error naming its status code.

Codes are plain names (`"NOT_FOUND"`, as in `grpc.StatusCode`), so the
library layers raise these without importing gRPC. The server's single
interceptor turns a `SynthError` into a status with rich details; the SDK
turns the status back into the same class by its `reason`, so a notebook
catches `synth.BudgetExhausted` whether it ran the generator locally or over
the wire. `generators/` and `evaluators/` raise these too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request, as in `google.rpc.BadRequest`."""

    field: str
    description: str


class SynthError(Exception):
    """Root of every error synth raises on purpose."""

    code: ClassVar[str] = "INTERNAL"  # a google.rpc.Code name
    reason: ClassVar[str] = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        violations: list[FieldViolation] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.violations = list(violations or [])
        self.metadata = dict(metadata or {})

    def __str__(self) -> str:
        return self.message


class InvalidArgument(SynthError):
    """The request or its data is wrong in a way the caller can fix."""

    code = "INVALID_ARGUMENT"
    reason = "INVALID_ARGUMENT"


class InvalidTable(InvalidArgument):
    """An uploaded or named table cannot be used as a source."""

    reason = "INVALID_TABLE"


class InvalidSchema(InvalidArgument):
    """A schema does not match its table or contradicts itself."""

    reason = "INVALID_SCHEMA"


class NotFound(SynthError):
    code = "NOT_FOUND"
    reason = "NOT_FOUND"


class Unauthenticated(SynthError):
    """The call carried no valid bearer token (missing, malformed, unknown or revoked)."""

    code = "UNAUTHENTICATED"
    reason = "UNAUTHENTICATED"


class PermissionDenied(SynthError):
    """The caller's roles do not allow this call (the message names the role it needs)."""

    code = "PERMISSION_DENIED"
    reason = "PERMISSION_DENIED"


class AlreadyExists(SynthError):
    code = "ALREADY_EXISTS"
    reason = "ALREADY_EXISTS"


class IdempotencyConflict(AlreadyExists):
    """An idempotency key was reused with a different request."""

    reason = "IDEMPOTENCY_CONFLICT"


class FailedPrecondition(SynthError):
    """The system is not in a state where the call can run (job not finished, ...)."""

    code = "FAILED_PRECONDITION"
    reason = "FAILED_PRECONDITION"


class PrivacyError(FailedPrecondition):
    """A privacy rule forbids what was asked (no bounds and no budget to find them, ...)."""

    reason = "PRIVACY_RULE"


class SchemaNotApproved(FailedPrecondition):
    """The source's schema is a proposal its owner has not approved; nothing trains on it.

    Everything in a schema is public (it shapes every model and the released
    files), and an inferred one came from the data: the owner reviews it first.
    """

    reason = "SCHEMA_NOT_APPROVED"


class SchemaVersionMismatch(FailedPrecondition):
    """An approval named a schema version that is no longer the source's current one."""

    reason = "SCHEMA_VERSION_MISMATCH"


class BudgetExhausted(SynthError):
    """A spend would pass the source's (ε, δ) cap."""

    code = "RESOURCE_EXHAUSTED"
    reason = "BUDGET_EXHAUSTED"


class ResourceLimit(SynthError):
    """A workload is larger than this server is configured to take."""

    code = "RESOURCE_EXHAUSTED"
    reason = "RESOURCE_LIMIT"


class QuotaExceeded(ResourceLimit):
    """The caller already has as much queued and running work as this server allows one caller."""

    reason = "QUOTA_EXCEEDED"


class Cancelled(SynthError):
    code = "CANCELLED"
    reason = "CANCELLED"


class Interrupted(Cancelled):
    """The server stopped while the job ran; the job will not finish. Submit it again."""

    code = "ABORTED"
    reason = "INTERRUPTED"


class DeadlineExceeded(SynthError):
    code = "DEADLINE_EXCEEDED"
    reason = "DEADLINE_EXCEEDED"


class Unavailable(SynthError):
    code = "UNAVAILABLE"
    reason = "UNAVAILABLE"


class Internal(SynthError):
    code = "INTERNAL"
    reason = "INTERNAL"


def _all_subclasses(cls: type[SynthError]) -> list[type[SynthError]]:
    out: list[type[SynthError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def error_class_for(reason: str, code: str) -> type[SynthError]:
    """The most specific error class for a reason (falling back on the status code's name)."""
    # Subclasses first: `Internal` shares the root's reason and is the more specific answer.
    candidates: list[type[SynthError]] = [*_all_subclasses(SynthError), SynthError]
    for cls in candidates:
        if cls.reason == reason:
            return cls
    for cls in _all_subclasses(SynthError):
        if cls.code == code and cls.__bases__[0] is SynthError:
            return cls
    return SynthError
