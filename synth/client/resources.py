"""The SDK's view of the server's resources: small frozen values, readable when printed.

They are plain data copied out of the protobuf messages, so a notebook can keep,
compare and print them without holding a connection. Every call that takes a
resource also takes its name ("sources/adult"), so these are a convenience,
never a requirement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from synth.base.errors import InvalidArgument
from synth.base.schema import TableSchema
from synth.jobs.state import JobKind, JobState


@dataclass(frozen=True)
class Budget:
    """An (ε, δ) pair: the cap a data owner sets on a source, or a spend.

    `delta` is the probability mass allowed to escape the ε guarantee; keep it
    well below 1/n for an n-row table (the default 1e-6 suits tables of up to
    about 100k rows).
    """

    epsilon: float
    delta: float = 1e-6

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise InvalidArgument(f"epsilon must be a finite number ≥ 0, got {self.epsilon}")
        if not 0 <= self.delta < 1:
            raise InvalidArgument(f"delta must be in [0, 1), got {self.delta}")

    def __str__(self) -> str:
        return f"ε={self.epsilon:.4g}, δ={self.delta:.3g}"


@dataclass(frozen=True)
class Spend:
    """One charge: what it paid for, how it was accounted, and its (ε, δ)."""

    purpose: str
    mechanism: str
    epsilon: float
    delta: float

    def __str__(self) -> str:
        return f"{self.purpose} ({self.mechanism}): ε={self.epsilon:.4g}, δ={self.delta:.3g}"


@dataclass(frozen=True)
class LedgerEntry:
    """One row of a source's privacy ledger."""

    name: str
    job: str
    model: str
    spend: Spend
    refunded: bool = False
    create_time: datetime | None = None

    def __str__(self) -> str:
        note = " (refunded)" if self.refunded else ""
        return f"{self.spend}{note} for {self.model or self.job or '-'}"


