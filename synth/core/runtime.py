"""Where a local `synth serve` says which data folder it serves (a runtime record).

`synth serve` writes `server-<port>.json` (its pid, address and data folder;
never a token) to a per-user runtime folder while it runs, as Jupyter does,
so an SDK or CLI on the same machine, pointed at a loopback port, can find
that server's `admin.token` without being told where the data lives. Only
the user who can read the data folder can read the token it points to.

The folder: $SYNTH_RUNTIME_DIR, else $XDG_RUNTIME_DIR/synth, else
~/.local/share/synth/runtime (mode 0700).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from synth.core.bootstrap import write_secret_file

log = logging.getLogger(__name__)


def runtime_dir() -> Path:
    if os.environ.get("SYNTH_RUNTIME_DIR"):
        return Path(os.environ["SYNTH_RUNTIME_DIR"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "synth"
    return Path.home() / ".local" / "share" / "synth" / "runtime"


def _record_path(port: int) -> Path:
    return runtime_dir() / f"server-{int(port)}.json"


def write_record(port: int, host: str, data_dir: str | os.PathLike[str]) -> Path | None:
    """Record that this process serves `data_dir` on `host:port`; the file written, or
    None when the runtime folder cannot be written (clients then need the token given)."""
    try:
        return _write(port, host, data_dir)
    except OSError as exc:
        log.warning("cannot write the runtime record in %s: %s", runtime_dir(), exc)
        return None


def _write(port: int, host: str, data_dir: str | os.PathLike[str]) -> Path:
    folder = runtime_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    record = {
        "pid": os.getpid(),
        "host": host,
        "port": port,
        "data_dir": str(Path(data_dir).resolve()),
    }
    path = _record_path(port)
    write_secret_file(path, json.dumps(record) + "\n")
    return path


def remove_record(port: int) -> None:
    """Remove this process's record of `port` (another process's is left alone)."""
    path = _record_path(port)
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink(missing_ok=True)
    except (OSError, ValueError, AttributeError):
        pass


def data_dir_serving(port: int) -> Path | None:
    """The data folder of the live local server on `port`, per its record; None if none."""
    found = serving(port)
    return None if found is None else found[0]


def serving(port: int) -> tuple[Path, str] | None:
    """(data folder, bound host) of the live local server on `port`; None if none.

    The host matters: a client must dial exactly that address before it sends
    the folder's admin token, or whoever binds the same port on another
    loopback address (::1 beside 127.0.0.1) receives it.
    """
    path = _record_path(port)
    try:
        if hasattr(os, "getuid") and path.stat().st_uid != os.getuid():
            return None  # only records this user wrote
        record = json.loads(path.read_text(encoding="utf-8"))
        pid, folder, host = int(record["pid"]), Path(record["data_dir"]), str(record["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # a record left by a server that died
    except PermissionError:
        return None  # another user's process: not ours to read
    return folder, host
