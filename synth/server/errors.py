"""One interceptor turns every error into a gRPC status with rich details.

`SynthError`s keep their code and message and gain a `google.rpc.ErrorInfo`
(reason, domain, metadata), a `BadRequest` with field violations when there
are any, and a `QuotaFailure` for budget errors. Anything else is a bug: it
is logged with its traceback and answered INTERNAL without internals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from synth.base.errors import BudgetExhausted, SynthError
from synth.server.handlers import wrap_handler

log = logging.getLogger(__name__)

DOMAIN = "synth.dev"


def to_status(exc: SynthError) -> status_pb2.Status:
    status = status_pb2.Status(code=grpc.StatusCode[exc.code].value[0], message=exc.message)
    info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN, metadata=exc.metadata)
    status.details.add().Pack(info)
    if exc.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in exc.violations
            ]
        )
        status.details.add().Pack(bad)
    if isinstance(exc, BudgetExhausted):
        quota = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(
                    subject=exc.metadata.get("source", ""), description=_quota_description(exc)
                )
            ]
        )
        status.details.add().Pack(quota)
    return status


def _quota_description(exc: BudgetExhausted) -> str:
    """The violated quota in a line (the status message already explains what to do)."""
    m = exc.metadata
    if {"requested_epsilon", "requested_delta", "remaining_epsilon", "remaining_delta"} <= m.keys():
        return (
            f"privacy budget: requested ε={float(m['requested_epsilon']):.4g}, "
            f"δ={float(m['requested_delta']):.3g}; remaining ε={float(m['remaining_epsilon']):.4g}, "
            f"δ={float(m['remaining_delta']):.3g}"
        )
    return "privacy budget exhausted"


def _abort(context: grpc.ServicerContext, exc: Exception) -> None:
    if isinstance(exc, SynthError):
        context.abort_with_status(rpc_status.to_status(to_status(exc)))
    if context.code() is not None:  # the handler aborted on purpose
        raise exc
    log.exception("unexpected error in a handler")
    context.abort(grpc.StatusCode.INTERNAL, "internal error; the server log has the details")


class ErrorInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None

        def unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
            def run(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    return behavior(request, context)
                except Exception as exc:
                    _abort(context, exc)

            return run

        def streaming(behavior: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
            def run(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                try:
                    yield from behavior(request, context)
                except Exception as exc:
                    _abort(context, exc)

            return run

        return wrap_handler(handler, unary, streaming)