@dataclass(frozen=True)
class BudgetStatus:
    """A source's ledger: the cap, what was spent, what remains, and every charge."""

    source: str
    cap: Budget
    spent: Budget
    remaining: Budget
    entries: tuple[LedgerEntry, ...] = ()

    def __str__(self) -> str:
        lines = [
            f"budget of {self.source}",
            f"  cap        {self.cap}",
            f"  spent      {self.spent}",
            f"  remaining  {self.remaining}",
        ]
        if not self.entries:
            lines.append("  ledger     (no charges yet)")
        else:
            lines.append(f"  ledger     {len(self.entries)} charge(s):")
            for e in self.entries:
                when = f"{e.create_time:%Y-%m-%d %H:%M:%S} " if e.create_time else ""
                lines.append(f"    {when}{e}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Source:
    """A registered private table (its rows never leave the server)."""

    name: str
    display_name: str
    fingerprint: str
    schema: TableSchema = field(repr=False, hash=False)
    row_count: int
    train_rows: int
    holdout_rows: int
    holdout_fraction: float
    split_seed: int
    budget_cap: Budget
    allow_non_private: bool = False
    size_bytes: int = 0
    create_time: datetime | None = None
    schema_version: int = 1
    #: "sv-...": the random id models and datasets name this source's rows by.
    version_id: str = ""
    #: "pending" until the owner approves `schema_version`; nothing trains before.
    schema_state: str = "pending"
    #: The last schema version the owner approved (0: none).
    approved_schema_version: int = 0
    #: What the server took from the table, to review: "columns.{name}.{kind|nullable|arrow_type}".
    inferred_fields: tuple[str, ...] = field(default=(), repr=False)
    #: Who registered it ("" for sources from before owners): an admin's listing shows it.
    owner: str = ""

    @property
    def id(self) -> str:
        return self.name.split("/", 1)[-1]

    @property
    def schema_approved(self) -> bool:
        return self.schema_state == "approved"

    def __str__(self) -> str:
        state = (
            "schema approved"
            if self.schema_approved
            else f"schema v{self.schema_version} pending approval"
        )
        return (
            f"{self.name}: {self.row_count:,} rows ({self.train_rows:,} train / "
            f"{self.holdout_rows:,} holdout), {len(self.schema)} columns ({state}), "
            f"budget cap {self.budget_cap}"
        )


@dataclass(frozen=True)
class Model:
    """A trained generator and the privacy it cost."""

    name: str
    source: str
    generator: str
    epsilon: float | None
    delta: float | None
    #: The source version it was trained on ("sv-..."; `Source.version_id`).
    source_version: str = ""
    generator_version: str = ""
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    accountant: str = ""
    spends: tuple[Spend, ...] = field(default=(), repr=False)
    train_rows: int = 0
    job: str = ""
    display_name: str = ""
    create_time: datetime | None = None
    privacy_details: dict[str, float] = field(default_factory=dict, hash=False, repr=False)

    @property
    def id(self) -> str:
        return self.name.split("/", 1)[-1]

    @property
    def private(self) -> bool:
        return self.epsilon is not None

    def __str__(self) -> str:
        if self.epsilon is None:
            privacy = "NON-PRIVATE"
        else:
            privacy = f"ε={self.epsilon:.4g}, δ={(self.delta or 0):.3g}"
            if self.accountant:
                privacy += f" ({self.accountant})"
        return (
            f"{self.name}: {self.generator} on {self.source}, {self.train_rows:,} rows, {privacy}"
        )


@dataclass(frozen=True)
class Dataset:
    """One sampling of a model: a Parquet file on the server, with its lineage."""

    name: str
    model: str
    source: str
    rows: int
    seed: int
    size_bytes: int = 0
    lineage: dict[str, str] = field(default_factory=dict, hash=False, repr=False)
    job: str = ""
    display_name: str = ""
    create_time: datetime | None = None

    @property
    def id(self) -> str:
        return self.name.split("/", 1)[-1]

    def __str__(self) -> str:
        return (
            f"{self.name}: {self.rows:,} rows from {self.model} (seed {self.seed}), "
            f"{_human_bytes(self.size_bytes)}"
        )


@dataclass(frozen=True)
class JobProgress:
    """Where a job is: its phase, how far (0..1), the ε spent so far, and metrics."""

    phase: str = ""
    fraction: float = 0.0
    epsilon_spent: float = 0.0
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class JobError:
    """Why a job failed: the gRPC code name, the synth reason and a message."""

    code: str
    reason: str
    message: str


@dataclass(frozen=True)
class PlannedCharge:
    """One ledger charge a training would write."""

    purpose: str
    mechanism: str
    epsilon: float
    delta: float


@dataclass(frozen=True)
class JobPlan:
    """What a job would charge and take: the answer of a dry run (`Client.plan_training`, ...).

    Nothing was created, charged or written to get it.
    """

    #: Estimated peak memory (MiB) and run time (seconds), and the server's limits per job.
    memory_mb: float
    seconds: float
    memory_limit_mb: float
    seconds_limit: float
    #: How the estimates were reached, in words.
    basis: str
    #: Training only: the generator that would train ("auto" resolved) and why.
    generator: str = ""
    generator_reason: str = ""
    #: Training only: the ledger charges and the (ε, δ) they add up to (None: non-private).
    charges: tuple[PlannedCharge, ...] = ()
    epsilon: float | None = None
    delta: float | None = None

    def __str__(self) -> str:
        lines = []
        if self.generator:
            lines.append(f"generator  {self.generator}: {self.generator_reason}")
        for c in self.charges:
            lines.append(
                f"charge     {c.purpose}: ε={c.epsilon:.4g}, δ={c.delta:.3g} ({c.mechanism})"
            )
        if self.epsilon is not None:
            lines.append(f"total      ε={self.epsilon:.4g}, δ={self.delta or 0:.3g}")
        lines.append(
            f"memory     ~{self.memory_mb:,.0f} MiB (limit {self.memory_limit_mb:,.0f} MiB)"
        )
        lines.append(f"time       ~{self.seconds:,.0f} s (limit {self.seconds_limit:,.0f} s)")
        lines.append(f"basis      {self.basis}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Job:
    """A snapshot of long-running work (training, generation, evaluation)."""

    name: str
    kind: JobKind
    state: JobState
    progress: JobProgress = field(default_factory=JobProgress)
    result: str = ""
    error: JobError | None = None
    target: str = ""
    idempotency_key: str = ""
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    #: What the job was planned to charge and take (None for jobs from before plans).
    plan: JobPlan | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.name.split("/", 1)[-1]

    @property
    def done(self) -> bool:
        return self.state.done

    def __str__(self) -> str:
        p = self.progress
        parts = [f"{self.name}: {self.kind.value} on {self.target} {self.state.value}"]
        if not self.done or self.state is JobState.SUCCEEDED:
            parts.append(f"{p.fraction:.0%}")
        if p.phase and not self.done:
            parts.append(p.phase)
        if p.epsilon_spent:
            parts.append(f"ε spent {p.epsilon_spent:.4g}")
        if self.result:
            parts.append(f"→ {self.result}")
        if self.error is not None:
            parts.append(f"({self.error.reason}: {self.error.message})")
        elif p.message and not self.done:
            parts.append(f"({p.message})")
        return " ".join(parts)


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover
