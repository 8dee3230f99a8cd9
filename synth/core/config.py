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

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.data_dir).resolve() / 'synth.db'}"

    @property
    def artifacts_dir(self) -> Path:
        return Path(self.data_dir) / "artifacts"
