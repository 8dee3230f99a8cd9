"""Atomic writes: a crash leaves the old file or nothing, never half a file.

Every file synth writes goes to a temporary name in the same folder, is
flushed and fsynced, then renamed into place. Readers never see a partial
file that looks whole; leftovers carry a `.partial` suffix and a leading dot.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq

#: Temporary files of an atomic write match this glob (for clean-up at start-up).
PARTIAL_GLOB = ".*.partial"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file handle whose content appears at `path` only if the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        yield fh


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_writer(path) as fh:
        fh.write(data)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_parquet_atomic(
    path: str | os.PathLike[str],
    batches: Iterable[pa.RecordBatch] | pa.Table,
    schema: pa.Schema,
    *,
    metadata: Mapping[str, str] | None = None,
    compression: str = "zstd",
) -> int:
    """Stream record batches into a Parquet file, renamed into place at the end.

    Returns the number of rows written. `metadata` goes into the file's
    key-value metadata (lineage).
    """
    md = {
        **(schema.metadata or {}),
        **{k.encode(): v.encode() for k, v in (metadata or {}).items()},
    }
    schema = schema.with_metadata(md)
    rows = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression=compression) as writer:
        if isinstance(batches, pa.Table):
            batches = batches.to_batches(max_chunksize=256_000)
        for batch in batches:
            if batch.schema.remove_metadata() != schema.remove_metadata():
                batch = pa.RecordBatch.from_arrays(
                    [batch.column(i).cast(schema.field(i).type) for i in range(len(schema))],
                    schema=schema,
                )
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows
