"""Starting and stopping the gRPC server: health, reflection, graceful shutdown.

Shutdown order: health answers NOT_SERVING first (load balancers stop
sending), watch streams end, in-flight calls drain for the grace period,
then running jobs are interrupted and recorded as INTERRUPTED.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from synth.core import runtime
from synth.core.bootstrap import admin_token_path, ensure_admin_token
from synth.core.config import ServiceConfig
from synth.core.service import SynthService
from synth.server.auth import AuthInterceptor
from synth.server.errors import ErrorInterceptor
from synth.server.release_servicer import ReleaseServicer
from synth.server.servicers import (
    DatasetServicer,
    EvaluationServicer,
    JobServicer,
    ModelServicer,
    SourceServicer,
)
from synth.server.tls import ServerTls, bind, check_exposure, is_loopback
from synth.server.uploads import Slots
from synth.v1 import (
    datasets_pb2,
    datasets_pb2_grpc,
    evaluations_pb2,
    evaluations_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    releases_pb2,
    releases_pb2_grpc,
    sources_pb2,
    sources_pb2_grpc,
)

log = logging.getLogger(__name__)

ServerConfig = ServiceConfig

SERVICE_NAMES = tuple(
    m.DESCRIPTOR.services_by_name[n].full_name
    for m, n in (
        (sources_pb2, "SourceService"),
        (models_pb2, "ModelService"),
        (datasets_pb2, "DatasetService"),
        (jobs_pb2, "JobService"),
        (evaluations_pb2, "EvaluationService"),
        (releases_pb2, "ReleaseService"),
    )
)

_MAX_MESSAGE = 8 * 1024 * 1024


class RunningServer:
    """A started server: its address, the service behind it, and `stop()`."""

    def __init__(
        self,
        server: grpc.Server,
        port: int,
        host: str,
        svc: SynthService,
        health_servicer: health.HealthServicer,
    ) -> None:
        self.server = server
        self.port = port
        self.host = host
        self.service = svc
        self.health = health_servicer
        self.shutting_down = threading.Event()
        self._stopped = threading.Event()
        self.upload_slots: Slots | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self, grace: float | None = 5.0) -> None:
        if self._stopped.is_set():
            return
        self.health.enter_graceful_shutdown()
        self.shutting_down.set()
        self.server.stop(grace).wait()
        self.service.close(wait=True)
        self._stopped.set()

    def wait(self) -> None:
        self._stopped.wait()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_server(
    data_dir: str | Path,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    config: ServiceConfig | None = None,
    max_workers: int | None = None,
    tls: ServerTls | None = None,
    insecure_remote: bool = False,
) -> RunningServer:
    """Start a server on `host:port` (0 picks a free port) over the data folder.

    `max_workers` overrides `config.rpc_threads`. Calls past
    `config.max_concurrent_rpcs` are refused with RESOURCE_EXHAUSTED at once.
    """
    cfg = (
        replace(config, data_dir=Path(data_dir))
        if config
        else ServiceConfig(data_dir=Path(data_dir))
    )
    check_exposure(host, tls, insecure_remote=insecure_remote)
    if max_workers is not None:
        cfg = replace(cfg, rpc_threads=max_workers)
    svc = SynthService(cfg)
    ensure_admin_token(svc.stores.tokens, cfg.data_dir)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=cfg.rpc_threads, thread_name_prefix="synth-rpc"),
        # Errors outermost, so an UNAUTHENTICATED from the auth check is a proper status.
        interceptors=[ErrorInterceptor(), AuthInterceptor(svc.stores.tokens)],
        options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE),
        ],
        maximum_concurrent_rpcs=cfg.max_concurrent_rpcs,
    )
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    running_port = bind(server, host, port, tls)
    running = RunningServer(server, running_port, host, svc, health_servicer)
    source_servicer = SourceServicer(svc)
    running.upload_slots = source_servicer.uploads  # what the limits hold, for tests and operators
    sources_pb2_grpc.add_SourceServiceServicer_to_server(source_servicer, server)
    models_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(svc), server)
    # One pool of slots for every server stream (watches and downloads), so that together
    # with the uploads they never hold every thread.
    streams = Slots(cfg.max_concurrent_streams, "streams", cfg.max_streams_per_caller)
    datasets_pb2_grpc.add_DatasetServiceServicer_to_server(DatasetServicer(svc, streams), server)
    evaluations_pb2_grpc.add_EvaluationServiceServicer_to_server(
        EvaluationServicer(svc, streams), server
    )
    jobs_pb2_grpc.add_JobServiceServicer_to_server(
        JobServicer(svc, running.shutting_down, streams), server
    )
    releases_pb2_grpc.add_ReleaseServiceServicer_to_server(ReleaseServicer(svc), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    for name in SERVICE_NAMES:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("synth serving on %s (data in %s)", running.address, cfg.data_dir)
    return running


def serve_forever(
    data_dir: str | Path,
    *,
    port: int = 50051,
    host: str = "127.0.0.1",
    config: ServiceConfig | None = None,
    grace: float = 10.0,
    tls: ServerTls | None = None,
    insecure_remote: bool = False,
) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully.

    On loopback it records its data folder for local clients (`synth.core.runtime`).
    """
    running = start_server(
        data_dir, port=port, host=host, config=config, tls=tls, insecure_remote=insecure_remote
    )
    if is_loopback(host):  # before the banner: a client that read it finds the record
        runtime.write_record(running.port, host, data_dir)
    scheme = "TLS" if tls is None or tls.client_ca is None else "mutual TLS"
    print(
        f"synth serving on {running.address}{'' if tls is None else ' with ' + scheme} "
        f"(data in {Path(data_dir).resolve()})",
        flush=True,
    )
    if admin_token_path(data_dir).exists():
        print(f"admin token in {admin_token_path(data_dir).resolve()} (mode 0600)", flush=True)

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        threading.Thread(target=running.stop, args=(grace,), daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        running.wait()
    finally:
        runtime.remove_record(running.port)
