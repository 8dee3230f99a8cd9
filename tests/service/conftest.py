"""A real server on port 0 over a temporary data folder, and an SDK client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from synth.client import Client
from synth.core.config import ServiceConfig
from synth.server import RunningServer, start_server
from tests.service.database import fresh_database
from tests.service.fixtures import admin_token, connect, csv_bytes, owner_token
from tests.service.stubs import Stubs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server per test module (starting one costs about a second).

    On a database of its own when SYNTH_TEST_DATABASE_URL names a PostgreSQL server.
    """
    folder = tmp_path_factory.mktemp("synth-data")
    with fresh_database() as url:
        config = ServiceConfig(data_dir=folder, database_url=url)
        with start_server(folder, port=0, config=config) as running:
            yield running


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[Client]:
    """The SDK as the module's test owner ("alice", role owner)."""
    with connect(server) as c:
        yield c


@pytest.fixture(scope="module")
def admin_client(server: RunningServer) -> Iterator[Client]:
    """The SDK as an admin ("root"): large caps, allow_non_private, uri=."""
    with connect(server, token=admin_token(server)) as c:
        yield c


@pytest.fixture(autouse=True)
def _owner_token_in_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI run in process (`main([...])`) and a `Client` made without a token call as
    the test owner of the test's server: its token is in SYNTH_TOKEN."""
    for name in ("server", "fresh_server"):
        if name in request.fixturenames:
            running = request.getfixturevalue(name)
            monkeypatch.setenv("SYNTH_TOKEN", owner_token(running))
            return


@pytest.fixture(scope="module")
def adult_csv(adult_csv_path: Path) -> Path:
    """The bundled demo sample synth/demo/adult.csv (all 32,561 rows of UCI Adult)."""
    return adult_csv_path


# ---- a fresh server per test, for the raw-stub tests that check what is stored ----


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    return tmp_path / "synth-data"


@pytest.fixture
def fresh_server(data_folder: Path) -> Iterator[RunningServer]:
    """A server of its own over an empty data folder (tests look inside the folder).

    On a database of its own when SYNTH_TEST_DATABASE_URL names a PostgreSQL server.
    """
    with fresh_database() as url:
        config = ServiceConfig(data_dir=data_folder, max_source_bytes=64 << 20, database_url=url)
        running = start_server(data_folder, port=0, config=config)
        yield running
        running.stop(grace=0)


@pytest.fixture
def stubs(fresh_server: RunningServer) -> Iterator[Stubs]:
    """Raw stubs as the test owner ("alice")."""
    s = Stubs.connect(fresh_server)
    yield s
    s.channel.close()


@pytest.fixture
def admin_stubs(fresh_server: RunningServer) -> Iterator[Stubs]:
    """Raw stubs as an admin ("root")."""
    s = Stubs.connect(fresh_server, admin_token(fresh_server))
    yield s
    s.channel.close()


@pytest.fixture(scope="session")
def adult_small_csv(adult: pa.Table) -> bytes:
    """The first 3,000 rows of UCI Adult as CSV: quick to train on."""
    return csv_bytes(adult.slice(0, 3000))
