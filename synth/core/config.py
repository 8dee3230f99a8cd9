"""Service configuration, with embedded defaults (SQLite file, local artifact folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

#: ε of a source's size measurement unless configured (see `ServiceConfig.size_epsilon`).
DEFAULT_SIZE_EPSILON = 0.05


@dataclass(frozen=True)
class ServiceConfig:
    """Where the service keeps its state and how much it takes on."""

    #: The data folder: the SQLite file and the artifacts live here by default.
    data_dir: Path
    #: Any SQLAlchemy URL; default `sqlite:///{data_dir}/synth.db`.
    database_url: str = ""
    #: Largest source table accepted, in bytes (upload or file).
    max_source_bytes: int = 2 * 1024**3
    #: Largest dataset one Generate call may ask for.
    max_generate_rows: int = 200_000_000
    # --- per caller (issue 12): refused with QUOTA_EXCEEDED before anything is charged
    #: Jobs one owner may have queued or running at once.
    max_active_jobs_per_owner: int = 20
    #: Rows one owner's queued and running generations may ask for together.
    max_active_rows_per_owner: int = 50_000_000
    #: The largest (ε, δ) cap an owner may set at registration; above it only an admin.
    owner_max_epsilon_cap: float = 10.0
    owner_max_delta_cap: float = 1e-4
    #: Worker threads of the local job executor.
    job_workers: int = 2
    #: Torch intra-op threads per process; 0 means the cores divided among the
    #: job workers (oversubscribed OpenMP threads spin and slow every job down).
    torch_threads: int = 0
    #: A job whose memory estimate (synth.core.estimates) passes this many MiB is refused
    #: before it is charged; a process-isolated job is capped near its estimate, never above.
    max_job_memory_mb: int = 16_384
    #: A job whose time estimate passes this many seconds is refused before it is charged.
    max_job_seconds: float = 6 * 3600.0
    #: Where jobs run: "process" (a child process per job, which cancel kills and whose
    #: memory is capped; `synth serve`'s default) or "thread" (in the server process:
    #: no start-up cost, for notebooks and most tests).
    job_isolation: Literal["process", "thread"] = "thread"
    #: Seconds a job process gets to stop by itself after a cancel or shutdown, then it is killed.
    job_stop_grace_s: float = 3.0
    #: ε of a source's size (a DP count of its privacy units, and k when the schema asks
    #: for "auto"), charged once per source and unit column before its first training.
    size_epsilon: float = DEFAULT_SIZE_EPSILON
    #: Holdout share when the registration does not say.
    default_holdout_fraction: float = 0.2
    #: An evaluation's JSON and report name no value fewer than this many real rows
    #: hold (categories, histogram bins, null counts); 1 shows everything.
    min_group_rows: int = 10
    # --- limits that keep one client from starving the others (docs/security-hostile-clients.md)
    #: Threads answering calls; streams past `max_concurrent_uploads` never hold one long.
    rpc_threads: int = 32
    #: Calls in progress at once; past it gRPC answers RESOURCE_EXHAUSTED at once.
    max_concurrent_rpcs: int = 256
    #: RegisterSource streams at once; past it RESOURCE_EXHAUSTED. Kept below
    #: `rpc_threads` so unary calls (health, List*) always find a thread.
    max_concurrent_uploads: int = 8
    #: Of those, the most one caller (token subject) may hold.
    max_uploads_per_caller: int = 2
    #: Server streams at once (WatchJob, downloads); past it RESOURCE_EXHAUSTED.
    #: Uploads plus these stay below `rpc_threads`.
    max_concurrent_streams: int = 16
    max_streams_per_caller: int = 8
    #: Seconds an upload may wait for its next message before it is cut off.
    upload_idle_timeout_s: float = 30.0
    #: Largest table a registration may decode: rows, columns, and Arrow bytes
    #: (0: four times `max_source_bytes`), checked from the Parquet footer before decoding.
    max_source_rows: int = 50_000_000
    max_source_columns: int = 2_000
    max_source_decoded_bytes: int = 0
    #: Longest cell of a text column, in bytes (one huge cell breaks every report of it).
    max_cell_bytes: int = 64 * 1024
    #: Folders whose files `uri=` registrations may read; empty: no server-side paths.
    #: The data folder is never readable that way, even under a root.
    import_roots: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        bounds = {
            "rpc_threads": (4, 1024),
            "max_concurrent_rpcs": (8, 100_000),
            "max_concurrent_uploads": (1, 1024),
            "max_concurrent_streams": (1, 1024),
            "max_uploads_per_caller": (1, 1024),
            "max_streams_per_caller": (1, 1024),
            "max_source_rows": (2, 10**10),
            "max_source_columns": (1, 100_000),
            "max_cell_bytes": (16, 1 << 30),
        }
        for name, (lo, hi) in bounds.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ValueError(f"ServiceConfig.{name} must be in [{lo}, {hi}], got {value}")
        if self.max_concurrent_uploads + self.max_concurrent_streams >= self.rpc_threads:
            raise ValueError(
                "ServiceConfig.max_concurrent_uploads + max_concurrent_streams must be below "
                "rpc_threads, so that other calls always find a thread"
            )
        if not 0.1 <= self.upload_idle_timeout_s <= 3600:
            raise ValueError("ServiceConfig.upload_idle_timeout_s must be in [0.1, 3600] seconds")
        if self.max_source_decoded_bytes < 0:
            raise ValueError("ServiceConfig.max_source_decoded_bytes must not be negative")

    @property
    def decoded_bytes_limit(self) -> int:
        return self.max_source_decoded_bytes or 4 * self.max_source_bytes

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'synth.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return Path(self.data_dir) / "artifacts"
