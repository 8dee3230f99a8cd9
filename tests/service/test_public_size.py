"""The neighbouring relation through the service (issue 11, item 6).

Neighbours differ by one privacy unit, added or removed, so the exact row
count is not public: the first training of a source measures a DP count of
its units (ledger purpose "size", once), and every plan and model uses that
count. A schema may name the column that identifies a unit; each unit then
keeps at most k rows, and k may be chosen by the same DP measurement.
"""

from __future__ import annotations

import csv
import io

import grpc
import pytest
from sqlalchemy import select, update

from synth.base.schema import PrivacyUnit, TableSchema
from synth.core.config import DEFAULT_SIZE_EPSILON as SIZE
from synth.schema_proto import schema_from_proto, schema_to_proto
from synth.server import RunningServer
from synth.store.sqltables import source_sizes
from synth.v1 import jobs_pb2, models_pb2, sources_pb2
from tests.service.stubs import Stubs


def _sizes(server: RunningServer, source_id: str) -> list[tuple[str, int, int, float]]:
    with server.service.stores.meta.transaction() as conn:
        rows = conn.execute(select(source_sizes).where(source_sizes.c.source_id == source_id))
        return [(r.unit, r.units, r.max_rows, r.epsilon) for r in rows]


def _model(stubs: Stubs, job: jobs_pb2.Job) -> models_pb2.Model:
    done = stubs.wait(job)
    assert done.state == jobs_pb2.SUCCEEDED, done.error.message
    return stubs.models.GetModel(models_pb2.GetModelRequest(name=done.result))


def test_models_carry_the_dp_size_never_the_exact_count(
    stubs: Stubs, fresh_server: RunningServer, adult_small_csv: bytes
) -> None:
    src = stubs.register_approved("adult", adult_small_csv, epsilon=5.0)
    first = _model(stubs, stubs.train(src.name, epsilon=1.0))
    [(unit, units, _, eps)] = _sizes(fresh_server, "adult")
    assert unit == "" and eps == pytest.approx(SIZE)
    assert first.train_rows == units
    # A stored size no count of this table could give: the next plan and model use it.
    with fresh_server.service.stores.meta.transaction() as conn:
        conn.execute(update(source_sizes).values(units=77_777))
    second = _model(stubs, stubs.train(src.name, epsilon=1.0))
    assert second.train_rows == 77_777
    assert second.delta < 1 / (10 * 77_777) <= 1 / (10 * src.train_rows)
    # The exact count stays in the source, the owner's view; the size was paid once.
    got = stubs.sources.GetSource(sources_pb2.GetSourceRequest(name=src.name))
    assert got.train_rows == src.train_rows
    purposes = [e.spend.purpose for e in stubs.budget(src.name).entries]
    assert purposes.count("size") == 1


def test_a_training_the_budget_cannot_hold_with_the_size_measures_nothing(
    stubs: Stubs, fresh_server: RunningServer, adult_small_csv: bytes
) -> None:
    src = stubs.register_approved("adult", adult_small_csv, epsilon=1.0)
    with pytest.raises(grpc.RpcError) as err:
        stubs.train(src.name, epsilon=1.0)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "size" in err.value.details()
    assert list(stubs.budget(src.name).entries) == [] and _sizes(fresh_server, "adult") == []
    _model(stubs, stubs.train(src.name, epsilon=1.0 - SIZE))


def test_a_refused_request_measures_nothing(
    stubs: Stubs, fresh_server: RunningServer, adult_small_csv: bytes
) -> None:
    src = stubs.register_approved("adult", adult_small_csv)
    with pytest.raises(grpc.RpcError) as err:
        stubs.train(src.name, generator="no-such-generator")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert list(stubs.budget(src.name).entries) == [] and _sizes(fresh_server, "adult") == []


def _people_csv(rows_per_person: list[int]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["person", "colour", "amount"])
    for i, k in enumerate(rows_per_person):
        for j in range(k):
            w.writerow([f"p{i:05d}", ["red", "green", "blue"][(i + j) % 3], (i * 7 + j) % 100])
    return buf.getvalue().encode()


def _declare_unit(stubs: Stubs, src: sources_pb2.Source, max_rows: int | str) -> sources_pb2.Source:
    schema = schema_from_proto(src.schema)
    cols = tuple(
        c if c.name != "person" else type(c)(**{**c.__dict__, "kind": type(c.kind)("id")})
        for c in schema.columns
    )
    declared = TableSchema(columns=cols, privacy_unit=PrivacyUnit("person", max_rows))  # type: ignore[arg-type]
    return stubs.sources.UpdateSchema(
        sources_pb2.UpdateSchemaRequest(
            name=src.name, schema=schema_to_proto(declared), approve=True
        )
    )


def test_a_declared_unit_is_measured_by_its_column_and_the_plan_keeps_its_bound(
    stubs: Stubs, fresh_server: RunningServer
) -> None:
    src = stubs.register("people", _people_csv([1, 2, 3, 4] * 300), epsilon=5.0)
    src = _declare_unit(stubs, src, 3)
    model = _model(stubs, stubs.train(src.name, epsilon=1.0))
    [(unit, units, max_rows, _)] = _sizes(fresh_server, "people")
    assert unit == "person" and max_rows == 0  # declared, not measured
    assert model.train_rows == units and abs(units - 0.8 * 1200) < 200  # units, not rows
    assert model.epsilon <= 1.0 + 1e-9


def test_an_auto_bound_is_chosen_with_the_size_and_frozen_with_the_job(
    stubs: Stubs, fresh_server: RunningServer
) -> None:
    src = stubs.register("people", _people_csv([1, 2, 2, 2, 9] * 200), epsilon=5.0)
    src = _declare_unit(stubs, src, "auto")
    job = stubs.train(src.name, epsilon=1.0)
    _model(stubs, job)
    [(unit, _, max_rows, eps)] = _sizes(fresh_server, "people")
    assert unit == "person|auto" and 1 <= max_rows <= 64
    assert eps <= SIZE
    stored = fresh_server.service.stores.jobs.get(job.name.split("/")[-1]).request["schema"]
    assert stored["privacy_unit"] == {"column": "person", "max_rows": max_rows}


def test_dpctgan_on_units_of_several_rows_is_refused_before_any_charge(
    stubs: Stubs, fresh_server: RunningServer
) -> None:
    src = stubs.register("people", _people_csv([1, 2, 3] * 100), epsilon=5.0)
    src = _declare_unit(stubs, src, 3)
    with pytest.raises(grpc.RpcError) as err:
        stubs.train(src.name, epsilon=1.0, generator="dpctgan")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "one row" in err.value.details()
    assert list(stubs.budget(src.name).entries) == [] and _sizes(fresh_server, "people") == []
