"""Which token and which channel security a client uses for a server.

The token, first found wins:

1. the `token=` argument (`--token` at the shell);
2. the `SYNTH_TOKEN` environment variable;
3. the credentials file, `$SYNTH_CREDENTIALS` or `~/.config/synth/credentials`
   (`$XDG_CONFIG_HOME/synth/credentials`): TOML, one table per server target,
   refused when others may read it (as ssh refuses a private key)::

       ["synth.example.com:443"]
       token = "synth_..."
       ca_cert = "/etc/synth/ca.pem"      # optional: TLS with this CA
       # tls = true                       # TLS with the system's CAs
       # client_cert = "...", client_key = "..."   # mutual TLS

4. for a loopback target only, the `admin.token` of the local server's data
   folder: `data_dir=`, else `$SYNTH_DATA_DIR`, else the folder the running
   `synth serve` on that port recorded (`synth.core.runtime`). This keeps a
   notebook next to its own server zero-config; a remote target never gets it.

No token is ever sent to a target it was not given for, except the explicit
argument and `SYNTH_TOKEN`, which the caller chose.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc

from synth.base.errors import InvalidArgument
from synth.core.bootstrap import read_admin_token
from synth.core.runtime import serving

ENV_TOKEN = "SYNTH_TOKEN"
ENV_CREDENTIALS = "SYNTH_CREDENTIALS"
ENV_DATA_DIR = "SYNTH_DATA_DIR"

PemSource = str | os.PathLike[str] | bytes


@dataclass(frozen=True)
class SavedTarget:
    """One server's entry in the credentials file."""

    token: str | None = None
    tls: bool = False
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(ENV_CREDENTIALS):
        return Path(env[ENV_CREDENTIALS]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "synth" / "credentials"


def _norm(target: str) -> str:
    return target.strip().removeprefix("dns:///").lower()


def saved_target(target: str, path: Path | None = None) -> SavedTarget | None:
    """`target`'s entry in the credentials file; None when there is no file or entry."""
    path = credentials_path() if path is None else path
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise PermissionError(
            f"{path} may be read by others (mode {mode:o}) and holds tokens: chmod 600 {path}"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user; synth reads only your own")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"{path} is not valid TOML: {exc}") from None
    entries = {_norm(k): v for k, v in doc.items() if isinstance(v, dict)}
    entry = entries.get(_norm(target))
    if entry is None:
        return None
    known = {"token", "tls", "ca_cert", "client_cert", "client_key"}
    if unknown := sorted(set(entry) - known):
        raise InvalidArgument(
            f"{path}, [{target!r}]: unknown keys {unknown}; the keys are {sorted(known)}"
        )

    def file(key: str) -> Path | None:
        value = entry.get(key)
        return Path(str(value)).expanduser() if value else None

    token = entry.get("token")
    return SavedTarget(
        token=str(token) if token else None,
        tls=bool(entry.get("tls", False)),
        ca_cert=file("ca_cert"),
        client_cert=file("client_cert"),
        client_key=file("client_key"),
    )


def _split(target: str) -> tuple[str, int | None]:
    host, _, port = _norm(target).rpartition(":")
    if not host:
        return port, None
    try:
        return host, int(port)
    except ValueError:
        return host, None


def is_loopback_target(target: str) -> bool:
    host = _split(target)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_admin_token(target: str, data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """The admin token of the local server on `target`'s port, for a loopback target.

    From the runtime record only when `target` names the very address the server
    bound (see `local_server` for "localhost"): a token sent to 127.0.0.1's port
    on ::1 would reach whoever listens there.
    """
    if not is_loopback_target(target):
        return None
    if data_dir is not None:
        return read_admin_token(Path(data_dir))
    if os.environ.get(ENV_DATA_DIR):
        return read_admin_token(Path(os.environ[ENV_DATA_DIR]))
    found = local_server(target)
    return None if found is None or found[1] != _norm(target) else found[0]


def local_server(target: str) -> tuple[str, str] | None:
    """(admin token, address to dial) of the local server recorded on `target`'s port.

    The address is the one the server bound ("127.0.0.1:50051"), never the
    target's name: "localhost" may resolve to ::1 first, where anyone may
    listen on the same port. None for a target whose host is neither that
    address nor "localhost".
    """
    host, port = _split(target)
    found = serving(port) if port is not None and is_loopback_target(target) else None
    if found is None:
        return None
    folder, bound = found
    if host.strip("[]") not in (bound.strip("[]"), "localhost"):
        return None
    token = read_admin_token(folder)
    dial = f"[{bound}]:{port}" if ":" in bound else f"{bound}:{port}"
    return (token, dial) if token is not None else None


def resolve_token(
    target: str, token: str | None = None, *, data_dir: str | os.PathLike[str] | None = None
) -> str | None:
    """The token to call `target` with (the order is in the module's docstring)."""
    if token:
        return token
    if os.environ.get(ENV_TOKEN):
        return os.environ[ENV_TOKEN].strip()
    saved = saved_target(target)
    if saved is not None and saved.token:
        return saved.token
    return local_admin_token(target, data_dir)


def _pem(value: PemSource | None, what: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    try:
        return Path(value).expanduser().read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read the {what} {value}: {exc.strerror or exc}") from None


def channel_credentials(
    target: str,
    *,
    tls: bool | None = None,
    root_certificates: PemSource | None = None,
    client_cert: PemSource | None = None,
    client_key: PemSource | None = None,
) -> grpc.ChannelCredentials | None:
    """TLS credentials for `target`, or None for a plaintext channel.

    Arguments win over the target's entry in the credentials file; any
    certificate implies TLS. `root_certificates` is the CA (PEM) the server's
    certificate must chain to (default: the system's); `client_cert` and
    `client_key` (PEM) make it mutual TLS.
    """
    saved = saved_target(target) if tls is not False else None
    saved = saved or SavedTarget()
    ca = root_certificates if root_certificates is not None else saved.ca_cert
    cert = client_cert if client_cert is not None else saved.client_cert
    key = client_key if client_key is not None else saved.client_key
    if (cert is None) != (key is None):
        raise InvalidArgument("mutual TLS takes both a client certificate and its key")
    if tls is False and (root_certificates or client_cert or client_key):
        raise InvalidArgument("tls=False contradicts the certificates given")
    if not (tls or saved.tls or ca is not None or cert is not None):
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(ca, "CA certificate"),
        private_key=_pem(key, "client key"),
        certificate_chain=_pem(cert, "client certificate"),
    )
