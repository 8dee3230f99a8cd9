"""Hostile tables: files that decode to far more than they weigh, oversized names and
cells, and the same rows registered again for a fresh budget.

Each is refused at registration with INVALID_ARGUMENT (or ALREADY_EXISTS) naming
the limit, nothing is stored, no ledger appears, and health and ListSources
answer for an honest client afterwards.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth.server import RunningServer
from synth.v1 import sources_pb2
from tests.service.fixtures import csv_bytes, distinct_csv
from tests.service.hostile import (
    assert_nothing_stored,
    connect,
    honest_calls_answer,
    hostile_server,
)
from tests.service.stubs import Stubs

MB = 1 << 20


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def running(folder: Path) -> Iterator[RunningServer]:
    """The issue's setting: a 5 MB upload limit."""
    server = hostile_server(folder, max_source_bytes=5 * MB)
    yield server
    server.stop(grace=0)


def _parquet(write: object) -> bytes:
    buf = io.BytesIO()
    write(buf)  # type: ignore[operator]
    return buf.getvalue()


def _bomb_of_zeros(rows: int, group: int = 1_000_000) -> bytes:
    """`rows` int64 zeros and a constant text: a few hundred KB on disk."""
    schema = pa.schema([("n", pa.int64()), ("s", pa.string())])

    def write(buf: io.BytesIO) -> None:
        with pq.ParquetWriter(buf, schema, compression="zstd") as w:
            for _ in range(rows // group):
                w.write_table(
                    pa.table({"n": pa.array([0] * group, pa.int64()), "s": ["x"] * group}, schema=schema)
                )

    return _parquet(write)


def _bomb_of_long_strings(rows: int, cell: int) -> bytes:
    """One dictionary entry of `cell` bytes repeated `rows` times: decodes to rows × cell."""
    values = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["y" * cell]))

    def write(buf: io.BytesIO) -> None:
        pq.write_table(pa.table({"s": values}), buf, compression="zstd")

    return _parquet(write)


def _refused(running: RunningServer, source_id: str, data: bytes) -> grpc.RpcError:
    stubs = connect(running)
    with pytest.raises(grpc.RpcError) as err:
        stubs.register(source_id, data)
    return err.value


def test_a_20m_row_parquet_under_the_byte_limit_is_refused_from_its_footer(
    running: RunningServer, folder: Path
) -> None:
    bomb = _bomb_of_zeros(20_000_000)
    assert len(bomb) < 5 * MB  # it passes the upload limit (about 200 KB)
    err = _refused(running, "bomb", bomb)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "bytes once decoded (estimated from its footer)" in err.details()
    assert_nothing_stored(connect(running), folder, "bomb")
    honest_calls_answer(running)


def test_a_repeated_long_string_is_counted_before_it_is_expanded(
    running: RunningServer, folder: Path
) -> None:
    bomb = _bomb_of_long_strings(200_000, 1000)  # 200 MB once decoded
    assert len(bomb) < 5 * MB
    err = _refused(running, "strings", bomb)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "bytes once decoded" in err.details()
    assert_nothing_stored(connect(running), folder, "strings")
    honest_calls_answer(running)


def test_rows_and_columns_past_the_limits_are_refused(folder: Path) -> None:
    server = hostile_server(folder, max_source_rows=1000, max_source_columns=50)
    try:
        many_rows = b"a,b\n" + b"1,2\n" * 5000
        wide = pa.table({f"c{i}": [1, 2, 3] for i in range(60)})
        cases = {
            "csv-rows": (many_rows, "5,001 lines"),
            "parquet-rows": (_parquet(lambda b: pq.write_table(pa.table({"a": list(range(2000))}), b)), "2,000 rows"),
            "csv-columns": (csv_bytes(wide), "60 columns"),
            "parquet-columns": (_parquet(lambda b: pq.write_table(wide, b)), "60 columns"),
        }
        for source_id, (data, phrase) in cases.items():
            err = _refused(server, source_id, data)
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, source_id
            assert phrase in err.details(), (source_id, err.details())
        assert_nothing_stored(connect(server), folder, *cases)
        honest_calls_answer(server)
    finally:
        server.stop(grace=0)


