"""Server-side paths (`uri=`): off unless the operator lists import roots; never the data
folder; no symlink out of a root; one answer for missing and forbidden paths.

The issue's attacks: another source's stored `train.parquet` registered with a new
cap, and `/etc/os-release` read back through the schema. Each is refused, nothing
is stored, and the refusal text is the same whether the path exists or not.
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pyarrow as pa
import pytest

from synth.server import RunningServer
from tests.service.fixtures import csv_bytes, distinct_csv
from tests.service.hostile import (
    assert_nothing_stored,
    connect,
    honest_calls_answer,
    hostile_server,
)


def _refused(server: RunningServer, source_id: str, uri: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        connect(server).register(source_id, None, uri=uri)
    return err.value


def test_paths_are_off_by_default(tmp_path: Path) -> None:
    server = hostile_server(tmp_path / "data")
    try:
        for uri in ("/etc/os-release", "/no/such/file.csv"):
            err = _refused(server, "by-path", uri)
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "reads no server-side paths" in err.details()
        assert_nothing_stored(connect(server), tmp_path / "data", "by-path")
        honest_calls_answer(server)
    finally:
        server.stop(grace=0)


@pytest.fixture
def rooted(tmp_path: Path, adult: pa.Table) -> tuple[RunningServer, Path, Path]:
    """A server whose import root holds a table, its own data folder, and a link out."""
    root = tmp_path / "imports"
    root.mkdir()
    (root / "ok.csv").write_bytes(distinct_csv(adult, 0, rows=300))
    outside = tmp_path / "outside.csv"
    outside.write_bytes(distinct_csv(adult, 1, rows=300))
    (root / "link-out.csv").symlink_to(outside)
    (root / "link-etc").symlink_to("/etc")
    # The worst case: the data folder under the root itself.
    data = root / "data"
    return hostile_server(data, import_roots=(root,)), root, outside


def test_only_files_under_a_root_are_read(rooted: tuple[RunningServer, Path, Path], adult: pa.Table) -> None:
    server, root, outside = rooted
    try:
        stubs = connect(server)
        ok = stubs.register("inside", None, uri=str(root / "ok.csv"))
        assert ok.row_count == 300
        # another source's stored rows, under the root but inside the data folder
        train = next((root / "data" / "artifacts" / "sources").rglob("train.parquet"))
        attacks = {
            "missing": str(root / "nope.csv"),
            "outside": str(outside),
            "os-release": "/etc/os-release",
            "symlink out": str(root / "link-out.csv"),
            "symlink to /etc": str(root / "link-etc" / "os-release"),
            "dot-dot": f"{root}/../outside.csv",
            "relative": "outside.csv",
            "data folder": str(train),
            "database": str(root / "data" / "synth.db"),
            "admin token": str(root / "data" / "admin.token"),
            "file uri": f"file://{outside}",
            "a folder": str(root),
        }
        texts = set()
        for i, (case, uri) in enumerate(attacks.items()):
            err = _refused(server, f"attack-{i}", uri)
            assert err.code() == grpc.StatusCode.NOT_FOUND, (case, err.details())
            texts.add(err.details())
        assert len(texts) == 1  # missing and forbidden answer alike: no oracle
        assert "/" not in texts.pop().split("(")[0]  # the path is not echoed
        assert_nothing_stored(stubs, root / "data", *(f"attack-{i}" for i in range(len(attacks))))
        assert stubs.budget("sources/inside").spent.epsilon == 0
        honest_calls_answer(server)
    finally:
        server.stop(grace=0)


def test_an_unreadable_file_under_a_root_answers_like_a_missing_one(
    rooted: tuple[RunningServer, Path, Path], adult: pa.Table
) -> None:
    server, root, _ = rooted
    if os.geteuid() == 0:
        pytest.skip("root reads every file; permissions cannot make one unreadable")
    try:
        locked = root / "locked.csv"
        locked.write_bytes(csv_bytes(adult.slice(5, 100)))
        locked.chmod(0)
        missing = _refused(server, "a", str(root / "missing.csv"))
        forbidden = _refused(server, "b", str(locked))
        assert forbidden.code() == missing.code() == grpc.StatusCode.NOT_FOUND
        assert forbidden.details() == missing.details()
    finally:
        server.stop(grace=0)


def test_synth_serve_takes_import_roots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`synth serve --import-root A --import-root B` puts both, resolved, in the config."""
    from synth import server as server_module
    from synth.cli import commands
    from synth.cli.parser import build_parser

    seen = {}

    def fake_serve_forever(data_dir: Path, *, config: object, **kw: object) -> None:
        seen["config"] = config

    monkeypatch.setattr(server_module, "serve_forever", fake_serve_forever)
    args = build_parser().parse_args(
        ["serve", "--data-dir", str(tmp_path / "d"), "--import-root", str(tmp_path / "a"),
         "--import-root", "b", "--upload-idle-timeout", "5"]
    )
    assert commands.serve(args) == 0
    config = seen["config"]
    assert config.import_roots == (tmp_path / "a", Path("b").resolve())  # type: ignore[attr-defined]
    assert config.upload_idle_timeout_s == 5  # type: ignore[attr-defined]
    default = build_parser().parse_args(["serve"])
    assert default.import_root == []


def test_synth_serve_refuses_a_limit_out_of_range(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from synth.cli import main

    code = main(["serve", "--data-dir", str(tmp_path / "d"), "--max-concurrent-uploads", "100"])
    assert code == 2
    assert "must be below rpc_threads" in capsys.readouterr().err
