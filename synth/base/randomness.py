"""Keyed random streams: every random number of a fit, none of them a function of the seed alone.

DP noise protects only from whoever cannot replay it. A `RandomStreams` holds
a 32-byte key; the service makes it with `RandomStreams.for_job` from the
server secret (`synth.store.secret`), the job id and the caller's seed, so a
caller who knows the seed (and the job id) still cannot recompute a single
draw. Each purpose ("init", "poisson", "noise", "sampling", ...) has its
own stream, keyed by HMAC-SHA256(key, purpose) and drawn from ChaCha20
(randomgen), a cryptographically secure generator: streams of different
purposes are independent, and the draws of one reveal nothing of another.

    streams = RandomStreams.for_job(secret, "j123", caller_seed=7)
    noise = streams.child("noise")          # a family of streams, one per mechanism
    rng = noise.generator("marginal")        # numpy.random.Generator on ChaCha20
    seed = streams.torch_seed("poisson")    # 64 bits for a torch.Generator

The same (key, purpose) always gives the same draws: replaying a job on the
same server gives the same model, and a resumed training continues the
streams it stopped in. Ask for a purpose's `generator` once per mechanism:
two generators of one purpose repeat each other's draws.

`RandomStreams.from_rng` (a plain numpy Generator, for library users and
tests) and `RandomStreams.fresh` (the operating system's randomness) need
no server secret. Streams from `from_rng` are as predictable as the rng they
came from: whoever knows its seed replays every draw. They are for
reproducible experiments, never for a release.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import numpy as np
from randomgen import ChaCha

KEY_BYTES = 32
#: ChaCha's rounds: 20 is the cipher's standard strength (8 and 12 trade it for speed).
ROUNDS = 20

# Labels that keep the three derivations apart: a job key, a child family's key
# and a stream's key are never the HMAC of the same message.
_JOB = b"synth.randomness.v1/job\x00"
_CHILD = b"synth.randomness.v1/child\x00"
_STREAM = b"synth.randomness.v1/stream\x00"
_TORCH = b"synth.randomness.v1/torch\x00"


def _mac(key: bytes, label: bytes, message: bytes) -> bytes:
    return hmac.new(key, label + message, hashlib.sha256).digest()


def _name(purpose: str) -> bytes:
    if not isinstance(purpose, str) or not purpose:
        raise ValueError(f"a stream's purpose is a non-empty string, got {purpose!r}")
    return purpose.encode("utf-8")


class RandomStreams:
    """Independent, reproducible random streams derived from one 32-byte key."""

    __slots__ = ("_key", "secure")

    def __init__(self, key: bytes, *, secure: bool = True) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise ValueError(f"a RandomStreams key is {KEY_BYTES} bytes")
        self._key = key
        #: False for streams from `from_rng`: replayable by whoever knows that rng's seed.
        self.secure = secure

    # --- where the key comes from ---------------------------------------------------------

    @classmethod
    def for_job(cls, secret: bytes, job_id: str, caller_seed: int | None = None) -> RandomStreams:
        """The streams of one job: HMAC-SHA256(secret, job id, caller's seed or none).

        The seed only tells a caller's replays apart; without the secret it
        predicts nothing.
        """
        if len(secret) < KEY_BYTES:
            raise ValueError(f"the server secret must be at least {KEY_BYTES} bytes")
        seed = None if caller_seed is None else int(caller_seed)
        message = json.dumps([job_id, seed], separators=(",", ":")).encode()
        return cls(_mac(secret, _JOB, message))

    @classmethod
    def fresh(cls) -> RandomStreams:
        """Streams keyed by the operating system's randomness: nobody can replay them."""
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def from_rng(cls, rng: np.random.Generator) -> RandomStreams:
        """Streams keyed by 32 bytes drawn from `rng`. NOT secure: `rng`'s seed replays them.

        For library users and tests who pass a plain `numpy.random.Generator`
        and want the same fit again; a release needs `for_job` or `fresh`.
        """
        return cls(rng.bytes(KEY_BYTES), secure=False)

    # --- the streams --------------------------------------------------------------------------

    def child(self, name: str) -> RandomStreams:
        """A family of streams under `name` (e.g. "noise", then one stream per mechanism)."""
        return RandomStreams(_mac(self._key, _CHILD, _name(name)), secure=self.secure)

    def generator(self, purpose: str) -> np.random.Generator:
        """A numpy Generator on ChaCha20 keyed by HMAC(key, purpose), from its start."""
        key = int.from_bytes(_mac(self._key, _STREAM, _name(purpose)), "little")
        return np.random.Generator(ChaCha(key=key, rounds=ROUNDS))

    def torch_seed(self, purpose: str) -> int:
        """64 bits from `purpose`'s own keyed stream, to seed a torch.Generator.

        A torch generator (Mersenne Twister on the CPU, Philox on CUDA) is not
        itself secure; its seed is secret, which is what the draws it drives
        (initial weights, Poisson masks, training-time sampling) need.
        """
        key = int.from_bytes(_mac(self._key, _TORCH, _name(purpose)), "little")
        bits = ChaCha(key=key, rounds=ROUNDS).random_raw()
        # torch.Generator.manual_seed takes [-2**63, 2**64); a uint64 fits.
        return int(bits)

    def __repr__(self) -> str:  # never the key
        return f"RandomStreams(secure={self.secure})"


# --- saving a stream's position (training checkpoints) ------------------------------------


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """A JSON-able snapshot of a ChaCha-backed Generator, for `set_generator_state`.

    It holds the stream's derived key (not the server secret): keep it where
    the training data is, never in anything a caller reads.
    """
    state = rng.bit_generator.state
    if state.get("bit_generator") != "randomgen.chacha.ChaCha":
        raise ValueError(f"not a ChaCha stream: {state.get('bit_generator')}")
    inner = state["state"]
    return {
        "bit_generator": "ChaCha",
        "block": [int(x) for x in inner["block"]],
        "keysetup": [int(x) for x in inner["keysetup"]],
        "ctr": [int(x) for x in inner["ctr"]],
        "rounds": int(inner["rounds"]),
    }


def set_generator_state(rng: np.random.Generator, doc: dict[str, Any]) -> None:
    """Move a ChaCha-backed `rng` to the stream and position `generator_state` saved.

    In place, so that whoever holds `rng` (an optimizer) draws on from there.
    """
    if doc.get("bit_generator") != "ChaCha":
        raise ValueError(f"not a saved ChaCha stream: {doc.get('bit_generator')}")
    if not isinstance(rng.bit_generator, ChaCha):
        raise ValueError("only a ChaCha-backed Generator can take a saved ChaCha state")
    rng.bit_generator.state = {
        "bit_generator": "randomgen.chacha.ChaCha",
        "state": {
            "block": np.array(doc["block"], dtype=np.uint32),
            "keysetup": np.array(doc["keysetup"], dtype=np.uint32),
            "ctr": np.array(doc["ctr"], dtype=np.uint64),
            "rounds": int(doc["rounds"]),
        },
    }
