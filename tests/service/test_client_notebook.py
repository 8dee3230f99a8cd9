"""The quickstart notebook runs, cell by cell, against a real server (so it cannot rot)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synth.server import RunningServer

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"


def test_the_quickstart_notebook_runs(
    server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for cell in code:
        exec(compile(cell.replace("localhost:50051", server.address), str(NOTEBOOK), "exec"), namespace)
    assert pq.read_table(tmp_path / "adult_synth.parquet").num_rows == 10_000
    assert namespace["src"].schema["age"].upper == 90  # type: ignore[attr-defined]
