"""Wrap a gRPC method handler's behaviour, keeping its kind and (de)serializers.

The server's interceptors (errors, authentication) each wrap what a call
does; only how they wrap differs between unary and streaming responses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc

Behavior = Callable[..., Any]
StreamingBehavior = Callable[..., Iterator[Any]]


def wrap_handler(
    handler: grpc.RpcMethodHandler,
    unary: Callable[[Behavior], Behavior],
    streaming: Callable[[StreamingBehavior], StreamingBehavior],
) -> grpc.RpcMethodHandler:
    """`handler` with its behaviour wrapped: `unary` for a single response, else `streaming`."""
    kw = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary), **kw)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary), **kw)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(streaming(handler.unary_stream), **kw)
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(streaming(handler.stream_stream), **kw)
    return handler
