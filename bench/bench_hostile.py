"""Health and ListSources latency for an honest client while hostile clients attack.

One server (in this process, default limits but a 5 MB upload limit, as in the
issue); an honest client of its own channel times `Health.Check` and
`ListSources` while each attack runs:

- none: the baseline;
- idle uploads: 32 RegisterSource streams that send only the header and 8
  that send nothing (before the limits, these froze health for everyone);
  then the same with every refused stream retried every 50 ms (a flood);
- Parquet bombs: 4 clients registering a 200 KB Parquet file of 20M rows in a loop;
- oversized requests: 4 clients sending Train with a 7 MiB idempotency key in a loop.

Prints a Markdown table: per scenario, the median, 95th percentile and largest
latency in ms, and how many honest calls failed (a 10 s deadline).

    .venv/bin/python -m bench.bench_hostile [--calls 60] [--only idle]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
from grpc_health.v1 import health_pb2, health_pb2_grpc

from synth.core.config import ServiceConfig
from synth.server import RunningServer, start_server
from synth.v1 import common_pb2, models_pb2, models_pb2_grpc, sources_pb2, sources_pb2_grpc

DEADLINE = 10.0


def bearer_channel(server: RunningServer) -> grpc.Channel:
    """A channel sending the server's first admin token, when it has one."""
    channel = grpc.insecure_channel(server.address)
    token_file = Path(server.service.config.data_dir) / "admin.token"
    if not token_file.exists():
        return channel
    header = ("authorization", f"Bearer {token_file.read_text().strip()}")

    class Bearer(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor):
        def intercept_unary_unary(self, cont: Any, details: Any, request: Any) -> Any:
            return cont(details._replace(metadata=[*(details.metadata or ()), header]), request)

        def intercept_stream_unary(self, cont: Any, details: Any, requests: Any) -> Any:
            return cont(details._replace(metadata=[*(details.metadata or ()), header]), requests)

    return grpc.intercept_channel(channel, Bearer())


def header(source_id: str) -> sources_pb2.RegisterSourceRequest:
    return sources_pb2.RegisterSourceRequest(
        header=sources_pb2.RegisterSourceHeader(
            source_id=source_id, budget=common_pb2.PrivacyBudget(epsilon=1.0, delta=1e-6)
        )
    )


