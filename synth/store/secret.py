"""The server secret: 32 random bytes made at first start, readable by the server alone.

It keys everything a caller must not be able to compute: the random streams
behind DP noise (with the job id), and the fingerprints of tables. It lives
beside the data (`secret.key`, mode 0600) and never leaves the server; losing
it only means new fingerprints cannot be compared with old ones, and new
jobs draw from new streams.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SECRET_FILE = "secret.key"
SECRET_BYTES = 32


def load_or_create_secret(folder: str | os.PathLike[str]) -> bytes:
    """The secret in `folder`, created (0600, atomically, once) if there is none."""
    path = Path(folder) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    try:
        os.write(fd, os.urandom(SECRET_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    return _read(path)


def _read(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(
            f"{path} is readable by others (mode {mode:o}); it keys the DP noise: "
            f"chmod 600 {path} and restart"
        )
    data = path.read_bytes()
    if len(data) != SECRET_BYTES:
        raise ValueError(
            f"{path} holds {len(data)} bytes, not {SECRET_BYTES}; restore it from a backup, "
            "or remove it to make a new one (old fingerprints then no longer compare)"
        )
    return data
