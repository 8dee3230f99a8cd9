"""Every bad source is refused with INVALID_ARGUMENT and a message a person can act on;
nothing is stored and no budget exists or is spent afterwards."""

from __future__ import annotations

import io
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth.core.config import ServiceConfig
from synth.server import start_server
from synth.v1 import sources_pb2
from tests.service.fixtures import admin_token
from tests.service.stubs import Stubs, error_info


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def assert_nothing_stored(stubs: Stubs, data_folder: Path, source_id: str = "bad") -> None:
    listed = stubs.sources.ListSources(sources_pb2.ListSourcesRequest())
    assert list(listed.sources) == []
    with pytest.raises(grpc.RpcError) as err:
        stubs.budget(f"sources/{source_id}")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    artifacts = data_folder / "artifacts"
    assert list((artifacts / "sources").iterdir()) == []
    assert list((artifacts / "tmp").iterdir()) == []


def _valid_parquet() -> bytes:
    return parquet_bytes(pa.table({"a": list(range(100)), "b": ["x", "y"] * 50}))


BAD_TABLES = {
    "corrupt parquet": (b"PAR1" + b"\x00garbage" * 100, "corrupt"),
    "truncated parquet": (_valid_parquet()[:-40], "corrupt"),
    "binary junk": (b"\x00\x01\x02\x03" * 1000, "neither Parquet nor text CSV"),
    "empty file": (b"", "no table"),
    "header only csv": (b"a,b,c\n", "no rows"),
    "no columns csv": (b"\n\n\n", "no columns"),
    "no columns parquet": (parquet_bytes(pa.table({})), "no columns"),
    "duplicate names csv": (b"age,age,income\n1,2,x\n3,4,y\n", "duplicate column names: age"),
    "duplicate names parquet": (
        parquet_bytes(pa.Table.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["x", "x"])),
        "duplicate column names: x",
    ),
    "unsupported list type": (
        parquet_bytes(pa.table({"ok": [1, 2], "tags": pa.array([[1], [2, 3]])})),
        "unsupported column types: tags",
    ),
    "unsupported binary type": (
        parquet_bytes(pa.table({"ok": [1, 2], "blob": pa.array([b"a", b"b"], type=pa.binary())})),
        "unsupported column types: blob",
    ),
    "empty parquet": (parquet_bytes(pa.table({"a": pa.array([], pa.int64())})), "no rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_table_is_refused(case: str, stubs: Stubs, data_folder: Path) -> None:
    data, phrase = BAD_TABLES[case]
    with pytest.raises(grpc.RpcError) as err:
        stubs.register("bad", data)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert phrase in err.value.details()
    info = error_info(err.value)
    assert info is not None and info.domain == "synth.dev"
    assert_nothing_stored(stubs, data_folder)


BAD_HEADERS = {
    "bad id": ({"source_id": "Bad Id!"}, "source id 'Bad Id!' is not valid"),
    "zero epsilon": ({"epsilon": 0.0}, "header.budget.epsilon must be a positive number"),
    "delta of one": ({"delta": 1.0}, "header.budget.delta must be in (0, 1)"),
    "holdout too large": ({"holdout_fraction": 0.95}, "header.holdout_fraction must be in [0, 0.9]"),
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_bad_header_is_refused_with_field_violations(
    case: str, stubs: Stubs, data_folder: Path, adult_small_csv: bytes
) -> None:
    overrides, phrase = BAD_HEADERS[case]
    kw = {"epsilon": 3.0, "delta": 1e-6, "source_id": "bad", **overrides}
    source_id = kw.pop("source_id")
    with pytest.raises(grpc.RpcError) as err:
        stubs.register(source_id, adult_small_csv, **kw)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert phrase in err.value.details()
    assert_nothing_stored(stubs, data_folder)


def test_missing_budget_is_refused(stubs: Stubs, data_folder: Path, adult_small_csv: bytes) -> None:
    def upload():  # type: ignore[no-untyped-def]
        yield sources_pb2.RegisterSourceRequest(header=sources_pb2.RegisterSourceHeader(source_id="bad"))

    with pytest.raises(grpc.RpcError) as err:
        stubs.sources.RegisterSource(upload())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "header.budget is required" in err.value.details()
    assert_nothing_stored(stubs, data_folder)


def test_table_over_the_configured_size_is_refused(tmp_path: Path, adult_small_csv: bytes) -> None:
    folder = tmp_path / "small"
    running = start_server(folder, config=ServiceConfig(data_dir=folder, max_source_bytes=50_000))
    s = Stubs.connect(running)
    try:
        with pytest.raises(grpc.RpcError) as err:
            s.register("bad", adult_small_csv)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "over this server's limit of 50,000 bytes" in err.value.details() or "passed this server's limit" in err.value.details()
        assert_nothing_stored(s, folder)
    finally:
        running.stop(grace=0)


def test_a_path_is_refused_when_the_server_has_no_import_roots(admin_stubs: Stubs, data_folder: Path) -> None:
    stubs = admin_stubs
    with pytest.raises(grpc.RpcError) as err:
        stubs.register("bad", None, uri="/no/such/file.csv")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "reads no server-side paths" in err.value.details()
    assert_nothing_stored(stubs, data_folder)


def test_register_by_path(tmp_path: Path, adult_csv_path: Path) -> None:
    """Under an import root the operator listed (tests/service/test_hostile_paths.py has the rest)."""
    folder = tmp_path / "data"
    config = ServiceConfig(data_dir=folder, import_roots=(adult_csv_path.parent,))
    running = start_server(folder, config=config)
    s = Stubs.connect(running, admin_token(running))  # server-side paths: an admin's alone
    try:
        src = s.register("adult", None, uri=str(adult_csv_path), holdout_fraction=0.1, split_seed=3)
        assert src.row_count == 32561 and src.holdout_rows == 3256 and src.split_seed == 3
    finally:
        s.channel.close()
        running.stop(grace=0)


def test_duplicate_source_id_is_refused_and_the_first_kept(
    stubs: Stubs, adult_small_csv: bytes
) -> None:
    first = stubs.register("adult", adult_small_csv)
    with pytest.raises(grpc.RpcError) as err:
        stubs.register("adult", b"a,b\n1,2\n")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    again = stubs.sources.GetSource(sources_pb2.GetSourceRequest(name="sources/adult"))
    assert again.fingerprint == first.fingerprint


def test_schema_mismatch_is_refused(stubs: Stubs, data_folder: Path) -> None:
    from synth.v1 import schema_pb2

    declared = schema_pb2.TableSchema(
        columns=[schema_pb2.ColumnSchema(name="a", kind=schema_pb2.NUMERICAL, arrow_type="int64")]
    )
    with pytest.raises(grpc.RpcError) as err:
        stubs.register("bad", b"a,b\n1,x\n2,y\n", schema=declared)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "do not match the table's" in err.value.details()
    assert_nothing_stored(stubs, data_folder)
