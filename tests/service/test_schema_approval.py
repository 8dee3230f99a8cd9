"""An inferred schema is a proposal: nothing trains until its owner approves it.

What a schema says is public (it shapes every model and the released Parquet),
and an inferred one came from the table's values: one more row can flip a
column's kind or nullability. The owner approves exactly the version they
reviewed; declared types, CSV included, are how the table is read.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import synth
from synth.base.schema import TableSchema
from synth.schema_proto import schema_from_proto, schema_to_proto
from synth.server import RunningServer
from synth.v1 import jobs_pb2, schema_pb2, sources_pb2
from tests.service.fixtures import connect
from tests.service.stubs import Stubs, error_info


def reason(err: grpc.RpcError) -> str:
    info = error_info(err)
    assert info is not None
    return info.reason


def assert_nothing_charged(stubs: Stubs, source: str) -> None:
    budget = stubs.budget(source)
    assert list(budget.entries) == [] and budget.spent.epsilon == 0 and budget.spent.delta == 0
    jobs = stubs.jobs.ListJobs(jobs_pb2.ListJobsRequest(target=source)).jobs
    assert list(jobs) == []


def test_a_pending_schema_refuses_training_naming_what_to_review(
    stubs: Stubs, adult_small_csv: bytes, adult: pa.Table
) -> None:
    src = stubs.register("adult", adult_small_csv)
    assert src.schema_state == sources_pb2.SCHEMA_PENDING and src.approved_schema_version == 0
    assert set(src.inferred_fields) == {
        f"columns.{name}.{part}" for name in adult.column_names for part in ("kind", "nullable", "arrow_type")
    }

    with pytest.raises(grpc.RpcError) as err:
        stubs.train(src.name, epsilon=1.0)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(err.value) == "SCHEMA_NOT_APPROVED"
    message = err.value.details()
    assert "age (kind, nullability, type)" in message and "income (kind, nullability, type)" in message
    assert "client.approve_schema(source)" in message
    assert "synth sources approve-schema sources/adult" in message
    assert 'ApproveSchema(name="sources/adult", schema_version=1)' in message
    assert error_info(err.value).metadata["schema_version"] == "1"  # type: ignore[union-attr]
    assert_nothing_charged(stubs, src.name)  # refused before the ledger moved

    approved = stubs.approve(src)
    assert approved.schema_state == sources_pb2.SCHEMA_APPROVED
    assert approved.approved_schema_version == approved.schema_version == 1
    assert stubs.wait(stubs.train(src.name, epsilon=1.0)).state == jobs_pb2.SUCCEEDED


def test_approval_names_the_version_reviewed_and_an_edit_is_pending_again(
    stubs: Stubs, adult_small_csv: bytes
) -> None:
    src = stubs.register("adult", adult_small_csv)
    schema = schema_from_proto(src.schema)
    edited = schema.with_column(dataclasses.replace(schema["age"], lower=17, upper=90))
    update = stubs.sources.UpdateSchema(
        sources_pb2.UpdateSchemaRequest(name=src.name, schema=schema_to_proto(edited))
    )
    assert update.schema_version == 2 and update.schema_state == sources_pb2.SCHEMA_PENDING
    assert list(update.inferred_fields) == []  # the owner sent every part back

    def approve(version: int) -> sources_pb2.Source:
        request = sources_pb2.ApproveSchemaRequest(name=src.name, schema_version=version)
        return stubs.sources.ApproveSchema(request)

    with pytest.raises(grpc.RpcError) as err:
        approve(1)  # what the owner saw before the edit
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(err.value) == "SCHEMA_VERSION_MISMATCH"
    assert "at schema version 2, not 1" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        approve(0)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        stubs.sources.ApproveSchema(sources_pb2.ApproveSchemaRequest(name="sources/nope", schema_version=1))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert_nothing_charged(stubs, src.name)

    assert approve(2).schema_state == sources_pb2.SCHEMA_APPROVED
    assert approve(2).approved_schema_version == 2  # approving again changes nothing
    assert stubs.wait(stubs.train(src.name, epsilon=0.5)).state == jobs_pb2.SUCCEEDED

    again = stubs.sources.UpdateSchema(
        sources_pb2.UpdateSchemaRequest(name=src.name, schema=schema_to_proto(schema))
    )
    assert (again.schema_version, again.approved_schema_version) == (3, 2)
    assert again.schema_state == sources_pb2.SCHEMA_PENDING
    before = stubs.budget(src.name)
    with pytest.raises(grpc.RpcError) as err:
        stubs.train(src.name, epsilon=0.5)
    assert reason(err.value) == "SCHEMA_NOT_APPROVED"
    assert "version 3 is an edit not yet approved (version 2 was)" in err.value.details()
    assert stubs.budget(src.name) == before

    both = stubs.sources.UpdateSchema(
        sources_pb2.UpdateSchemaRequest(name=src.name, schema=schema_to_proto(edited), approve=True)
    )
    assert (both.schema_version, both.approved_schema_version) == (4, 4)
    assert both.schema_state == sources_pb2.SCHEMA_APPROVED


def _declared(*columns: tuple[str, int, str, bool]) -> schema_pb2.TableSchema:
    return schema_pb2.TableSchema(
        columns=[
            schema_pb2.ColumnSchema(name=n, kind=k, arrow_type=t, nullable=null) for n, k, t, null in columns
        ]
    )


def test_registration_approves_only_a_schema_that_declares_every_part(
    stubs: Stubs, data_folder: Path
) -> None:
    csv = b"x,c\n" + b"".join(b"%d,%s\n" % (i, b"ab"[i % 2 : i % 2 + 1]) for i in range(40))
    with pytest.raises(grpc.RpcError) as err:
        stubs.register("no-schema", csv, approve_schema=True)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "header.approve_schema" in err.value.details()
    untyped = _declared(("x", schema_pb2.NUMERICAL, "int64", False), ("c", schema_pb2.CATEGORICAL, "", False))
    with pytest.raises(grpc.RpcError) as err:
        stubs.register("untyped", csv, schema=untyped, approve_schema=True)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "missing: c" in err.value.details()
    assert list(stubs.sources.ListSources(sources_pb2.ListSourcesRequest()).sources) == []

    pending = stubs.register("typed-later", csv, schema=untyped)
    assert list(pending.inferred_fields) == ["columns.c.arrow_type"]  # only the type was read
    assert pending.schema_state == sources_pb2.SCHEMA_PENDING

    full = _declared(("x", schema_pb2.NUMERICAL, "int64", False), ("c", schema_pb2.CATEGORICAL, "string", False))
    csv += b"40,a\n"  # rows of its own: the same rows are refused as the same source
    src = stubs.register("declared", csv, schema=full, approve_schema=True)
    assert src.schema_state == sources_pb2.SCHEMA_APPROVED and src.approved_schema_version == 1
    assert list(src.inferred_fields) == []
    assert stubs.wait(stubs.train(src.name, epsilon=1.0)).state == jobs_pb2.SUCCEEDED


def test_the_sdk_raises_typed_errors_and_approves_what_it_saw(
    fresh_server: RunningServer, adult_small_csv: bytes
) -> None:
    with connect(fresh_server) as client:
        src = client.register_source("adult", adult_small_csv, budget=synth.Budget(epsilon=3.0))
        assert src.schema_state == "pending" and not src.schema_approved
        assert "pending approval" in str(src) and "columns.age.kind" in src.inferred_fields
        with pytest.raises(synth.SchemaNotApproved) as info:
            client.train(src, generator="dp_marginals", epsilon=1.0)
        assert isinstance(info.value, synth.FailedPrecondition)
        assert "approve_schema" in str(info.value)
        assert any(v.field == "columns.age.kind" for v in info.value.violations)

        edited = client.update_schema(src, client.schema(src))
        with pytest.raises(synth.SchemaVersionMismatch):
            client.approve_schema(src)  # the Source seen before the edit: version 1
        approved = client.approve_schema(edited)
        assert approved.schema_approved and approved.approved_schema_version == 2
        assert client.approve_schema("adult").schema_approved  # a name: its current version
        assert client.train(src, generator="dp_marginals", epsilon=1.0).result().epsilon


# ---- one row more: a different proposal, the same approved schema -----------------------


def _table(rows: int) -> bytes:
    """user_id, code, score. The first 50 rows: a unique key, 50 distinct codes, no missing
    score; the 51st repeats a key, adds a 51st code and has no score."""
    lines = ["user_id,code,score"]
    for i in range(rows):
        if i < 50:
            lines.append(f"{1000 + i},c{i:03d},{i % 100}")
        else:
            lines.append(f"{1000},c{i:03d},")
    return ("\n".join(lines) + "\n").encode()


APPROVED = TableSchema.from_json(
    json.dumps(
        {
            "columns": [
                {"name": "user_id", "kind": "id", "arrow_type": "int64", "nullable": False},
                {"name": "code", "kind": "categorical", "arrow_type": "string", "nullable": False},
                {"name": "score", "kind": "numerical", "arrow_type": "int64", "nullable": True,
                 "lower": 0, "upper": 100},
            ]
        }
    )
)


def test_one_row_more_may_change_the_proposal_but_the_approved_schema_is_what_ships(
    stubs: Stubs, data_folder: Path
) -> None:
    proposals = {}
    for source_id, rows in (("fifty", 50), ("fifty-one", 51)):
        src = stubs.register(source_id, _table(rows), holdout_fraction=0.0)
        proposals[source_id] = schema_from_proto(src.schema)
        with pytest.raises(grpc.RpcError) as err:  # neither trains until approved
            stubs.train(src.name, epsilon=1.0)
        assert reason(err.value) == "SCHEMA_NOT_APPROVED"
        assert_nothing_charged(stubs, src.name)
    fifty, fifty_one = proposals["fifty"], proposals["fifty-one"]
    # Inferred from the values: one row flips three columns.
    assert (fifty["user_id"].kind, fifty_one["user_id"].kind) == ("id", "numerical")
    assert (fifty["code"].kind, fifty_one["code"].kind) == ("categorical", "id")
    assert (fifty["score"].nullable, fifty_one["score"].nullable) == (False, True)

    shipped = []
    for source_id in proposals:
        src = stubs.sources.UpdateSchema(
            sources_pb2.UpdateSchemaRequest(
                name=f"sources/{source_id}", schema=schema_to_proto(APPROVED), approve=True
            )
        )
        assert src.schema_state == sources_pb2.SCHEMA_APPROVED
        done = stubs.wait(stubs.train(src.name, epsilon=1.0))
        assert done.state == jobs_pb2.SUCCEEDED, done.error.message
        model_id = done.result.split("/")[1]
        config = json.loads((data_folder / "artifacts" / "models" / model_id / "config.json").read_text())
        assert TableSchema.from_json_dict(config["schema"]) == APPROVED  # what the model carries
        gen = stubs.wait(stubs.generate(done.result, rows=100, seed=1))
        table = pq.read_table(io.BytesIO(stubs.download(gen.result)))
        shipped.append(table.schema.remove_metadata())
    # What the released Parquet carries: the approved schema, nullability included, for both.
    assert shipped[0] == shipped[1] == APPROVED.arrow_schema()


# ---- declared types: how the table is read --------------------------------------------


def test_declared_csv_types_are_how_the_csv_is_read(stubs: Stubs) -> None:
    zips = ["00501", "02139", "07030"]
    body = "".join(f"{zips[i % 3]},{i},2024-01-0{1 + i % 3},{i % 2}\n" for i in range(600))
    csv = ("zip,n,day,flag\n" + body).encode()
    declared = TableSchema.from_json_dict(
        {
            "columns": [
                {"name": "zip", "kind": "categorical", "arrow_type": "string", "nullable": False,
                 "categories": zips},
                {"name": "n", "kind": "numerical", "arrow_type": "double", "nullable": False,
                 "lower": 0, "upper": 600},
                {"name": "day", "kind": "categorical", "arrow_type": "string", "nullable": False,
                 "categories": ["2024-01-01", "2024-01-02", "2024-01-03"]},
                {"name": "flag", "kind": "boolean", "arrow_type": "bool", "nullable": False},
            ]
        }
    )
    proposed = stubs.register("guessed", csv)  # polars' guess, for contrast
    guessed = {c.name: c.arrow_type for c in proposed.schema.columns}
    assert (guessed["zip"], guessed["n"], guessed["day"]) == ("int64", "int64", "date32[day]")

    src = stubs.register("typed", csv, schema=schema_to_proto(declared), approve_schema=True)
    assert schema_from_proto(src.schema) == declared
    assert src.schema_state == sources_pb2.SCHEMA_APPROVED
    done = stubs.wait(stubs.train(src.name, epsilon=1.0))
    assert done.state == jobs_pb2.SUCCEEDED, done.error.message
    gen = stubs.wait(stubs.generate(done.result, rows=200, seed=1))
    table = pq.read_table(io.BytesIO(stubs.download(gen.result)))
    assert table.schema.remove_metadata() == declared.arrow_schema()
    assert set(table.column("zip").to_pylist()) <= set(zips)  # leading zeros kept


def test_a_cell_that_does_not_fit_its_declared_type_is_named_by_row_not_value(
    stubs: Stubs, data_folder: Path
) -> None:
    rows = [b"%d,x%d" % (i, i) for i in range(40)]
    rows[17] = b"SECRET-VALUE-17,x17"
    csv = b"n,c\n" + b"\n".join(rows) + b"\n"
    declared = _declared(("n", schema_pb2.NUMERICAL, "int64", False), ("c", schema_pb2.CATEGORICAL, "string", False))
    with pytest.raises(grpc.RpcError) as err:
        stubs.register("bad-cell", csv, schema=declared)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = err.value.details()
    assert "column 'n'" in details and "row 17" in details and "int64" in details
    assert "SECRET" not in details
    status_text = str(err.value)
    assert "SECRET" not in status_text
    assert list((data_folder / "artifacts" / "sources").iterdir()) == []


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_a_parquet_type_is_declared_wider_never_narrower(stubs: Stubs) -> None:
    data = _parquet(
        pa.table({"n": pa.array(range(60), pa.int32()), "t": pa.array([i / 3 for i in range(60)], pa.float32())})
    )
    wider = _declared(("n", schema_pb2.NUMERICAL, "int64", False), ("t", schema_pb2.NUMERICAL, "double", False))
    src = stubs.register("wider", data, schema=wider, approve_schema=True)
    assert [c.arrow_type for c in src.schema.columns] == ["int64", "double"]
    narrower = _declared(("n", schema_pb2.NUMERICAL, "int16", False), ("t", schema_pb2.NUMERICAL, "double", False))
    with pytest.raises(grpc.RpcError) as err:
        stubs.register("narrower", data, schema=narrower)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "column 'n' is declared int16, but the Parquet file stores int32" in err.value.details()
