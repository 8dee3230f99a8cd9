"""The server secret: made once with mode 0600, read back the same, refused when exposed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from synth.store.secret import SECRET_BYTES, SECRET_FILE, load_or_create_secret


def test_made_once_private_and_stable(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    path = tmp_path / SECRET_FILE
    assert len(first) == SECRET_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(tmp_path) == first
    assert load_or_create_secret(tmp_path / "other") != first


def test_a_secret_others_can_read_is_refused(tmp_path: Path) -> None:
    load_or_create_secret(tmp_path)
    (tmp_path / SECRET_FILE).chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_secret(tmp_path)


def test_a_truncated_secret_is_refused(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILE
    path.write_bytes(b"short")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="not 32"):
        load_or_create_secret(tmp_path)
