"""The SDK's conversions and chunked transfers, without a server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synth.base.errors import Internal, InvalidArgument, InvalidSchema, Unavailable
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema, Tag
from synth.client import convert
from synth.client.resources import Budget, BudgetStatus, JobKind, JobState, LedgerEntry, Spend
from synth.client.transfer import format_for, receive, upload_requests
from synth.schema_proto import schema_from_proto, schema_to_proto
from synth.v1 import common_pb2, jobs_pb2, sources_pb2

# ---- schema ------------------------------------------------------------------


def test_the_inferred_adult_schema_round_trips(adult_schema: TableSchema) -> None:
    assert schema_from_proto(schema_to_proto(adult_schema)) == adult_schema


def test_declarations_survive_the_wire() -> None:
    schema = TableSchema(
        columns=(
            ColumnSchema("age", ColumnKind.NUMERICAL, "int64", nullable=False, lower=17, upper=90),
            ColumnSchema("sex", ColumnKind.CATEGORICAL, "string", categories=("Female", "Male"),
                         tags=(Tag.QUASI_IDENTIFIER,)),
            ColumnSchema("when", ColumnKind.DATETIME, "timestamp[us]", lower=0.0, upper=1.7e9),
            ColumnSchema("email", ColumnKind.PII, "string", tags=(Tag.PII, Tag.SENSITIVE)),
            ColumnSchema("ok", ColumnKind.BOOLEAN, "bool"),
            ColumnSchema("row_id", ColumnKind.ID, "int64", nullable=False),
        ),
    )
    msg = schema_to_proto(schema)
    assert msg.columns[0].lower == 17 and msg.columns[0].upper == 90
    assert not msg.columns[1].HasField("lower")
    assert list(msg.columns[1].categories.values) == ["Female", "Male"]
    assert not msg.columns[0].HasField("categories")
    assert schema_from_proto(msg) == schema


_names = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


@st.composite
def _columns(draw: st.DrawFn) -> ColumnSchema:
    kind = draw(st.sampled_from(list(ColumnKind)))
    lower = upper = None
    cats = None
    if kind is ColumnKind.NUMERICAL and draw(st.booleans()):
        lower = draw(st.floats(-1e9, 1e9))
        upper = lower + draw(st.floats(0.5, 1e9))
    if kind is ColumnKind.CATEGORICAL and draw(st.booleans()):
        cats = tuple(draw(st.lists(st.text(max_size=10), min_size=1, max_size=6, unique=True)))
    return ColumnSchema(
        name=draw(_names),
        kind=kind,
        arrow_type=draw(st.sampled_from(["int64", "double", "string", "bool"])),
        nullable=draw(st.booleans()),
        lower=lower,
        upper=upper,
        categories=cats,
        tags=tuple(draw(st.lists(st.sampled_from(list(Tag)), max_size=3, unique=True))),
    )


@given(cols=st.lists(_columns(), max_size=8, unique_by=lambda c: c.name))
def test_any_schema_round_trips(cols: list[ColumnSchema]) -> None:
    schema = TableSchema(columns=tuple(cols))
    assert schema_from_proto(schema_to_proto(schema)) == schema


def test_coerce_schema_reads_text_and_files(tmp_path: Path, adult_schema: TableSchema) -> None:
    path = tmp_path / "schema.json"
    path.write_text(adult_schema.to_json())
    assert convert.coerce_schema(path) == adult_schema
    assert convert.coerce_schema(str(path)) == adult_schema
    assert convert.coerce_schema(adult_schema.to_json()) == adult_schema
    with pytest.raises(InvalidArgument, match="cannot read the schema file"):
        convert.coerce_schema(tmp_path / "missing.json")
    with pytest.raises(InvalidSchema):
        convert.coerce_schema('{"columns": 3}')


# ---- names and values ------------------------------------------------------------


@pytest.mark.parametrize("given_name", ["adult", "sources/adult"])
def test_resource_names(given_name: str) -> None:
    assert convert.resource_name(given_name, "sources") == "sources/adult"


@pytest.mark.parametrize("bad", ["", None, "models/m1", 3])
def test_bad_resource_names_are_refused(bad: object) -> None:
    with pytest.raises(InvalidArgument):
        convert.resource_name(bad, "sources")


@pytest.mark.parametrize(("eps", "delta"), [(-1.0, 1e-6), (float("nan"), 1e-6), (1.0, 1.0), (1.0, -1e-9)])
def test_budget_refuses_nonsense(eps: float, delta: float) -> None:
    with pytest.raises(InvalidArgument):
        Budget(epsilon=eps, delta=delta)


def test_params_keep_whole_numbers_whole() -> None:
    params = {"epochs": 10, "lr": 0.5, "name": "x", "layers": [256, 256], "flag": True}
    back = convert.params_from_struct(convert.params_to_struct(params))
    assert back == params
    assert isinstance(back["epochs"], int)
    with pytest.raises(InvalidArgument):
        convert.params_to_struct({"bad": object()})


def test_a_job_from_a_newer_server_still_reads() -> None:
    msg = jobs_pb2.Job(name="jobs/j1", kind=99, state=jobs_pb2.RUNNING, target="sources/a")  # type: ignore[arg-type]
    job = convert.job_from_proto(msg)
    assert job.kind is JobKind.UNSPECIFIED
    assert job.state is JobState.RUNNING and not job.done
    assert job.error is None and job.create_time is None


def test_job_states_that_are_final() -> None:
    final = {s for s in JobState if s.done}
    assert final == {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED}
    assert convert.job_state_to_proto("running") == jobs_pb2.RUNNING
    with pytest.raises(InvalidArgument, match="unknown job state"):
        convert.job_state_to_proto("SLEEPING")


def test_budget_status_prints_every_charge() -> None:
    msg = sources_pb2.Budget(
        source="sources/adult",
        cap=common_pb2.PrivacyBudget(epsilon=3, delta=1e-5),
        spent=common_pb2.PrivacyBudget(epsilon=1, delta=3e-6),
        remaining=common_pb2.PrivacyBudget(epsilon=2, delta=7e-6),
        entries=[
            sources_pb2.LedgerEntry(
                name="sources/adult/ledger/1", job="jobs/j1", model="models/m1",
                spend=common_pb2.PrivacySpend(purpose="marginals", mechanism="zcdp-gaussian",
                                              epsilon=0.75, delta=1e-6),
            ),
            sources_pb2.LedgerEntry(
                name="sources/adult/ledger/2", job="jobs/j2", refunded=True,
                spend=common_pb2.PrivacySpend(purpose="training", mechanism="dp-sgd/rdp",
                                              epsilon=0.25, delta=2e-6),
            ),
        ],
    )
    status = convert.budget_status_from_proto(msg)
    assert status == BudgetStatus(
        source="sources/adult",
        cap=Budget(3, 1e-5),
        spent=Budget(1, 3e-6),
        remaining=Budget(2, 7e-6),
        entries=(
            LedgerEntry("sources/adult/ledger/1", "jobs/j1", "models/m1",
                        Spend("marginals", "zcdp-gaussian", 0.75, 1e-6)),
            LedgerEntry("sources/adult/ledger/2", "jobs/j2", "",
                        Spend("training", "dp-sgd/rdp", 0.25, 2e-6), refunded=True),
        ),
    )
    text = str(status)
    assert "remaining  ε=2, δ=7e-06" in text
    assert "marginals (zcdp-gaussian): ε=0.75" in text and "models/m1" in text
    assert "(refunded) for jobs/j2" in text


# ---- tables ------------------------------------------------------------------


def test_every_dataframe_kind_sends_the_same_table(adult: pa.Table) -> None:
    small = adult.slice(0, 500)
    expected = small
    for data in (small, small.to_batches()[0], pl.from_arrow(small), small.to_pandas()):
        sent = pq.read_table(io.BytesIO(convert.parquet_bytes(convert.to_arrow(data))))
        # pandas turns nullable integers into floats; compare values, not types, for it.
        if isinstance(data, pd.DataFrame):
            assert sent.column_names == expected.column_names
            assert sent.num_rows == expected.num_rows
            assert sent.column("workclass").to_pylist() == expected.column("workclass").to_pylist()
        else:
            # polars sends large strings; the server reads them as plain strings.
            assert sent.cast(expected.schema).equals(expected)


def test_other_objects_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="cannot send a dict"):
        convert.to_arrow({"a": [1, 2]})


# ---- chunked transfers ------------------------------------------------------------


@pytest.mark.parametrize("as_bytes", [False, True])
def test_upload_sends_the_header_then_the_file_in_order(adult_csv: Path, as_bytes: bool) -> None:
    raw = adult_csv.read_bytes()
    header = sources_pb2.RegisterSourceHeader(source_id="adult", size_bytes=len(raw))
    seen: list[int] = []
    reqs = list(upload_requests(header, raw if as_bytes else adult_csv, on_bytes=seen.append))
    assert reqs[0].WhichOneof("payload") == "header"
    assert reqs[0].header.source_id == "adult"
    chunks = [r.chunk for r in reqs[1:]]
    assert all(r.WhichOneof("payload") == "chunk" for r in reqs[1:])
    assert len(chunks) == -(-len(raw) // (1 << 20))  # 1 MiB chunks
    assert all(len(c.data) == 1 << 20 for c in chunks[:-1])
    assert [c.offset for c in chunks] == [i << 20 for i in range(len(chunks))]
    assert b"".join(c.data for c in chunks) == raw
    assert sum(seen) == len(raw)


def test_a_uri_registration_sends_only_the_header() -> None:
    header = sources_pb2.RegisterSourceHeader(source_id="adult", uri="/data/adult.csv")
    assert [r.WhichOneof("payload") for r in upload_requests(header, None)] == ["header"]


def _chunks(data: bytes, size: int, *, total: int | None = None) -> list[common_pb2.DataChunk]:
    out = [
        common_pb2.DataChunk(data=data[i : i + size], offset=i) for i in range(0, len(data), size)
    ]
    out[0].total_size = len(data) if total is None else total
    return out


def test_download_reassembles_the_chunks() -> None:
    data = bytes(range(256)) * 41
    sink = io.BytesIO()
    totals: list[int] = []
    assert receive(_chunks(data, 1000), sink, on_total=totals.append) == len(data)
    assert sink.getvalue() == data
    assert totals == [len(data)]


def test_a_chunk_out_of_place_is_an_error() -> None:
    chunks = _chunks(b"x" * 3000, 1000)
    chunks[1], chunks[2] = chunks[2], chunks[1]
    with pytest.raises(Internal, match="at byte 2,000 where 1,000 was expected"):
        receive(chunks, io.BytesIO())


def test_a_stream_cut_short_is_an_error() -> None:
    chunks = _chunks(b"x" * 3000, 1000)[:2]
    with pytest.raises(Unavailable, match="stopped after 2,000 of 3,000 bytes"):
        receive(chunks, io.BytesIO())


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.parquet", sources_pb2.PARQUET), ("a.PQ", sources_pb2.PARQUET), ("a.csv", sources_pb2.CSV),
     ("a.bin", sources_pb2.TABLE_FORMAT_UNSPECIFIED)],
)
def test_format_from_the_file_name(name: str, fmt: int) -> None:
    assert format_for(name) == fmt


def test_the_read_retry_policy_names_real_read_methods() -> None:
    from synth.client.config import ClientConfig
    from synth.v1 import datasets_pb2, models_pb2

    files = (sources_pb2, models_pb2, datasets_pb2, jobs_pb2)
    services = {s.full_name: s for f in files for s in f.DESCRIPTOR.services_by_name.values()}
    options = dict(ClientConfig().options())
    config = json.loads(options["grpc.service_config"])
    names = config["methodConfig"][0]["name"]
    assert names
    for n in names:
        method = services[n["service"]].methods_by_name[n["method"]]
        # Only unary reads are retried: nothing that writes, nothing that streams.
        assert n["method"].startswith(("Get", "List"))
        assert not method.client_streaming and not method.server_streaming
    assert "grpc.service_config" not in dict(ClientConfig(retry_reads=False).options())
