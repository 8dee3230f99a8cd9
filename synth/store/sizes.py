"""A source's DP size: measured once per privacy unit, charged in the same transaction.

The first training of a source (for a given unit column) needs the size
before it can plan; measuring it is a DP release of its own, so the charge,
the measurement and its record are one transaction: a refused charge
measures nothing, a failed measurement charges nothing, and two trainings
racing measure (and pay) once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from synth.base.names import new_id
from synth.base.spend import Spend
from synth.store import ledger as ledger_ops
from synth.store.metadata import MetadataStore
from synth.store.sqltables import source_sizes

#: The ledger purpose of a size measurement.
PURPOSE = "size"


@dataclass(frozen=True)
class SizeRecord:
    source_id: str
    #: "" (each row a unit), the unit column, or "<column>|auto" when k was measured too.
    unit: str
    units: int
    #: The contribution bound chosen with the size (0: the schema declared it).
    max_rows: int
    epsilon: float
    #: The ledger's job id of the charge ("sz-..."), to find it among the source's charges.
    job_id: str
    create_time: float


@dataclass(frozen=True)
class Measured:
    units: int
    max_rows: int


class SizeRows:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def get(self, source_id: str, unit: str) -> SizeRecord | None:
        with self.meta.transaction() as conn:
            row = conn.execute(
                select(source_sizes).where(
                    source_sizes.c.source_id == source_id, source_sizes.c.unit == unit
                )
            ).first()
        return None if row is None else SizeRecord(**row._mapping)

    def of_source(self, source_id: str) -> list[SizeRecord]:
        """Every size measured for the source (one per unit column it was measured for)."""
        with self.meta.transaction() as conn:
            rows = conn.execute(select(source_sizes).where(source_sizes.c.source_id == source_id))
            return [SizeRecord(**r._mapping) for r in rows]

    def measure_once(
        self,
        source_id: str,
        unit: str,
        spend: Spend,
        measure: Callable[[str], Measured],
    ) -> SizeRecord:
        """The stored size, or charge `spend`, run `measure(job_id)` and store its result.

        Locks the source's budget first (SQLite: BEGIN IMMEDIATE; PostgreSQL: the
        source row), then looks again, so a racing call finds the first one's row.
        """
        with self.meta.transaction() as conn:
            ledger_ops.budget_status(conn, source_id, for_update=True)
            row = conn.execute(
                select(source_sizes).where(
                    source_sizes.c.source_id == source_id, source_sizes.c.unit == unit
                )
            ).first()
            if row is not None:
                return SizeRecord(**row._mapping)
            job_id = new_id("sz")
            ledger_ops.charge(conn, source_id, job_id, [spend])
            got = measure(job_id)
            record = SizeRecord(
                source_id=source_id,
                unit=unit,
                units=got.units,
                max_rows=got.max_rows,
                epsilon=spend.epsilon,
                job_id=job_id,
                create_time=time.time(),
            )
            conn.execute(source_sizes.insert().values(**record.__dict__))
        return record
