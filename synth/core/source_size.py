"""The size every plan uses: a DP count of a source's privacy units, measured once.

Neighbouring tables differ by one privacy unit, added or removed, so the
exact row count is not public: δ's default, DP-SGD's sampling rate and
steps, `auto`'s choice and a model's `train_rows` all come from this noisy
count instead (`generators.privacy.units`). It is charged to the source's
ledger (purpose "size", `config.size_epsilon`) the first time a training
needs it, per unit column, and reused by every later plan: the exact count
stays in the source's record, the owner's view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from generators.privacy.units import AUTO_MAX_ROWS_LIMIT, measure_size, size_epsilon
from synth.base.errors import BudgetExhausted
from synth.base.randomness import RandomStreams
from synth.base.schema import AUTO, TableSchema
from synth.base.spend import Spend
from synth.core.stores import Stores
from synth.store.records import SourceRecord
from synth.store.sizes import Measured, SizeRecord

MECHANISM = "geometric"


@dataclass(frozen=True)
class PlanSize:
    """The size and schema a training plans with.

    `units` is the stored DP count, or (while `pending` is set) the exact
    count as a preview: a plan made with it may be shown to the owner but
    never charged or run.
    """

    units: int
    #: The schema with its contribution bound resolved (1 in a preview of "auto").
    schema: TableSchema
    #: The charge still to make before a training may run (None once measured).
    pending: Spend | None
    #: None for a non-private training: it fits with the exact count (no guarantee to keep).
    private: bool = True


def unit_key(schema: TableSchema) -> str:
    """Which measurement a schema needs: "" (rows), the unit column, or "<column>|auto"."""
    unit = schema.privacy_unit
    if unit is None:
        return ""
    return f"{unit.column}|auto" if unit.max_rows == AUTO else unit.column


class SourceSizes:
    """`read_train` gives a source's training rows (SourceService.read_part, "train")."""

    def __init__(self, stores: Stores, read_train: Callable[[SourceRecord], pa.Table]) -> None:
        self.stores = stores
        self.read_train = read_train

    def charge_for(self, schema: TableSchema) -> Spend:
        """What measuring this schema's size costs (public facts only)."""
        return Spend("size", size_epsilon(schema, self.stores.config.size_epsilon), 0.0, MECHANISM)

    def measured(self, source: SourceRecord) -> SizeRecord | None:
        return self.stores.sizes.get(source.id, unit_key(source.schema))

    def for_plan(self, source: SourceRecord, *, private: bool) -> PlanSize:
        """The stored size, or a preview with the charge still pending; charges nothing."""
        schema = source.schema
        auto = schema.privacy_unit is not None and schema.privacy_unit.max_rows == AUTO
        if not private:
            if auto:  # nothing to protect, nothing to measure: the widest bound
                schema = schema.with_max_rows(AUTO_MAX_ROWS_LIMIT)
            return PlanSize(source.train_rows, schema, None, private=False)
        record = self.measured(source)
        if record is None:
            preview = schema.with_max_rows(1) if auto else schema
            return PlanSize(source.train_rows, preview, self.charge_for(schema))
        if auto:
            schema = schema.with_max_rows(record.max_rows)
        return PlanSize(record.units, schema, None)

    def affordable(self, source: SourceRecord, spends: list[Spend]) -> None:
        """Raise `BudgetExhausted` unless the source's budget holds all of `spends`."""
        status = self.stores.ledger.status(source.id)
        eps = sum(s.epsilon for s in spends)
        delta = sum(s.delta for s in spends)
        if eps > status.epsilon_remaining * (1 + 1e-9) or delta > status.delta_remaining * (
            1 + 1e-9
        ):
            raise BudgetExhausted(
                f"training would spend ε={eps:.4g}, δ={delta:.3g} (with ε="
                f"{spends[0].epsilon:.3g} for the source's size, measured once before its first "
                f"training) but source 'sources/{source.id}' has only "
                f"ε={status.epsilon_remaining:.4g}, δ={status.delta_remaining:.3g} left; "
                "ask for less, or register a new version of the source with its own budget",
                metadata={
                    "remaining_epsilon": repr(status.epsilon_remaining),
                    "remaining_delta": repr(status.delta_remaining),
                    "requested_epsilon": repr(eps),
                    "requested_delta": repr(delta),
                    "source": f"sources/{source.id}",
                },
            )

    def measure(self, source: SourceRecord, *, subject: str = "") -> PlanSize:
        """The stored DP size for the source's schema, measured (and charged) if there is none;
        a charge made here is audited as `subject`'s (the caller whose training needed it)."""
        schema = source.schema
        charged: list[str] = []

        def measure(job_id: str) -> Measured:
            charged.append(job_id)
            # Keyed by the server secret and the measurement's own id: nobody can replay it.
            rng = RandomStreams.for_job(self.stores.secret, job_id, None).generator("size")
            got = measure_size(
                self.read_train(source), schema, self.stores.config.size_epsilon, rng
            )
            return Measured(got.units, got.max_rows)

        spend = self.charge_for(schema)
        record = self.stores.sizes.measure_once(source.id, unit_key(schema), spend, measure)
        if charged:  # this call measured it: the charge is new
            self.stores.audit.append(
                subject or source.owner,
                "MeasureSize",
                f"sources/{source.id}",
                {
                    "measurement": charged[-1],
                    "charges": [
                        {
                            "purpose": spend.purpose,
                            "mechanism": spend.mechanism,
                            "epsilon": spend.epsilon,
                            "delta": spend.delta,
                        }
                    ],
                    "epsilon": spend.epsilon,
                    "delta": spend.delta,
                },
            )
        if schema.privacy_unit is not None and schema.privacy_unit.max_rows == AUTO:
            schema = schema.with_max_rows(record.max_rows)
        return PlanSize(record.units, schema, None)
