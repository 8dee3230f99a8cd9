"""Downloading a dataset: into memory (polars, pandas, Arrow) or atomically into a file."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Literal, overload

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from synth.base.atomic import atomic_writer
from synth.base.errors import InvalidArgument
from synth.client import convert
from synth.client.config import ClientConfig
from synth.client.errors import translated
from synth.client.progress import ByteProgressBar
from synth.client.resources import Dataset
from synth.client.transfer import MAX_DOWNLOAD_CHUNK, receive
from synth.v1 import datasets_pb2

DownloadFormat = Literal["polars", "pandas", "arrow"]


class DownloadVerbs:
    """Mixed into `synth.Client`; uses its stubs, address and config."""

    _stubs: Any
    config: ClientConfig
    address: str

    @overload
    def download(
        self,
        dataset: Dataset | str,
        *,
        format: Literal["polars"] = ...,
        path: None = None,
        progress: bool = ...,
        timeout: float | None = ...,
    ) -> pl.DataFrame: ...

    @overload
    def download(
        self,
        dataset: Dataset | str,
        *,
        format: Literal["arrow"],
        path: None = None,
        progress: bool = ...,
        timeout: float | None = ...,
    ) -> pa.Table: ...

    @overload
    def download(
        self,
        dataset: Dataset | str,
        *,
        format: Literal["pandas"],
        path: None = None,
        progress: bool = ...,
        timeout: float | None = ...,
    ) -> Any: ...

    @overload
    def download(
        self,
        dataset: Dataset | str,
        *,
        path: str | os.PathLike[str],
        format: DownloadFormat = ...,
        progress: bool = ...,
        timeout: float | None = ...,
    ) -> Path: ...

    def download(
        self,
        dataset: Dataset | str,
        *,
        format: DownloadFormat = "polars",
        path: str | os.PathLike[str] | None = None,
        progress: bool = False,
        timeout: float | None = None,
    ) -> pl.DataFrame | pa.Table | Path | Any:
        """Stream the dataset's Parquet file down.

        With `path`, the file is written there atomically (a temp file renamed
        into place: an interrupted download leaves nothing) and the path comes
        back; otherwise the table comes back in memory as a polars DataFrame,
        or as pandas / a pyarrow Table when `format` says so.
        """
        if format not in ("polars", "pandas", "arrow"):
            raise InvalidArgument(f"format must be 'polars', 'pandas' or 'arrow', got {format!r}")
        if path is not None:
            target = Path(path)
            with atomic_writer(target) as fh:
                self._download_into(dataset, fh, progress=progress, timeout=timeout)
            return target
        buf = io.BytesIO()
        self._download_into(dataset, buf, progress=progress, timeout=timeout)
        if format == "polars":
            buf.seek(0)
            return pl.read_parquet(buf)  # polars' own reader: no detour through Arrow
        table = pq.read_table(pa.BufferReader(buf.getbuffer()))
        if format == "arrow":
            return table
        return table.to_pandas()

    def _download_into(
        self, dataset: Dataset | str, sink: Any, *, progress: bool, timeout: float | None
    ) -> int:
        name = convert.resource_name(dataset, "datasets")
        request = datasets_pb2.DownloadDatasetRequest(
            name=name, chunk_size=min(self.config.chunk_size, MAX_DOWNLOAD_CHUNK)
        )
        bar = ByteProgressBar(f"download {name.split('/', 1)[-1]}") if progress else None
        with translated(address=self.address):
            stream = self._stubs.datasets.DownloadDataset(
                request,
                timeout=self.config.transfer_timeout if timeout is None else timeout,
                metadata=self.config.metadata or None,
            )
            try:
                return receive(
                    stream,
                    sink,
                    on_total=bar.set_total if bar else None,
                    on_bytes=bar or (lambda _: None),
                )
            finally:
                stream.cancel()
                if bar is not None:
                    bar.close()
