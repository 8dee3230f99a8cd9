"""Each generator's declared capabilities match what its constructor and class really accept."""

from __future__ import annotations

import inspect

import pytest

from generators import Generator, available_generators, generator_class
from synth.base.errors import InvalidArgument, PrivacyError

KINDS = available_generators()


def _params(cls: type[Generator]) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters)


def test_the_built_in_generators_are_all_checked() -> None:
    assert {"aim", "dp_marginals", "dpctgan"} <= set(KINDS)


def test_the_base_declares_the_least() -> None:
    assert Generator.checkpointing is False
    assert Generator.non_private is False
    assert Generator.devices == ("cpu",)


@pytest.mark.parametrize("kind", KINDS)
def test_checkpointing_matches_the_signature_and_resume(kind: str) -> None:
    cls = generator_class(kind)
    params = _params(cls)
    assert ("checkpoint_dir" in params) is cls.checkpointing
    assert ("checkpoint_every" in params) is cls.checkpointing
    resume = inspect.getattr_static(cls, "resume", None)
    assert isinstance(resume, classmethod) is cls.checkpointing


@pytest.mark.parametrize("kind", KINDS)
def test_non_private_matches_allow_non_private(kind: str) -> None:
    cls = generator_class(kind)
    assert ("allow_non_private" in _params(cls)) is cls.non_private
    if cls.non_private:
        assert cls(epsilon=None, allow_non_private=True).epsilon is None  # type: ignore[call-arg]
        with pytest.raises(PrivacyError):
            cls(epsilon=None)


@pytest.mark.parametrize("kind", KINDS)
def test_devices_match_the_device_argument(kind: str) -> None:
    cls = generator_class(kind)
    assert "cpu" in cls.devices
    assert set(cls.devices) <= {"cpu", "cuda"}
    assert len(set(cls.devices)) == len(cls.devices)
    assert ("device" in _params(cls)) is ("cuda" in cls.devices)
    if "cuda" in cls.devices:
        gen = cls(epsilon=1.0, device="cpu")  # type: ignore[call-arg]
        assert gen.params()["device"] == "cpu"
        with pytest.raises(InvalidArgument):
            cls(epsilon=1.0, device="tpu")  # type: ignore[call-arg]


def test_what_each_built_in_generator_declares() -> None:
    declared = {
        k: (generator_class(k).checkpointing, generator_class(k).non_private, generator_class(k).devices)
        for k in ("aim", "dp_marginals", "dpctgan")
    }
    assert declared == {
        "aim": (False, False, ("cpu",)),
        "dp_marginals": (False, False, ("cpu",)),
        "dpctgan": (True, True, ("cpu", "cuda")),
    }
