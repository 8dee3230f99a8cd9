"""Turn a gRPC failure back into the typed `synth.base.errors` exception the server raised.

The server's interceptor sends the error's class as `google.rpc.ErrorInfo.reason`
(domain "synth.dev") with string metadata, plus `BadRequest` field violations
and `QuotaFailure` for budget errors. This module reverses that in one place,
so `except synth.BudgetExhausted` works the same over the wire as in process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from synth.base.errors import (
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    Internal,
    Interrupted,
    InvalidArgument,
    NotFound,
    ResourceLimit,
    SynthError,
    Unavailable,
    error_class_for,
)

ERROR_DOMAIN = "synth.dev"

T = TypeVar("T")


def _rich_status(err: grpc.RpcError) -> status_pb2.Status | None:
    if not isinstance(err, grpc.Call):
        return None
    try:
        return rpc_status.from_call(err)
    except (ValueError, TypeError):
        # A status whose code or message disagrees with the call's is not trusted.
        return None


def _code(err: grpc.RpcError) -> grpc.StatusCode:
    code = getattr(err, "code", None)
    if callable(code):
        value = code()
        if isinstance(value, grpc.StatusCode):
            return value
    return grpc.StatusCode.UNKNOWN


def _details(err: grpc.RpcError) -> str:
    details = getattr(err, "details", None)
    if callable(details):
        text = details()
        if text:
            return str(text)
    return ""


#: The class of a status that carries no synth reason (gRPC's own errors: a message over
#: the size limit, a refused connection, a deadline). A RESOURCE_EXHAUSTED without a
#: reason is a limit of the transport or the server, never the privacy budget.
_BY_CODE: dict[grpc.StatusCode, type[SynthError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceLimit,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.ABORTED: Interrupted,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.INTERNAL: Internal,
}


def class_for(reason: str, code: grpc.StatusCode) -> type[SynthError]:
    """The error class for a status: by synth's reason first, by the status code second.

    A reason is trusted only when its class carries the same status code (a
    status whose reason and code disagree is mapped by its code).
    """
    if reason:
        cls = error_class_for(reason, code.name)
        if cls is not SynthError and cls.reason == reason and cls.code == code.name:
            return cls
    return _by_code(code)


def _by_code(code: grpc.StatusCode) -> type[SynthError]:
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls
    return error_class_for("", code.name)  # the root for a code no class names


def from_rpc_error(err: grpc.RpcError, *, address: str = "") -> SynthError:
    """The `SynthError` subclass (with message, violations, metadata) for a failed call."""
    code = _code(err)
    message = _details(err)
    reason = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    status = _rich_status(err)
    if status is not None:
        message = status.message or message
        for any_detail in status.details:
            info = error_details_pb2.ErrorInfo()
            bad = error_details_pb2.BadRequest()
            quota = error_details_pb2.QuotaFailure()
            if any_detail.Unpack(info):
                if info.domain in ("", ERROR_DOMAIN):
                    reason = info.reason
                metadata.update(dict(info.metadata))
            elif any_detail.Unpack(bad):
                violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
            elif any_detail.Unpack(quota):
                violations += [FieldViolation(v.subject, v.description) for v in quota.violations]
    if not message:
        message = f"the call failed with {code.name}"
    if code is grpc.StatusCode.UNAVAILABLE and not reason and address:
        message = (
            f"cannot reach the synth server at {address} ({message}); is `synth serve` running?"
        )
    return class_for(reason, code)(message, violations=violations, metadata=metadata)


@contextlib.contextmanager
def translated(*, address: str = "") -> Iterator[None]:
    """Re-raise any `grpc.RpcError` inside the block as its typed `SynthError`."""
    try:
        yield
    except grpc.RpcError as err:
        raise from_rpc_error(err, address=address) from err


def iter_translated(stream: Iterator[T], *, address: str = "") -> Iterator[T]:
    """Iterate a server stream, translating a failure mid-stream like a unary one."""
    with translated(address=address):
        yield from stream
