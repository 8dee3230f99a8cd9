"""The HTML report: self-contained, written atomically, and readable in a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from evaluators import EvaluateOptions, EvaluationResult, evaluate

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def evaluation(adult_split: tuple[pa.Table, pa.Table], shuffled: pa.Table) -> EvaluationResult:
    train, hold = adult_split
    opts = EvaluateOptions(max_dcr_queries=1000, max_mia_targets=1000, singling_out_attacks=50,
                           linkability_attacks=200, inference_attacks=200, detection_rows=500,
                           efficacy_rows=2000)
    return evaluate(shuffled, train, hold, target="income", seed=0, options=opts)


def test_report_is_self_contained(evaluation: EvaluationResult) -> None:
    html = evaluation.report_html()
    assert html.startswith("<!DOCTYPE html>")
    for needle in ("<script", "<link", "src=", "url(", "@import"):
        assert needle not in html
    # the only URL is the SVG namespace, which is a name, not a fetch
    assert set(re.findall(r"https?://[^\"' ]+", html)) <= {"http://www.w3.org/2000/svg"}
    for section in ("re-identification risk", "Distributions: real vs synthetic", "Column pair trends",
                    "Membership inference AUC", "Singling out risk", "ML efficacy"):
        assert section in html
    assert html.count("<svg") >= len(evaluation.columns) + 2  # one chart per column + heatmap + intervals


def test_write_report_is_atomic(evaluation: EvaluationResult, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "report.html"
    evaluation.write_report(str(path))
    assert path.read_text(encoding="utf-8") == evaluation.report_html()
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temporary left behind


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_report_renders_in_headless_chromium(evaluation: EvaluationResult, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    evaluation.write_report(str(page))
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1800"]
    subprocess.run([str(CHROMIUM), *flags, f"--screenshot={shot}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 30_000  # a blank page compresses to a few kB
    dom = subprocess.run([str(CHROMIUM), *flags, "--dump-dom", page.as_uri()],
                         check=True, capture_output=True, timeout=120, text=True).stdout
    assert "Synthetic data evaluation" in dom and "<svg" in dom
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
