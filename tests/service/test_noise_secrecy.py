"""DP noise is never a function of anything a caller knows: not the seed, not the job.

The service keys every random stream of a fit with the server secret, the job
id and the caller's seed (`synth.base.randomness.RandomStreams.for_job`). A
caller who fixes the seed gets the same model when the same job is replayed
on the same server, and nothing else: re-running the fit with the seed does
not give the model back, and two trainings with one seed draw unrelated noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import synth
from generators import load_generator
from generators.dp_marginals import DPMarginals
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema
from synth.server import RunningServer
from tests.service.fixtures import connect, register_approved

BINS = 200
ROWS = 40_000
SEED = 20240611


def _table() -> tuple[pa.Table, TableSchema]:
    """One numeric column on public bounds: every count is a histogram bin, nothing is selected."""
    values = np.random.default_rng(0).uniform(0.0, 1000.0, ROWS)
    table = pa.table({"v": pa.array(values)})
    schema = TableSchema(
        columns=(
            ColumnSchema(name="v", kind=ColumnKind.NUMERICAL, arrow_type="double",
                         nullable=False, lower=0.0, upper=1000.0),
        )
    )
    return table, schema


def _train(client: synth.Client, folder: Path, source: str, epsilon: float) -> DPMarginals:
    model = client.train(source, generator="dp_marginals", epsilon=epsilon, seed=SEED,
                         bins=BINS, zero_point=False).result(timeout=120)
    assert model.params["seeded"] is True and "seed" not in model.params
    gen = load_generator(folder / "artifacts" / "models" / model.id)
    assert isinstance(gen, DPMarginals)
    return gen


def _train_part(folder: Path) -> pa.Table:
    (path,) = folder.glob("artifacts/sources/**/train.parquet")
    return pq.read_table(path)


def _residuals(gen: DPMarginals, table: pa.Table) -> np.ndarray:
    """The released probabilities times n, minus the true counts: the noise, up to a scale."""
    (marginal,) = gen.marginals
    counts = np.histogram(table.column("v").to_numpy(), bins=marginal.edges)[0]
    return np.asarray(marginal.probs)[: len(counts)] * table.num_rows - counts


def _register(client: synth.Client) -> str:
    table, schema = _table()
    src = register_approved(client, "uniform", table, schema=schema, holdout_fraction=0.0,
                            budget=synth.Budget(epsilon=2.0, delta=1e-6))
    return src.name


def test_knowing_the_seed_does_not_replay_the_noise(fresh_server: RunningServer,
                                                    data_folder: Path) -> None:
    with connect(fresh_server) as client:
        source = _register(client)
        released = _train(client, data_folder, source, epsilon=0.1)
    table = _train_part(data_folder)
    # The attacker knows the table's neighbour, the seed and every parameter, and
    # re-runs the fit the way the service once did: np.random.default_rng(seed).
    assert released.schema is not None
    replay = DPMarginals(**released.params())
    replay.fit(table, released.schema, rng=np.random.default_rng(SEED))
    (mine,), (theirs,) = replay.marginals, released.marginals
    assert not np.array_equal(mine.probs, theirs.probs)
    # Not merely different: the two noises are unrelated.
    r_mine, r_theirs = _residuals(replay, table), _residuals(released, table)
    assert abs(np.corrcoef(r_mine, r_theirs)[0, 1]) < 0.35


def test_one_seed_at_two_epsilons_draws_unrelated_noise(fresh_server: RunningServer,
                                                       data_folder: Path) -> None:
    """Rescaled draws would give the exact counts from the two models, at ε = 0.3 charged."""
    with connect(fresh_server) as client:
        source = _register(client)
        low = _train(client, data_folder, source, epsilon=0.1)
        high = _train(client, data_folder, source, epsilon=0.2)
    table = _train_part(data_folder)
    r_low, r_high = _residuals(low, table), _residuals(high, table)
    assert np.std(r_low) > np.std(r_high) > 1.0  # both noisy, the smaller ε noisier
    # The same draws rescaled correlate at ~1; independent ones at ~0 (sd 1/√200 ≈ 0.07).
    assert abs(np.corrcoef(r_low, r_high)[0, 1]) < 0.35
