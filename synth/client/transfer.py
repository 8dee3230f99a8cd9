"""Chunked streams both ways, so tables larger than one gRPC message move at all.

Uploads send the header first, then the file in 1 MiB chunks read lazily from
disk (or sliced from memory). Downloads check each chunk's offset and the
announced total, so a cut-off stream is an error, never a short file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from synth.base.errors import Internal, InvalidArgument, Unavailable
from synth.v1 import common_pb2, sources_pb2

CHUNK_SIZE = 1 << 20
MAX_DOWNLOAD_CHUNK = 3 << 20

ByteCallback = Callable[[int], None]


def _no_bytes(_: int) -> None:
    return None


def format_for(path: str | os.PathLike[str]) -> int:
    """The wire's TableFormat from a file name; unknown suffixes are sniffed by the server."""
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return sources_pb2.PARQUET
    if suffix in (".csv", ".txt"):
        return sources_pb2.CSV
    return sources_pb2.TABLE_FORMAT_UNSPECIFIED


def upload_requests(
    header: sources_pb2.RegisterSourceHeader,
    data: bytes | Path | None,
    *,
    chunk_size: int = CHUNK_SIZE,
    on_bytes: ByteCallback = _no_bytes,
) -> Iterator[sources_pb2.RegisterSourceRequest]:
    """The RegisterSource request stream: the header, then the bytes in order."""
    if chunk_size <= 0:
        raise InvalidArgument(f"chunk_size must be positive, got {chunk_size}")
    yield sources_pb2.RegisterSourceRequest(header=header)
    if data is None:
        return
    offset = 0
    if isinstance(data, bytes):
        view = memoryview(data)
        for start in range(0, len(view), chunk_size):
            piece = bytes(view[start : start + chunk_size])
            yield sources_pb2.RegisterSourceRequest(
                chunk=common_pb2.DataChunk(data=piece, offset=start)
            )
            on_bytes(len(piece))
        return
    with open(data, "rb") as fh:
        while piece := fh.read(chunk_size):
            yield sources_pb2.RegisterSourceRequest(
                chunk=common_pb2.DataChunk(data=piece, offset=offset)
            )
            offset += len(piece)
            on_bytes(len(piece))


def receive(
    chunks: Iterable[common_pb2.DataChunk],
    sink: IO[bytes],
    *,
    on_total: Callable[[int], None] | None = None,
    on_bytes: ByteCallback = _no_bytes,
) -> int:
    """Write a DataChunk stream to `sink` in order; returns the byte count.

    Raises `Internal` on a chunk out of place and `Unavailable` when the stream
    ends before the announced size (the caller may simply try again).
    """
    written = 0
    total = 0
    for chunk in chunks:
        if chunk.offset != written:
            raise Internal(
                f"the server sent a chunk at byte {chunk.offset:,} where {written:,} was expected"
            )
        if chunk.total_size and not total:
            total = chunk.total_size
            if on_total is not None:
                on_total(total)
        sink.write(chunk.data)
        written += len(chunk.data)
        on_bytes(len(chunk.data))
    if total and written != total:
        raise Unavailable(
            f"the download stopped after {written:,} of {total:,} bytes; nothing was kept, try again"
        )
    return written
