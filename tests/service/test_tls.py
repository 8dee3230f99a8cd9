"""TLS and mutual TLS between the SDK/CLI and `synth serve`, and plaintext off loopback refused.

A throwaway CA, server and client certificates are made per module with the
`openssl` command (the tests are skipped where it is missing).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from synth.base.errors import InvalidArgument, Unavailable
from synth.cli import main
from synth.client import Client
from synth.core.bootstrap import read_admin_token
from synth.server import RunningServer, start_server
from synth.server.tls import ServerTls, check_exposure, is_loopback

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # signed by another CA
    stranger_key: Path


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def _key_and_csr(folder: Path, name: str, cn: str) -> None:
    _openssl(folder, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")  # fmt: skip


def _sign(folder: Path, name: str, ca: str, ext: str) -> None:
    (folder / f"{name}.ext").write_text(ext)
    _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey",
             f"{ca}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "1",
             "-extfile", f"{name}.ext")  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    for ca in ("ca", "other-ca"):
        _openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "1",
                 "-subj", f"/CN={ca}")  # fmt: skip
    _key_and_csr(d, "server", "localhost")
    _sign(d, "server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _key_and_csr(d, "client", "alice")
    _sign(d, "client", "ca", "extendedKeyUsage=clientAuth\n")
    _key_and_csr(d, "stranger", "mallory")
    _sign(d, "stranger", "other-ca", "extendedKeyUsage=clientAuth\n")
    for key in d.glob("*.key"):
        key.chmod(0o600)
    return Pki(
        ca=d / "ca.pem",
        server_cert=d / "server.pem",
        server_key=d / "server.key",
        client_cert=d / "client.pem",
        client_key=d / "client.key",
        stranger_cert=d / "stranger.pem",
        stranger_key=d / "stranger.key",
    )


@pytest.fixture(scope="module")
def tls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("tls-data")
    tls = ServerTls(pki.server_cert, pki.server_key)
    with start_server(folder, port=0, tls=tls) as running:
        yield running


@pytest.fixture(scope="module")
def mtls_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("mtls-data")
    tls = ServerTls(pki.server_cert, pki.server_key, client_ca=pki.ca)
    with start_server(folder, port=0, tls=tls) as running:
        yield running


def _token(server: RunningServer) -> str | None:
    return read_admin_token(server.service.config.data_dir)


def _healthy(client: Client) -> bool:
    stub = health_pb2_grpc.HealthStub(client._channel)
    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def test_a_tls_server_answers_a_tls_client(pki: Pki, tls_server: RunningServer) -> None:
    with Client.connect(
        tls_server.address, root_certificates=pki.ca, token=_token(tls_server)
    ) as client:
        client.wait_ready(10)
        assert _healthy(client)
        assert client.list_sources() == []
    # The CA as PEM bytes works the same.
    with Client.connect(
        tls_server.address, root_certificates=pki.ca.read_bytes(), token=_token(tls_server)
    ) as client:
        assert client.list_sources() == []


def test_a_plaintext_client_gets_nothing_from_a_tls_server(tls_server: RunningServer) -> None:
    with (
        Client.connect(tls_server.address, token=_token(tls_server)) as client,
        pytest.raises(Unavailable),
    ):
        client.list_sources()


def test_a_client_that_does_not_trust_the_ca_is_refused(
    pki: Pki, tls_server: RunningServer
) -> None:
    other = pki.ca.with_name("other-ca.pem")
    with (
        Client.connect(
            tls_server.address, root_certificates=other, token=_token(tls_server)
        ) as client,
        pytest.raises(Unavailable),
    ):
        client.list_sources()


def test_mutual_tls_takes_only_clients_with_a_certificate_of_its_ca(
    pki: Pki, mtls_server: RunningServer
) -> None:
    token = _token(mtls_server)
    with Client.connect(
        mtls_server.address,
        root_certificates=pki.ca,
        client_cert=pki.client_cert,
        client_key=pki.client_key,
        token=token,
    ) as client:
        assert client.list_sources() == []
    with (
        Client.connect(mtls_server.address, root_certificates=pki.ca, token=token) as client,
        pytest.raises(Unavailable),
    ):
        client.list_sources()  # no client certificate
    with (
        Client.connect(
            mtls_server.address,
            root_certificates=pki.ca,
            client_cert=pki.stranger_cert,
            client_key=pki.stranger_key,
            token=token,
        ) as client,
        pytest.raises(Unavailable),
    ):
        client.list_sources()  # a certificate of another CA


def test_the_cli_speaks_tls_and_mutual_tls(
    pki: Pki,
    tls_server: RunningServer,
    mtls_server: RunningServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["sources", "list", "--server", tls_server.address, "--ca-cert", str(pki.ca),
                 "--token", _token(tls_server) or ""])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 0, err
    code = main(["sources", "list", "--server", mtls_server.address, "--ca-cert", str(pki.ca),
                 "--client-cert", str(pki.client_cert), "--client-key", str(pki.client_key),
                 "--token", _token(mtls_server) or ""])  # fmt: skip
    _, err = capsys.readouterr()
    assert code == 0, err
    code = main(["sources", "list", "--server", mtls_server.address, "--ca-cert", str(pki.ca),
                 "--token", _token(mtls_server) or ""])  # fmt: skip
    _out, err = capsys.readouterr()
    assert code == 1 and err.startswith("synth: error:")


def test_a_server_key_every_user_may_read_is_refused(pki: Pki, tmp_path: Path) -> None:
    key = tmp_path / "open.key"
    key.write_bytes(pki.server_key.read_bytes())
    key.chmod(0o644)
    with pytest.raises(InvalidArgument, match="chmod 600"):
        ServerTls(pki.server_cert, key).credentials()
    with pytest.raises(InvalidArgument, match="not a PEM file"):
        ServerTls(pki.server_key.with_name("server.ext"), pki.server_key).credentials()
    with pytest.raises(InvalidArgument, match="cannot read"):
        ServerTls(tmp_path / "missing.pem", pki.server_key).credentials()


# ---- who may reach a plaintext server -------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("127.8.9.10", True), ("0.0.0.0", False), ("::", False), ("", False),
     ("10.1.2.3", False), ("192.168.0.1", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_plaintext_off_loopback_is_refused_unless_forced(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="without TLS") as err:
        check_exposure("0.0.0.0", None, insecure_remote=False)
    assert "--insecure-allow-remote" in str(err.value) and "--tls-cert" in str(err.value)
    check_exposure("0.0.0.0", None, insecure_remote=True)
    check_exposure("0.0.0.0", ServerTls(pki.server_cert, pki.server_key), insecure_remote=False)
    check_exposure("127.0.0.1", None, insecure_remote=False)

    folder = tmp_path / "data"
    with pytest.raises(InvalidArgument):
        start_server(folder, port=0, host="0.0.0.0")
    assert not folder.exists()  # refused before anything was made
    with start_server(folder, port=0, host="0.0.0.0", insecure_remote=True) as running:
        assert running.port > 0


def test_synth_serve_refuses_a_remote_plaintext_bind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "data"
    code = main(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", str(folder)])
    _, err = capsys.readouterr()
    assert code == 2
    assert "refusing to serve on 0.0.0.0 without TLS" in err
    code = main(["serve", "--port", "0", "--data-dir", str(folder), "--tls-cert", "x.pem"])
    _, err = capsys.readouterr()
    assert code == 2 and "both --tls-cert and --tls-key" in err
    assert not folder.exists()


def test_a_tls_client_gets_nothing_from_a_plaintext_server(pki: Pki, tmp_path: Path) -> None:
    with start_server(tmp_path / "data", port=0) as running:
        token = read_admin_token(tmp_path / "data")
        with (
            Client.connect(running.address, root_certificates=pki.ca, token=token) as client,
            pytest.raises(Unavailable),
        ):
            client.list_sources()
        with Client.connect(running.address, token=token) as client:
            assert client.list_sources() == []