def test_a_column_name_of_megabytes_is_refused_and_not_echoed(running: RunningServer, folder: Path) -> None:
    name = "n" * MB
    for source_id, data in (
        ("long-csv", name.encode() + b",b\n1,2\n3,4\n"),
        ("long-parquet", _parquet(lambda b: pq.write_table(pa.table({name: [1, 2], "b": [3, 4]}), b))),
    ):
        err = _refused(running, source_id, data)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "1,048,576 characters long" in err.details()
        assert len(err.details()) < 600
    assert_nothing_stored(connect(running), folder, "long-csv", "long-parquet")
    honest_calls_answer(running)


def test_a_10mb_cell_is_refused_naming_the_column_never_the_value(folder: Path) -> None:
    server = hostile_server(folder)  # 64 MB uploads: the cell itself fits
    try:
        secret = "S3CRET" + "v" * (10 * MB)
        for source_id, data in (
            ("cell-csv", csv_bytes(pa.table({"id": [1, 2, 3], "note": ["a", secret, "c"]}))),
            ("cell-parquet", _parquet(lambda b: pq.write_table(pa.table({"id": [1, 2, 3], "note": ["a", secret, "c"]}), b))),
        ):
            err = _refused(server, source_id, data)
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "column 'note' holds a cell of 10,485,766 bytes" in err.details()
            assert "S3CRET" not in err.details() and len(err.details()) < 600
        assert_nothing_stored(connect(server), folder, "cell-csv", "cell-parquet")
        honest_calls_answer(server)
    finally:
        server.stop(grace=0)


def test_the_same_rows_get_no_fresh_budget_under_a_new_id(
    running: RunningServer, folder: Path, adult: pa.Table
) -> None:
    """Registering a table again (as CSV or Parquet, live or deleted) under a new id is
    refused, naming the source that holds those rows; its ledger does not move."""
    stubs = connect(running)
    table = adult.slice(0, 500)
    first = stubs.register("first", csv_bytes(table), epsilon=1.0)
    budget = stubs.budget(first.name)
    as_parquet = _parquet(lambda b: pq.write_table(table, b))
    for source_id, data in (("again", csv_bytes(table)), ("again-parquet", as_parquet)):
        err = _refused(running, source_id, data)
        assert err.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "a source with the same rows exists: sources/first" in err.details()
    assert stubs.budget(first.name) == budget  # its cap and ledger did not move
    stubs.sources.DeleteSource(sources_pb2.DeleteSourceRequest(name=first.name))
    err = _refused(running, "after-delete", csv_bytes(table))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "sources/first (deleted" in err.details()
    assert_nothing_stored(stubs, folder, "again", "again-parquet", "after-delete")
    assert budget.spent.epsilon == 0 and not budget.entries
    # Other rows are another table.
    assert stubs.register("other", distinct_csv(adult, 1, rows=500)).name == "sources/other"
    honest_calls_answer(running)


def test_the_same_rows_registered_at_once_get_one_budget(
    fresh_server: RunningServer, adult_small_csv: bytes
) -> None:
    """Two registrations of one table racing each other: one source, the other refused."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(2)  # one caller holds two uploads at most

    def register(i: int) -> str:
        s = Stubs.connect(fresh_server)
        try:
            barrier.wait()
            s.register(f"twin-{i}", adult_small_csv)
            return "ok"
        except grpc.RpcError as err:
            return err.code().name
        finally:
            s.channel.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(register, range(2)))
    assert sorted(outcomes) == ["ALREADY_EXISTS", "ok"], outcomes
    s = Stubs.connect(fresh_server)
    listed = s.sources.ListSources(sources_pb2.ListSourcesRequest(page_size=10)).sources
    assert len(listed) == 1


def test_the_same_people_shuffled_or_with_columns_reordered_get_no_fresh_budget(
    fresh_server: RunningServer, adult: pa.Table
) -> None:
    """The attack review registered the same rows shuffled, and with reversed columns."""
    import numpy as np

    s = Stubs.connect(fresh_server)
    table = adult.slice(0, 500)
    s.register("original", csv_bytes(table))
    shuffled = table.take(pa.array(np.random.default_rng(0).permutation(table.num_rows)))
    reordered = table.select(list(reversed(table.column_names)))
    for i, variant in enumerate((shuffled, reordered)):
        with pytest.raises(grpc.RpcError) as err:
            s.register(f"variant-{i}", csv_bytes(variant))
        assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "same rows" in (err.value.details() or "")
