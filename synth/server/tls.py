"""Transport security: TLS and mutual TLS, and who may reach a server without them.

Bearer tokens are only as secret as the channel they cross. On loopback the
channel never leaves the machine; on any other address a plaintext server
would hand every token (and every table) to whoever sees the traffic, so it
is refused at start unless the operator says explicitly that something else
protects the port (a private network, a TLS-terminating proxy).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

import grpc

from synth.base.errors import InvalidArgument


@dataclass(frozen=True)
class ServerTls:
    """The server's certificate chain and key (PEM files), and for mutual TLS the CA
    that signs client certificates: with it, a client without a valid one is refused
    during the handshake."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        key = _read_private(self.key, "--tls-key")
        cert = _read_pem(self.cert, "--tls-cert")
        ca = _read_pem(self.client_ca, "--client-ca") if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
        )


def _read_pem(path: Path, option: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise InvalidArgument(f"{option}: {path} is not a PEM file (no -----BEGIN line)")
    return data


def _read_private(path: Path, option: str) -> bytes:
    """A private key, refused when every user of the machine may read it."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as exc:
        raise InvalidArgument(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    if mode & 0o004:
        raise InvalidArgument(
            f"{option}: {path} may be read by every user of this machine (mode {mode:o}): "
            f"chmod 600 {path} (or 640 for a group the server runs in)"
        )
    return _read_pem(path, option)


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]")
    if not name:
        return False
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_exposure(host: str, tls: ServerTls | None, *, insecure_remote: bool) -> None:
    """Refuse to serve plaintext on an address other machines can reach, unless forced."""
    if tls is not None or insecure_remote or is_loopback(host):
        return
    raise InvalidArgument(
        f"refusing to serve on {host} without TLS: tokens and tables would cross the "
        "network in clear text. Give --tls-cert and --tls-key (and --client-ca for mutual "
        "TLS), bind to 127.0.0.1, or pass --insecure-allow-remote if a private network or "
        "a TLS-terminating proxy protects this port (docs/security.md)"
    )


def bind(server: grpc.Server, host: str, port: int, tls: ServerTls | None) -> int:
    """Listen on `host:port`, with TLS when given; the port bound (0 picks a free one)."""
    address = f"{host}:{port}"
    if tls is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, tls.credentials())
