"""Service configuration, with embedded defaults (SQLite file, local artifact folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
