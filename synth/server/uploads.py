"""Receiving a table in a client stream: header first, then chunks into a temp file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc

from synth.base.errors import (
    Cancelled,
    DeadlineExceeded,
    FieldViolation,
    InvalidArgument,
    InvalidTable,
)
from synth.core.sources import RegisterRequest
from synth.server.convert import schema_from_pb
from synth.v1 import sources_pb2

_FORMATS = {sources_pb2.PARQUET: "parquet", sources_pb2.CSV: "csv"}


def header_to_request(h: sources_pb2.RegisterSourceHeader) -> RegisterRequest:
    if not h.HasField("budget"):
        raise InvalidArgument(
            "header.budget is required: the (epsilon, delta) cap for everything trained on this source",
            violations=[FieldViolation("header.budget", "required")],
        )
    return RegisterRequest(
        source_id=h.source_id,
        epsilon=h.budget.epsilon,
        delta=h.budget.delta,
        display_name=h.display_name,
        fmt=_FORMATS.get(h.format),  # type: ignore[arg-type]
        uri=h.uri,
        holdout_fraction=h.holdout_fraction if h.HasField("holdout_fraction") else None,
        split_seed=h.split_seed if h.HasField("split_seed") else None,
        schema=schema_from_pb(h.schema) if h.HasField("schema") else None,
        allow_non_private=h.allow_non_private,
        size_bytes=h.size_bytes,
        approve_schema=h.approve_schema,
    )


def check_alive(context: grpc.ServicerContext) -> None:
    if context.is_active():
        return
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineExceeded("the call's deadline passed; nothing was stored")
    raise Cancelled("the client cancelled the call; nothing was stored")


def receive(
    requests: Iterator[sources_pb2.RegisterSourceRequest],
    context: grpc.ServicerContext,
    into: Path,
    *,
    max_bytes: int,
) -> tuple[RegisterRequest, bool]:
    """Read the header and write the chunks to `into`; returns (request, any_bytes_received)."""
    first = next(requests, None)
    if first is None or first.WhichOneof("payload") != "header":
        raise InvalidArgument(
            "the first message of RegisterSource must be the header",
            violations=[FieldViolation("header", "must come first")],
        )
    req = header_to_request(first.header)
    size = 0
    with open(into, "wb") as fh:
        for msg in requests:
            check_alive(context)
            if msg.WhichOneof("payload") != "chunk":
                raise InvalidArgument("only one header per upload; the rest must be chunks")
            if msg.chunk.offset and msg.chunk.offset != size:
                raise InvalidArgument(
                    f"chunk offset {msg.chunk.offset} does not follow the {size} bytes received"
                )
            size += len(msg.chunk.data)
            if size > max_bytes:
                raise InvalidTable(
                    f"the upload passed this server's limit of {max_bytes:,} bytes; sample the table "
                    "down or ask the operator to raise --max-source-bytes"
                )
            fh.write(msg.chunk.data)
    check_alive(context)
    return req, size > 0
