"""Plain records of the stored resources; the server converts them to protos.

Rows become records here (`from_row`), so SQL never leaves the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row

from synth.base.inference import INFERABLE
from synth.base.schema import TableSchema


@dataclass(frozen=True)
class SourceRecord:
    id: str
    display_name: str
    fingerprint: str
    schema: TableSchema
    schema_version: int
    row_count: int
    train_rows: int
    holdout_rows: int
    holdout_fraction: float
    split_seed: int
    epsilon_cap: float
    delta_cap: float
    allow_non_private: bool
    size_bytes: int
    create_time: float
    #: A random id ("sv-<hex>") that models and datasets name; never derived from the rows.
    version_id: str
    #: The schema version the owner approved (0: none); see `schema_approved`.
    approved_schema_version: int
    #: What the server took from the table rather than from the owner, per column
    #: (parts of `INFERABLE`); None when unknown (registered before approval): all of it.
    inferred: dict[str, tuple[str, ...]] | None
    #: The subject who registered it; its models, datasets and evaluations are theirs
    #: too. "" for sources from before owners (only admins see those).
    owner: str = ""

    @property
    def schema_approved(self) -> bool:
        """Whether the owner approved the current schema (an edit makes it pending again)."""
        return self.approved_schema_version == self.schema_version

    @property
    def schema_state(self) -> str:
        return "approved" if self.schema_approved else "pending"

    def inferred_parts(self) -> list[tuple[str, str]]:
        """(column, part) for each part of the schema taken from the table, in column order."""
        return [
            (name, part)
            for name in self.schema.names
            for part in INFERABLE
            if self.inferred is None or part in self.inferred.get(name, ())
        ]

    def inferred_json(self) -> str:
        if self.inferred is None:
            return "null"
        return json.dumps({k: list(v) for k, v in self.inferred.items() if v})

    @classmethod
    def from_row(cls, r: Row[Any]) -> SourceRecord:
        m = r._mapping
        inferred = json.loads(m["schema_inferred_json"])
        return cls(
            id=m["id"],
            display_name=m["display_name"],
            fingerprint=m["fingerprint"],
            schema=TableSchema.from_json(m["schema_json"]),
            schema_version=m["schema_version"],
            row_count=m["row_count"],
            train_rows=m["train_rows"],
            holdout_rows=m["holdout_rows"],
            holdout_fraction=m["holdout_fraction"],
            split_seed=m["split_seed"],
            epsilon_cap=m["epsilon_cap"],
            delta_cap=m["delta_cap"],
            allow_non_private=m["allow_non_private"],
            size_bytes=m["size_bytes"],
            create_time=m["create_time"],
            version_id=m["version_id"],
            approved_schema_version=m["approved_schema_version"],
            inferred=None if inferred is None else {k: tuple(v) for k, v in inferred.items()},
            owner=m["owner"],
        )


@dataclass(frozen=True)
class LedgerRecord:
    id: str
    source_id: str
    job_id: str
    model_id: str
    purpose: str
    mechanism: str
    epsilon: float
    delta: float
    refunded: bool
    create_time: float

    @classmethod
    def from_row(cls, r: Row[Any]) -> LedgerRecord:
        return cls(**dict(r._mapping))


@dataclass(frozen=True)
class BudgetStatus:
    source_id: str
    epsilon_cap: float
    delta_cap: float
    epsilon_spent: float
    delta_spent: float
    entries: list[LedgerRecord] = field(default_factory=list)

    @property
    def epsilon_remaining(self) -> float:
        return max(0.0, self.epsilon_cap - self.epsilon_spent)

    @property
    def delta_remaining(self) -> float:
        return max(0.0, self.delta_cap - self.delta_spent)


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    """A model's params as shown: never a training seed.

    Before the noise was keyed by the server secret, the seed replayed it; it is
    still withheld (defence in depth: with the secret, it would).

    Models written before the seed was withheld stored it; it is dropped on read.
    """
    if "seed" not in params:
        return params
    shown = {k: v for k, v in params.items() if k != "seed"}
    shown.setdefault("seeded", True)
    return shown


@dataclass(frozen=True)
class ModelRecord:
    id: str
    source_id: str
    #: The source's version id (`SourceRecord.version_id`), never a hash of its rows.
    source_version: str
    generator: str
    generator_version: str
    params: dict[str, Any]
    epsilon: float | None
    delta: float | None
    accountant: str
    spends: list[dict[str, Any]]
    details: dict[str, float]
    train_rows: int
    job_id: str
    display_name: str
    artifact: str
    create_time: float

    @classmethod
    def from_row(cls, r: Row[Any]) -> ModelRecord:
        m = dict(r._mapping)
        return cls(
            params=public_params(json.loads(m.pop("params_json"))),
            spends=json.loads(m.pop("spends_json")),
            details=json.loads(m.pop("details_json")),
            **m,
        )


@dataclass(frozen=True)
class DatasetRecord:
    id: str
    model_id: str
    source_id: str
    rows: int
    seed: int
    size_bytes: int
    lineage: dict[str, str]
    job_id: str
    display_name: str
    artifact: str
    create_time: float

    @classmethod
    def from_row(cls, r: Row[Any]) -> DatasetRecord:
        m = dict(r._mapping)
        return cls(lineage=json.loads(m.pop("lineage_json")), **m)


@dataclass(frozen=True)
class EvaluationRecord:
    id: str
    dataset_id: str
    model_id: str
    source_id: str
    target: str
    flagged: bool
    scores: dict[str, float]
    artifact: str
    report_size: int
    job_id: str
    create_time: float
    result: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, r: Row[Any]) -> EvaluationRecord:
        m = dict(r._mapping)
        return cls(scores=json.loads(m.pop("scores_json")), **m)
