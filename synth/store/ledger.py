"""The privacy ledger: append-only charges per source, checked against the cap.

Charges are written in the same transaction that creates the job, before
the job can read a row. Composition across charges is basic: ε and δ add up,
which is valid for any mix of mechanisms and accountants.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, func, select, update

from synth.base.errors import BudgetExhausted, NotFound
from synth.base.names import new_id
from synth.base.spend import Spend
from synth.store.metadata import MetadataStore
from synth.store.records import BudgetStatus, LedgerRecord
from synth.store.sqltables import ledger, sources

#: Float slack when comparing sums with the cap (sums of floats are not exact).
_TOL = 1e-9


def budget_status(conn: Connection, source_id: str, *, for_update: bool = False) -> BudgetStatus:
    q = select(sources.c.epsilon_cap, sources.c.delta_cap).where(
        sources.c.id == source_id, sources.c.deleted.is_(False)
    )
    if for_update:
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"source 'sources/{source_id}' does not exist")
    spent = conn.execute(
        select(
            func.coalesce(func.sum(ledger.c.epsilon), 0.0),
            func.coalesce(func.sum(ledger.c.delta), 0.0),
        ).where(ledger.c.source_id == source_id, ledger.c.refunded.is_(False))
    ).one()
    entries = [
        LedgerRecord.from_row(r)
        for r in conn.execute(
            select(ledger)
            .where(ledger.c.source_id == source_id)
            .order_by(ledger.c.create_time, ledger.c.id)
        )
    ]
    return BudgetStatus(
        source_id=source_id,
        epsilon_cap=row.epsilon_cap,
        delta_cap=row.delta_cap,
        epsilon_spent=float(spent[0]),
        delta_spent=float(spent[1]),
        entries=entries,
    )


def charge(
    conn: Connection, source_id: str, job_id: str, spends: Sequence[Spend]
) -> list[LedgerRecord]:
    """Write `spends` for `job_id`, or raise `BudgetExhausted` and write nothing."""
    status = budget_status(conn, source_id, for_update=True)
    eps = sum(s.epsilon for s in spends)
    delta = sum(s.delta for s in spends)
    if status.epsilon_spent + eps > status.epsilon_cap * (
        1 + _TOL
    ) or status.delta_spent + delta > status.delta_cap * (1 + _TOL):
        raise BudgetExhausted(
            f"training would spend ε={eps:.4g}, δ={delta:.3g} but source 'sources/{source_id}' has only "
            f"ε={status.epsilon_remaining:.4g}, δ={status.delta_remaining:.3g} left of its cap "
            f"(ε={status.epsilon_cap:g}, δ={status.delta_cap:g}); ask for less, or register a new "
            "version of the source with its own budget",
            metadata={
                "remaining_epsilon": repr(status.epsilon_remaining),
                "remaining_delta": repr(status.delta_remaining),
                "requested_epsilon": repr(eps),
                "requested_delta": repr(delta),
                "source": f"sources/{source_id}",
            },
        )
    now = time.time()
    records = []
    for s in spends:
        rec = LedgerRecord(
            id=new_id("l"),
            source_id=source_id,
            job_id=job_id,
            model_id="",
            purpose=s.purpose,
            mechanism=s.mechanism,
            epsilon=s.epsilon,
            delta=s.delta,
            refunded=False,
            create_time=now,
        )
        conn.execute(ledger.insert().values(**rec.__dict__))
        records.append(rec)
    return records


def refund(conn: Connection, job_id: str) -> int:
    """Refund a job's charges: only for jobs that never touched the data."""
    res = conn.execute(update(ledger).where(ledger.c.job_id == job_id).values(refunded=True))
    return int(res.rowcount or 0)


def attach_model(conn: Connection, job_id: str, model_id: str) -> None:
    conn.execute(update(ledger).where(ledger.c.job_id == job_id).values(model_id=model_id))


class Ledger:
    """The ledger's reads outside a job's transaction (charges go with job creation)."""

    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def status(self, source_id: str) -> BudgetStatus:
        with self.meta.transaction() as conn:
            return budget_status(conn, source_id)
