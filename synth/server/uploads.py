"""Receiving a table in a client stream: header first, then chunks into a temp file.

An upload is the one call a client can hold open at no cost to itself, so it
is bounded four ways: slots cap the uploads in progress, in all and per
caller (the rest of the server's threads stay free for other calls), each
message must come within the idle timeout, after a grace period the upload
must keep a minimum average rate (no slow drip), and the header is checked
before any body byte is accepted.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

from synth.base.errors import (
    Cancelled,
    DeadlineExceeded,
    FieldViolation,
    InvalidArgument,
    InvalidTable,
    ResourceLimit,
)
from synth.core.sources import RegisterRequest
from synth.server.bounds import schema_bounds
from synth.server.convert import schema_from_pb
from synth.v1 import sources_pb2

_FORMATS = {sources_pb2.PARQUET: "parquet", sources_pb2.CSV: "csv"}

#: After the first RATE_GRACE_S seconds, an upload must average at least this many bytes
#: a second: a client that drips a byte just inside the idle timeout would otherwise hold
#: its slot for as long as it likes.
MIN_UPLOAD_BYTES_PER_S = 16 * 1024
RATE_GRACE_S = 60.0


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
        schema=schema_from_pb(schema_bounds(h.schema, "header.schema"))
        if h.HasField("schema")
        else None,
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


class Slots:
    """At most `limit` calls of a kind at once, and at most `per_caller` of them for one
    caller; the next one is refused, not queued.

    Refusing at once (RESOURCE_EXHAUSTED) keeps a queue of idle streams from
    holding the server's threads; the client retries later. The per-caller
    share keeps one token from holding every slot.
    """

    def __init__(self, limit: int, what: str = "uploads", per_caller: int | None = None) -> None:
        self.limit = limit
        self.what = what
        self.per_caller = per_caller or limit
        self._lock = threading.Lock()
        self._total = 0
        self._held: dict[str, int] = {}

    def _refuse(self, limit: int, whose: str) -> ResourceLimit:
        return ResourceLimit(
            f"this server takes at most {limit} {self.what} at once{whose} and all are in "
            "progress; retry in a moment",
            metadata={"limit": f"concurrent_{self.what.replace(' ', '_')}", "max": str(limit)},
        )

    def in_use(self, caller: str | None = None) -> int:
        """Slots held now: all, or `caller`'s."""
        with self._lock:
            return self._total if caller is None else self._held.get(caller, 0)

    @contextmanager
    def slot(self, caller: str = "") -> Iterator[None]:
        with self._lock:
            if self._total >= self.limit:
                raise self._refuse(self.limit, "")
            if self._held.get(caller, 0) >= self.per_caller:
                raise self._refuse(self.per_caller, " from one caller")
            self._total += 1
            self._held[caller] = self._held.get(caller, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._total -= 1
                self._held[caller] -= 1
                if not self._held[caller]:
                    del self._held[caller]


_END = object()


def with_idle_timeout(
    requests: Iterator[sources_pb2.RegisterSourceRequest], timeout: float
) -> Iterator[sources_pb2.RegisterSourceRequest]:
    """The messages of `requests`, raising `DeadlineExceeded` when the next one does not
    come within `timeout` seconds.

    gRPC's request iterator has no timeout of its own, so a reader thread pulls
    from it; the handler stops waiting when the time is up and the call ends,
    which ends the reader's wait too.
    """
    box: queue.Queue[object] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for msg in requests:
                if not put(msg):
                    return
        except BaseException as exc:  # the call ended under it (cancelled or aborted)
            put(exc)
            return
        put(_END)

    threading.Thread(target=pump, name="synth-upload-reader", daemon=True).start()
    try:
        while True:
            try:
                item = box.get(timeout=timeout)
            except queue.Empty:
                raise DeadlineExceeded(
                    f"the upload sent nothing for {timeout:g} seconds and was cut off; nothing "
                    "was stored. Send the chunks without pauses",
                    metadata={"upload_idle_timeout_s": f"{timeout:g}"},
                ) from None
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise Cancelled("the client cancelled the upload; nothing was stored") from item
            yield item  # type: ignore[misc]
    finally:
        stop.set()


def _check_rate(size: int, elapsed: float) -> None:
    if elapsed > RATE_GRACE_S and size < MIN_UPLOAD_BYTES_PER_S * elapsed:
        raise DeadlineExceeded(
            f"the upload averaged {size / elapsed / 1024:.1f} KiB/s, under this server's "
            f"floor of {MIN_UPLOAD_BYTES_PER_S // 1024} KiB/s, and was cut off; nothing was "
            "stored. Send the chunks without pauses",
            metadata={"min_upload_bytes_per_s": str(MIN_UPLOAD_BYTES_PER_S)},
        )


def receive(
    requests: Iterator[sources_pb2.RegisterSourceRequest],
    context: grpc.ServicerContext,
    into: Path,
    *,
    max_bytes: int,
    check_header: Callable[[RegisterRequest], None] = lambda req: None,
    idle_timeout: float | None = None,
) -> tuple[RegisterRequest, bool]:
    """Read the header, check it, and write the chunks to `into`.

    Returns (request, any_bytes_received). `check_header` refuses a bad header
    before any body byte is accepted.
    """
    stream = with_idle_timeout(requests, idle_timeout) if idle_timeout else requests
    first = next(stream, None)
    if first is None or first.WhichOneof("payload") != "header":
        raise InvalidArgument(
            "the first message of RegisterSource must be the header",
            violations=[FieldViolation("header", "must come first")],
        )
    req = header_to_request(first.header)
    check_header(req)
    size = 0
    start = time.monotonic()
    with open(into, "wb") as fh:
        for msg in stream:
            check_alive(context)
            _check_rate(size, time.monotonic() - start)
            if msg.WhichOneof("payload") != "chunk":
                raise InvalidArgument("only one header per upload; the rest must be chunks")
            if req.uri:
                raise InvalidArgument(
                    "send either header.uri or table bytes, not both",
                    violations=[FieldViolation("header.uri", "set, and chunks were sent")],
                )
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
