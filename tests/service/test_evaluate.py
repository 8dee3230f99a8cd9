"""The Evaluate job: scores stored as an Evaluation with its HTML report, for the owner."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

import synth
from synth.server import start_server
from tests.service.fixtures import connect, csv_bytes, register_approved


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, adult: pa.Table):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("evaluate")
    running = start_server(folder / "data")
    client = connect(running)
    src_path = folder / "adult.csv"
    src_path.write_bytes(csv_bytes(adult.slice(0, 4000)))
    src = register_approved(client, "adult", src_path, budget=synth.Budget(epsilon=3.0, delta=1e-6))
    model = client.train(src, generator="dp_marginals", epsilon=1.0).result()
    ds = client.generate(model, rows=3000, seed=5).result()
    yield client, src, ds
    client.close()
    running.stop(grace=0)


def test_evaluate_stores_scores_and_a_report(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, src, ds = trained
    ev = client.evaluate(ds, target="income", metrics=("fidelity", "efficacy", "exact_matches", "distance")).result()
    assert ev.dataset == ds.name and ev.source == src.name
    assert 0.5 < ev.scores["fidelity.overall"] <= 1.0
    assert 0 <= ev.scores["distance.dcr_share.value"] <= 1
    assert "efficacy.synthetic_score" in ev.scores
    assert ev.result["fidelity"]["overall"] == pytest.approx(ev.scores["fidelity.overall"])
    assert ev.flagged is False
    again = client.get_evaluation(ev.name)
    assert again.scores == ev.scores
    assert [e.name for e in client.list_evaluations(parent=ds)] == [ev.name]
    report = client.download_report(ev, tmp_path / "report.html")
    html = report.read_text()
    assert report.stat().st_size == ev.report_size
    assert "<html" in html.lower()
    # Self-contained: nothing is fetched when it opens (SVG namespaces are names, not fetches).
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:|url\(\s*["']?https?:|@import""", html)


def test_evaluate_refuses_bad_requests(trained) -> None:  # type: ignore[no-untyped-def]
    client, _, ds = trained
    with pytest.raises(synth.InvalidArgument, match="target 'nope' is not a column"):
        client.evaluate(ds, target="nope")
    with pytest.raises(synth.InvalidArgument, match="unknown metrics"):
        client.evaluate(ds, metrics=("vibes",))
    with pytest.raises(synth.NotFound):
        client.evaluate("datasets/nope")


def test_cli_evaluate_prints_scores_and_writes_the_report(trained, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from synth.cli import main

    client, _, ds = trained
    # The CLI calls as the source's owner (evaluations are the owner's alone).
    monkeypatch.setenv("SYNTH_TOKEN", dict(client.config.metadata)["authorization"].split()[1])
    report = tmp_path / "r.html"
    code = main(
        ["evaluate", ds.name, "--server", client.address, "--metric", "fidelity", "--metric", "exact_matches",
         "--wait", "-q", "--report", str(report)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "quality" in out and str(report) in out
    assert report.read_text().lower().startswith("<!doctype html>")
    assert main(["evaluations", "list", "--server", client.address, "--parent", ds.name]) == 0
    assert "evaluations/" in capsys.readouterr().out
    assert main(["evaluate", ds.name, "--server", client.address, "--target", "nope", "-q"]) == 2
    assert "target 'nope' is not a column" in capsys.readouterr().err