def parquet_bomb(rows: int = 20_000_000, group: int = 1_000_000) -> bytes:
    schema = pa.schema([("n", pa.int64())])
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, schema, compression="zstd") as w:
        for _ in range(rows // group):
            w.write_table(pa.table({"n": pa.array([0] * group, pa.int64())}, schema=schema))
    return buf.getvalue()


class Attack:
    """Runs `step` in `threads` loops until stopped (or holds streams open)."""

    def __init__(self, threads: int, step: Callable[[int], None]) -> None:
        self.stop = threading.Event()
        self.workers = [
            threading.Thread(target=self._loop, args=(i, step), daemon=True) for i in range(threads)
        ]
        self.attempts = 0

    def _loop(self, i: int, step: Callable[[int], None]) -> None:
        while not self.stop.is_set():
            self.attempts += 1
            with contextlib.suppress(grpc.RpcError):
                step(i)

    def __enter__(self) -> Attack:
        for w in self.workers:
            w.start()
        time.sleep(1.0)  # let the attack take hold
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()


def idle_uploads(server: RunningServer, retry: bool = False) -> Attack:
    channel = bearer_channel(server)
    stub = sources_pb2_grpc.SourceServiceStub(channel)
    release = threading.Event()

    def stream(i: int) -> Iterator[sources_pb2.RegisterSourceRequest]:
        if i < 32:
            yield header(f"idle-{i}")
        release.wait(300)

    def hold(i: int) -> None:
        try:
            stub.RegisterSource(stream(i), timeout=300)
        except grpc.RpcError:
            if retry:  # refused past the slots: come back at once, as a flood would
                time.sleep(0.05)
            else:  # the attack: the streams are opened once
                release.wait(300)

    attack = Attack(40, hold)
    original_exit = attack.__exit__

    def exit_and_release(*exc: object) -> None:
        original_exit(*exc)
        release.set()

    attack.__exit__ = exit_and_release  # type: ignore[method-assign]
    return attack


def bombs(server: RunningServer) -> Attack:
    stub = sources_pb2_grpc.SourceServiceStub(bearer_channel(server))
    bomb = parquet_bomb()

    def send(i: int) -> None:
        chunk = common_pb2.DataChunk(data=bomb, offset=0)
        stub.RegisterSource(
            iter([header(f"bomb-{i}"), sources_pb2.RegisterSourceRequest(chunk=chunk)]), timeout=60
        )

    return Attack(4, send)


def oversized(server: RunningServer) -> Attack:
    stub = models_pb2_grpc.ModelServiceStub(bearer_channel(server))
    key = "k" * (7 << 20)

    def send(i: int) -> None:
        stub.Train(
            models_pb2.TrainRequest(source="sources/none", epsilon=1.0, idempotency_key=key),
            timeout=60,
        )

    return Attack(4, send)


def honest(server: RunningServer, calls: int) -> dict[str, tuple[list[float], int]]:
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(server.address))
    sources = sources_pb2_grpc.SourceServiceStub(bearer_channel(server))
    probes: dict[str, Callable[[], object]] = {
        "health": lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=DEADLINE),
        "list": lambda: sources.ListSources(sources_pb2.ListSourcesRequest(), timeout=DEADLINE),
    }
    out: dict[str, tuple[list[float], int]] = {}
    for name, probe in probes.items():
        times: list[float] = []
        failed = 0
        for _ in range(calls):
            t = time.perf_counter()
            try:
                probe()
                times.append((time.perf_counter() - t) * 1000)
            except grpc.RpcError:
                failed += 1
            time.sleep(0.02)
        out[name] = (times, failed)
    return out


def summary(times: list[float]) -> str:
    if not times:
        return "– | – | –"
    p95 = sorted(times)[max(0, round(0.95 * len(times)) - 1)]
    return f"{statistics.median(times):.1f} | {p95:.1f} | {max(times):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--calls", type=int, default=60, help="honest calls of each kind per scenario"
    )
    parser.add_argument(
        "--only",
        default="",
        help="run only the scenarios whose name contains this text (e.g. 'idle')",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    config = ServiceConfig(data_dir=folder, max_source_bytes=5 << 20)
    server = start_server(folder, port=0, config=config)
    try:
        scenarios: list[tuple[str, Callable[[RunningServer], Attack] | None]] = [
            ("none", None),
            ("40 idle uploads (32 header only, 8 silent)", idle_uploads),
            (
                "the same, each refused stream retried every 50 ms",
                lambda server: idle_uploads(server, retry=True),
            ),
            ("4 clients sending 20M-row Parquet bombs", bombs),
            ("4 clients sending 7 MiB idempotency keys", oversized),
        ]
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}"
        )
        print(f"{args.calls} honest calls of each kind per scenario, 10 s deadline, in-process\n")
        print(
            "| attack | health median ms | p95 | max | ListSources median ms | p95 | max "
            "| honest calls failed | attack calls made |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, make in scenarios:
            if args.only and args.only not in name and make is not None:
                continue
            attack = make(server) if make else None
            if attack is None:
                result = honest(server, args.calls)
                made = 0
            else:
                with attack:
                    result = honest(server, args.calls)
                made = attack.attempts
            (h, hf), (ls, lf) = result["health"], result["list"]
            print(f"| {name} | {summary(h)} | {summary(ls)} | {hf + lf} | {made} |", flush=True)
            time.sleep(1.0)
        stored = [p.name for p in (folder / "artifacts" / "sources").iterdir()]
        print(f"\nsources stored by the attacks: {len(stored)}")
    finally:
        server.stop(grace=0)


if __name__ == "__main__":
    main()
