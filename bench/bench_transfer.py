"""Moving big tables over loopback gRPC against doing the same work on local disk.

Upload: `Client.register_source` of a ≥100 MB Parquet through a real server,
against the same registration done in-process without gRPC (read, validate,
fingerprint, split, store): the ratio is what the transport costs. The raw
upload stream alone is timed too (until the server has taken the last chunk).
Download: `DownloadDataset` of a ≥100 MB dataset into memory and into a file,
and into a polars DataFrame, against reading the same file from local disk.
Ratios are local time / gRPC time (1.0 = as fast as local; the aim is ≥ 0.5).
The server runs in its own process (`synth serve`), as it does in production,
so client and server do not share one interpreter lock.

    python bench/bench_transfer.py [--mb 110] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

import synth
from synth.base.atomic import atomic_writer
from synth.client import transfer
from synth.core.config import ServiceConfig
from synth.core.service import SynthService
from synth.core.sources import RegisterRequest
from synth.v1 import common_pb2, datasets_pb2, datasets_pb2_grpc, sources_pb2, sources_pb2_grpc


def make_table(target_mb: int, seed: int = 0) -> pa.Table:
    """Random numbers and categories: they do not compress, so the file is as big as it says."""
    rng = np.random.default_rng(seed)
    rows = int(target_mb * 1024 * 1024 / (6 * 8 + 2 * 4 + 2)) + 1
    cols: dict[str, pa.Array] = {f"x{i}": pa.array(rng.normal(size=rows)) for i in range(6)}
    cols["n0"] = pa.array(rng.integers(0, 1000, size=rows))
    cols["n1"] = pa.array(rng.integers(0, 10**9, size=rows))
    cats = np.array(["alpha", "beta", "gamma", "delta", "epsilon"])
    cols["c0"] = pa.array(cats[rng.integers(0, 5, size=rows)])
    cols["c1"] = pa.array(cats[rng.integers(0, 3, size=rows)])
    return pa.table(cols)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server_process(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "synth", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    grpc.channel_ready_future(grpc.insecure_channel(address)).result(timeout=60)
    return proc, address


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=int, default=110)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="synth-bench-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        src_path = work / "big.parquet"
        pq.write_table(make_table(args.mb), src_path, compression="zstd")
        size = src_path.stat().st_size
        print(f"file: {size / 2**20:.1f} MiB, {pq.ParquetFile(src_path).metadata.num_rows:,} rows")
        rows: list[tuple[str, float, float]] = []

        # --- upload ----------------------------------------------------------------
        counter = [0]

        def local_register() -> None:
            counter[0] += 1
            folder = work / f"local-{counter[0]}"
            svc = SynthService(ServiceConfig(data_dir=folder))
            svc.sources.register(RegisterRequest(source_id="big", epsilon=1.0, delta=1e-9), src_path)
            svc.close()
            shutil.rmtree(folder)

        t_local_register = best(local_register, args.repeat)
        proc, address = start_server_process(work / "server")
        client = synth.Client.connect(address)
        stub = sources_pb2_grpc.SourceServiceStub(grpc.insecure_channel(address))
        upload_stream: list[float] = []

        def grpc_register() -> None:
            counter[0] += 1
            client.register_source(f"big-{counter[0]}", src_path, budget=synth.Budget(epsilon=10.0, delta=1e-6))

        def raw_stream() -> None:
            # The stream alone: the server checks the budget only after it has taken every
            # chunk, so a zero epsilon makes it receive the whole file, then refuse it.
            header = sources_pb2.RegisterSourceHeader(
                source_id="stream-only", budget=common_pb2.PrivacyBudget(epsilon=0.0, delta=1e-6)
            )
            done = [0.0]

            def requests():  # type: ignore[no-untyped-def]
                yield from transfer.upload_requests(header, src_path)
                done[0] = time.perf_counter()

            t0 = time.perf_counter()
            try:
                stub.RegisterSource(requests())
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
            upload_stream.append(done[0] - t0)

        t_grpc_register = best(grpc_register, args.repeat)
        for _ in range(args.repeat):
            raw_stream()
        t_read_bytes = best(lambda: src_path.read_bytes(), args.repeat)
        rows.append(("upload: register a source (read, validate, split, store)", t_local_register, t_grpc_register))
        rows.append(("upload: the byte stream alone vs reading the file", t_read_bytes, min(upload_stream)))

        # --- download ----------------------------------------------------------------
        client.approve_schema(f"big-{counter[0]}")  # a bench table: its proposed schema as is
        model = client.train(f"big-{counter[0]}", generator="dp_marginals", epsilon=1.0).result()
        target_rows = pq.ParquetFile(src_path).metadata.num_rows
        ds = client.generate(model, rows=target_rows, seed=1).result()
        ds_path = work / "server" / "artifacts" / "datasets" / f"{ds.name.split('/')[1]}.parquet"
        ds_size = ds_path.stat().st_size
        print(f"dataset: {ds_size / 2**20:.1f} MiB")
        out = work / "download.parquet"
        copy = work / "copy.parquet"
        dstub = datasets_pb2_grpc.DatasetServiceStub(
            grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 16 << 20)])
        )

        def stream_into_memory() -> bytes:
            request = datasets_pb2.DownloadDatasetRequest(name=ds.name)
            return b"".join(chunk.data for chunk in dstub.DownloadDataset(request))

        def local_copy() -> None:
            with atomic_writer(copy) as fh:  # the same temp file + fsync + rename as a download
                fh.write(ds_path.read_bytes())

        t_local_bytes = best(lambda: ds_path.read_bytes(), args.repeat)
        t_grpc_bytes = best(stream_into_memory, args.repeat)
        t_local_copy = best(local_copy, args.repeat)
        t_grpc_file = best(lambda: client.download(ds, path=out), args.repeat)
        t_local_table = best(lambda: pl.read_parquet(ds_path), args.repeat)
        t_grpc_table = best(lambda: client.download(ds), args.repeat)
        rows.append(("download: the byte stream into memory vs reading the file", t_local_bytes, t_grpc_bytes))
        rows.append(("download: into a file (atomic, fsynced) vs copying the file", t_local_copy, t_grpc_file))
        rows.append(("download: into a polars DataFrame vs pl.read_parquet", t_local_table, t_grpc_table))
        client.close()

        print()
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"upload file {size / 2**20:.0f} MiB, dataset {ds_size / 2**20:.0f} MiB, best of {args.repeat}")
        print()
        print("| what | local (s) | gRPC loopback (s) | MB/s over gRPC | ratio local/gRPC |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for i, (what, local, grpc_t) in enumerate(rows):
            mb = (size if i < 2 else ds_size) / 1e6
            print(f"| {what} | {local:.2f} | {grpc_t:.2f} | {mb / grpc_t:.0f} | {local / grpc_t:.2f} |")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
