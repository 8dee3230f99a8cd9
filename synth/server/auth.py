"""Who is calling: the bearer token of each call, authenticated before its handler runs.

Every call but health (load balancers probe it without credentials) must
carry `authorization: Bearer <token>`; the token is checked against its
stored hash (`synth.store.tokens`), and the principal it stands for is set
in a context variable for exactly the handler's run (`caller()` reads it).
A missing, malformed, unknown or revoked token is UNAUTHENTICATED with the
same message, which never repeats the token.

The check runs inside the handler, on the call's worker thread: the server's
polling thread never waits on the database.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from synth.base.errors import Unauthenticated
from synth.base.principal import Principal
from synth.server.handlers import wrap_handler
from synth.store.tokens import TokenRows

#: Methods anyone may call: health checks (load balancers send no token).
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)

_CALLER: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "synth_caller", default=None
)

NO_TOKEN = (
    "this call needs a valid bearer token (none was sent, or it is malformed, unknown or "
    "revoked): pass token= to synth.Client or set SYNTH_TOKEN (see docs/security.md). An "
    "admin makes tokens with `synth token create`; `synth serve` writes the first admin "
    "token beside its data on first start"
)


def caller() -> Principal:
    """The principal of the call being handled (set by `AuthInterceptor`)."""
    who = _CALLER.get()
    if who is None:  # a handler reached without the interceptor: refuse, never default
        raise Unauthenticated(NO_TOKEN)
    return who


def bearer(metadata: Any) -> str | None:
    """The token of an `authorization: Bearer <token>` header, or None."""
    for key, value in metadata or ():
        if key.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticates every call but health, and runs its handler as that principal."""

    def __init__(self, tokens: TokenRows) -> None:
        self.tokens = tokens

    def authenticate(self, metadata: Any) -> Principal:
        token = bearer(metadata)
        who = self.tokens.authenticate(token) if token and len(token) <= 256 else None
        if who is None:
            raise Unauthenticated(NO_TOKEN)
        return who

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        method = getattr(details, "method", "") or ""
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        metadata = details.invocation_metadata

        def unary(behavior: Callable[..., Any]) -> Callable[..., Any]:
            def run(request: Any, context: grpc.ServicerContext) -> Any:
                ctx = contextvars.copy_context()
                ctx.run(_CALLER.set, self.authenticate(metadata))
                return ctx.run(behavior, request, context)

            return run

        def streaming(behavior: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
            def run(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                ctx = contextvars.copy_context()
                ctx.run(_CALLER.set, self.authenticate(metadata))
                items = ctx.run(behavior, request, context)
                try:
                    while True:
                        try:
                            item = ctx.run(next, items)
                        except StopIteration:
                            return
                        yield item
                finally:
                    close = getattr(items, "close", None)
                    if close is not None:
                        ctx.run(close)

            return run

        return wrap_handler(handler, unary, streaming)
