"""Keyed random streams: one per purpose, reproducible from their key, unrelated to each other."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

import generators.dpctgan.networks as networks
import generators.dpctgan.training as training
from generators.dpctgan import DPCTGAN
from synth.base.randomness import (
    RandomStreams,
    generator_state,
    set_generator_state,
)
from synth.base.schema import TableSchema

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))


def _draws(streams: RandomStreams, purpose: str, n: int = 64) -> np.ndarray:
    return streams.generator(purpose).standard_normal(n)


def test_the_same_secret_job_seed_and_purpose_give_the_same_draws() -> None:
    a = RandomStreams.for_job(SECRET, "j1", 7)
    b = RandomStreams.for_job(SECRET, "j1", 7)
    assert np.array_equal(_draws(a, "noise"), _draws(b, "noise"))
    assert a.torch_seed("init") == b.torch_seed("init")
    assert np.array_equal(_draws(a.child("noise"), "age"), _draws(b.child("noise"), "age"))


def test_distinct_purposes_give_different_draws() -> None:
    s = RandomStreams.for_job(SECRET, "j1", 7)
    purposes = ["init", "poisson", "noise", "sampling", "noise/a", "a"]
    draws = [_draws(s, p) for p in purposes]
    for i in range(len(draws)):
        for j in range(i + 1, len(draws)):
            assert not np.array_equal(draws[i], draws[j]), (purposes[i], purposes[j])
    # A family is not its own stream, nor a stream of the parent with a joined name.
    assert not np.array_equal(_draws(s.child("noise"), "a"), _draws(s, "noise"))
    assert not np.array_equal(_draws(s.child("noise"), "a"), _draws(s, "noise/a"))
    assert len({s.torch_seed(p) for p in ("init", "poisson", "sampling")}) == 3
    assert s.torch_seed("init") != int(s.generator("init").bit_generator.random_raw())


def test_a_different_secret_job_or_seed_gives_different_draws() -> None:
    base = _draws(RandomStreams.for_job(SECRET, "j1", 7), "noise")
    for other in (
        RandomStreams.for_job(OTHER_SECRET, "j1", 7),
        RandomStreams.for_job(SECRET, "j2", 7),
        RandomStreams.for_job(SECRET, "j1", 8),
        RandomStreams.for_job(SECRET, "j1", None),
    ):
        assert not np.array_equal(base, _draws(other, "noise"))
    # (job "j1", seed 23) and (job "j12", seed 3) are different messages.
    assert not np.array_equal(
        _draws(RandomStreams.for_job(SECRET, "j1", 23), "noise"),
        _draws(RandomStreams.for_job(SECRET, "j12", 3), "noise"),
    )


def test_the_seed_alone_predicts_nothing_a_plain_generator_would() -> None:
    """The old service drew everything from np.random.default_rng(seed)."""
    seed = 12345
    ours = _draws(RandomStreams.for_job(SECRET, "j1", seed), "noise", 1000)
    theirs = np.random.default_rng(seed).standard_normal(1000)
    assert abs(np.corrcoef(ours, theirs)[0, 1]) < 0.15


def test_streams_are_chacha20_and_look_normal() -> None:
    g = RandomStreams.for_job(SECRET, "j1").generator("noise")
    assert type(g.bit_generator).__name__ == "ChaCha"
    assert g.bit_generator.state["state"]["rounds"] == 20
    z = g.standard_normal(200_000)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01


def test_keys_are_checked_and_never_shown() -> None:
    with pytest.raises(ValueError):
        RandomStreams(b"short")
    with pytest.raises(ValueError):
        RandomStreams.for_job(b"short secret", "j1")
    with pytest.raises(ValueError):
        RandomStreams(SECRET).generator("")
    s = RandomStreams.for_job(SECRET, "j1")
    assert SECRET.hex() not in repr(s) and "secure=True" in repr(s)


def test_from_rng_is_reproducible_and_marked_not_secure() -> None:
    a = RandomStreams.from_rng(np.random.default_rng(3))
    b = RandomStreams.from_rng(np.random.default_rng(3))
    assert not a.secure and RandomStreams.fresh().secure
    assert np.array_equal(_draws(a, "noise"), _draws(b, "noise"))
    assert not np.array_equal(_draws(a, "noise"), _draws(RandomStreams.fresh(), "noise"))
    assert not a.child("noise").secure


def test_a_saved_stream_continues_where_it_stopped() -> None:
    g = RandomStreams.for_job(SECRET, "j1").generator("noise")
    g.standard_normal(7, dtype=np.float32)  # an odd position inside a ChaCha block
    doc = json.loads(json.dumps(generator_state(g)))  # it goes through JSON in a checkpoint
    assert SECRET.hex() not in json.dumps(doc)
    ahead = g.standard_normal(100, dtype=np.float32)
    other = RandomStreams.for_job(SECRET, "j2").generator("noise")
    set_generator_state(other, doc)
    assert np.array_equal(other.standard_normal(100, dtype=np.float32), ahead)
    with pytest.raises(ValueError):
        set_generator_state(np.random.default_rng(0), doc)


# --- the generators draw each kind of randomness from its own stream ------------------------


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_dpctgan_first_poisson_mask_is_independent_of_the_initial_weights(
    adult: pa.Table, adult_schema: TableSchema, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one generator for both, the first mask's uniforms were the weights' (on the CPU)."""
    table = adult.slice(0, 2000)
    weights: list[torch.Tensor] = []
    masks: list[np.ndarray] = []
    init_linear = networks.init_linear
    from_streams = training.TrainingRandomness.from_streams

    def spy_init(layer: torch.nn.Linear, gen: torch.Generator) -> None:
        init_linear(layer, gen)
        weights.append(layer.weight.detach().clone())

    class SpyMasks:
        """The Poisson stream, recording the uniforms of each mask over the rows."""

        def __init__(self, inner: np.random.Generator) -> None:
            self.inner = inner

        def random(self, n: int) -> np.ndarray:
            out = self.inner.random(n)
            masks.append(out.copy())
            return out

    def spy_streams(streams: Any, device: torch.device) -> Any:
        rand = from_streams(streams, device)
        rand.poisson = SpyMasks(rand.poisson)  # type: ignore[assignment]
        return rand

    monkeypatch.setattr(networks, "init_linear", spy_init)
    monkeypatch.setattr(training.TrainingRandomness, "from_streams", staticmethod(spy_streams))
    gen = DPCTGAN(epsilon=1.0, epochs=1, batch_size=500, generator_dim=(32,),
                  discriminator_dim=(32,), embedding_dim=8, device="cpu")
    gen.fit(table, adult_schema, rng=np.random.default_rng(0))
    assert weights and masks
    w = weights[0]  # the generator's first layer: kaiming_uniform_, bound 1/sqrt(fan_in)
    bound = 1 / math.sqrt(w.shape[1])
    uniforms = ((w.flatten() + bound) / (2 * bound)).double().numpy()
    k = min(len(uniforms), table.num_rows)
    first_mask = masks[0][:k]
    assert not np.allclose(uniforms[:k], first_mask, atol=1e-4)
    assert abs(np.corrcoef(uniforms[:k], first_mask)[0, 1]) < 0.1
