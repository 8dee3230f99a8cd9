"""The `synth` command, run in process (main([...])) against a real server on port 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synth.base.tableio import read_metadata
from synth.cli import main
from synth.client import Client
from synth.core.config import DEFAULT_SIZE_EPSILON as SIZE
from synth.server import RunningServer

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], server: RunningServer, *argv: str) -> dict:  # type: ignore[type-arg]
    code, out, err = run(capsys, *argv, "--server", server.address, "--json", "-q")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def assert_one_line_error(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synth: error: "), err
    assert "Traceback" not in err


def test_demo_end_to_end(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_path = tmp_path / "demo" / "adult_synth.parquet"
    code, out, err = run(capsys, "demo", "--rows", "2000", "--out", str(out_path))
    assert code == 0, err
    table = pq.read_table(out_path)
    assert table.num_rows == 2000 and table.num_columns == 15
    assert "2,000" in out and "15 (age" in out
    assert out.strip().splitlines()[-1] == str(out_path.resolve())
    epsilon = float(read_metadata(out_path)["synth.epsilon"])
    assert 0 < epsilon <= 1.0
    assert "spent of the cap ε=3" in out
    assert "approved the proposed schema (version 1) as is" in err  # and says so
    assert "approved as proposed" in out
    assert "100%" in err  # progress bars went to stderr


def test_the_verbs_mirror_the_sdk(
    capsys: pytest.CaptureFixture[str], server: RunningServer, client: Client,
    adult_csv: Path, tmp_path: Path,
) -> None:
    s = ("--server", server.address)
    src = run_json(capsys, server, "sources", "register", "cli-adult", str(adult_csv),
                   "--epsilon", "3", "--delta", "1e-5", "--split-seed", "4")
    assert src["name"] == "sources/cli-adult" and src["row_count"] == 32_561
    code, out, _ = run(capsys, "sources", "list", *s)
    assert code == 0 and "sources/cli-adult: 32,561 rows" in out
    code, out, _ = run(capsys, "sources", "get", "cli-adult", *s)
    assert code == 0 and out.startswith("sources/cli-adult")

    schema_file = tmp_path / "schema.json"
    code, out, _ = run(capsys, "sources", "schema", "cli-adult", "-o", str(schema_file), *s)
    assert code == 0
    schema = json.loads(schema_file.read_text())
    schema["columns"][0].update(lower=17, upper=90)
    schema_file.write_text(json.dumps(schema))
    updated = run_json(capsys, server, "sources", "update-schema", "cli-adult", str(schema_file))
    assert updated["schema"]["columns"][0]["lower"] == 17
    assert client.schema("cli-adult")["age"].upper == 90

    # The schema is pending: training is refused, naming how to approve; then approve it.
    assert updated["schema_state"] == "pending"
    code, _, err = run(capsys, "train", "cli-adult", "--epsilon", "1", *s)
    assert code == 1
    assert_one_line_error(err)
    assert "synth sources approve-schema sources/cli-adult" in err
    code, out, err = run(capsys, "sources", "approve-schema", "cli-adult",
                         "--version", str(updated["schema_version"]), *s)
    assert code == 0, err
    assert f"approved schema version {updated['schema_version']}" in err
    assert "schema approved" in out

    model = run_json(capsys, server, "train", "cli-adult", "--epsilon", "1", "--wait",
                     "--generator", "dp_marginals",
                     "--param", "bins=64", "--idempotency-key", "cli-train-1")
    assert model["source"] == "sources/cli-adult" and model["params"]["bins"] == 64
    ds = run_json(capsys, server, "generate", model["name"], "--rows", "500", "--seed", "1", "--wait")
    assert ds["rows"] == 500 and ds["model"] == model["name"]

    target = tmp_path / "out.parquet"
    code, out, _ = run(capsys, "download", ds["name"], "-o", str(target), *s)
    assert code == 0 and out.strip() == str(target)
    assert pq.read_table(target).num_rows == 500

    budget = run_json(capsys, server, "budget", "cli-adult")
    assert budget["spent"]["epsilon"] == pytest.approx(model["epsilon"] + SIZE)  # and the size
    code, out, _ = run(capsys, "budget", "cli-adult", *s)
    assert "remaining" in out and model["name"] in out

    jobs = run_json(capsys, server, "jobs", "list", "--target", "sources/cli-adult")
    assert [j["name"] for j in jobs] == [model["job"]]
    assert run_json(capsys, server, "jobs", "get", ds["job"])["state"] == "SUCCEEDED"
    code, out, _ = run(capsys, "jobs", "watch", ds["job"], *s)
    assert code == 0 and "SUCCEEDED" in out
    assert [m["name"] for m in run_json(capsys, server, "models", "list", "--source", "cli-adult")] == [
        model["name"]
    ]
    assert run_json(capsys, server, "models", "get", model["name"])["name"] == model["name"]
    listed = run_json(capsys, server, "datasets", "list", "--parent", model["name"])
    assert [d["name"] for d in listed] == [ds["name"]]
    assert run_json(capsys, server, "datasets", "get", ds["name"])["rows"] == 500

    # A job submitted without --wait, then followed.
    job = run_json(capsys, server, "generate", model["name"], "--rows", "100")
    assert job["name"].startswith("jobs/") and job["kind"] == "GENERATE"
    code, out, _ = run(capsys, "jobs", "watch", job["name"], "-q", *s)
    assert code == 0 and job["name"] in out


def test_errors_are_one_line_with_the_right_exit_code(
    capsys: pytest.CaptureFixture[str], server: RunningServer, adult_csv: Path, tmp_path: Path
) -> None:
    s = ("--server", server.address)
    small = tmp_path / "small.csv"  # rows of its own: the same rows twice are refused
    small.write_text("".join(adult_csv.read_text().splitlines(keepends=True)[:1500]))
    code, _, err = run(capsys, "sources", "register", "cli-small", str(small),
                       "--epsilon", "0.5", "--delta", "1e-5", "-q", *s)
    assert code == 0, err
    code, _, err = run(capsys, "sources", "approve-schema", "cli-small", "-q", *s)
    assert code == 0, err
    code, _, err = run(capsys, "train", "cli-small", "--epsilon", "5", *s)
    assert code == 1
    assert_one_line_error(err)
    assert "left" in err or "remain" in err

    code, _, err = run(capsys, "sources", "get", "no-such-source", *s)
    assert code == 1
    assert_one_line_error(err)

    code, _, err = run(capsys, "sources", "register", "x", str(adult_csv.with_name("nope.csv")),
                       "--epsilon", "1", *s)
    assert code == 2
    assert_one_line_error(err)

    code, _, err = run(capsys, "train", "cli-small", "--epsilon", "0.1", "--param", "novalue", *s)
    assert code == 2
    assert_one_line_error(err)

    bad = adult_csv.parent / "README.md"  # not a table
    code, _, err = run(capsys, "sources", "register", "x", str(bad), "--epsilon", "1", "-q", *s)
    assert code == 2
    assert_one_line_error(err)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "train", "some-source")  # --epsilon is required
    assert code == 2 and "--epsilon" in err
    code, _, _ = run(capsys, "no-such-verb")
    assert code == 2


def test_an_unreachable_server_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTH_SERVER", "127.0.0.1:1")
    code, _, err = run(capsys, "sources", "list")
    assert code == 1
    assert_one_line_error(err)
    assert "127.0.0.1:1" in err


def test_serve_runs_until_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "synth", "serve", "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("synth serving on "), line + proc.stderr.read() if proc.stderr else ""
        address = line.split()[3]
        with Client.connect(address, wait_ready=30) as c:
            assert c.list_sources() == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
