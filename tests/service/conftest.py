"""A real server on port 0 over a temporary data folder, and an SDK client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from synth.client import Client
from synth.server import RunningServer, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server per test module (starting one costs about a second)."""
    with start_server(tmp_path_factory.mktemp("synth-data"), port=0) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[Client]:
    with Client.connect(server.address) as c:
        yield c


@pytest.fixture(scope="module")
def adult_csv(data_dir: Path) -> Path:
    return data_dir / "adult.csv"
