"""The Evaluate job withholds what fewer than `ServiceConfig.min_group_rows` real rows hold,
and its result says it holds real statistics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import synth
from synth.core.config import ServiceConfig
from synth.server import start_server
from tests.service.fixtures import connect, csv_bytes, register_approved


def _evaluate(folder: Path, adult: pa.Table, **config: Any) -> synth.Evaluation:
    running = start_server(folder / "data", config=ServiceConfig(data_dir=folder / "data", **config))
    try:
        with connect(running) as client:
            (folder / "adult.csv").write_bytes(csv_bytes(adult.slice(0, 2000)))
            # One split seed for both servers: the two evaluations see the same real rows.
            src = register_approved(client, "adult", folder / "adult.csv", split_seed=11,
                                    budget=synth.Budget(epsilon=3.0, delta=1e-6))
            model = client.train(src, generator="dp_marginals", epsilon=1.0).result()
            ds = client.generate(model, rows=1000, seed=5).result()
            return client.evaluate(ds, metrics=("fidelity",)).result()
    finally:
        running.stop(grace=0)


@pytest.fixture(scope="module")
def default_and_strict(tmp_path_factory: pytest.TempPathFactory, adult: pa.Table) -> Iterator[
        tuple[synth.Evaluation, synth.Evaluation]]:
    yield (_evaluate(tmp_path_factory.mktemp("default"), adult),
           _evaluate(tmp_path_factory.mktemp("strict"), adult, min_group_rows=400))


def test_the_service_passes_min_group_rows_to_the_evaluation(
    default_and_strict: tuple[synth.Evaluation, synth.Evaluation],
) -> None:
    default, strict = default_and_strict
    assert ServiceConfig(data_dir=Path(".")).min_group_rows == 10
    assert default.result["options"]["min_group_rows"] == 10
    assert strict.result["options"]["min_group_rows"] == 400

    def country(ev: synth.Evaluation) -> dict[str, Any]:
        return next(d for d in ev.result["distributions"] if d["column"] == "native_country")

    # 2,000 rows of adult: a few countries have 10+ rows, none but the US has 400.
    assert len(country(default)["labels"]) > 1
    assert country(strict)["labels"] == ["United-States"]
    assert country(strict)["withheld"] > country(default)["withheld"] > 0


def test_the_result_says_it_holds_real_statistics_and_scores_leave_the_flag_out(
    default_and_strict: tuple[synth.Evaluation, synth.Evaluation],
) -> None:
    ev = default_and_strict[0]
    assert ev.result["contains_real_statistics"] is True
    assert "owner" in ev.result["real_statistics_note"]
    assert "contains_real_statistics" not in ev.scores and "fidelity.overall" in ev.scores
