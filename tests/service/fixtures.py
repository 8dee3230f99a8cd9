"""Fixtures for the raw-stub service tests: a real server on port 0 over a temp data folder."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from synth.core.config import ServiceConfig
from synth.server import RunningServer, start_server
from tests.service.stubs import Stubs


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    return tmp_path / "synth-data"


@pytest.fixture
def server(data_folder: Path) -> Iterator[RunningServer]:
    running = start_server(data_folder, port=0, config=ServiceConfig(data_dir=data_folder, max_source_bytes=64 << 20))
    yield running
    running.stop(grace=0)


@pytest.fixture
def stubs(server: RunningServer) -> Iterator[Stubs]:
    s = Stubs.connect(server.address)
    yield s
    s.channel.close()


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue()


@pytest.fixture(scope="session")
def adult_small_csv(adult: pa.Table) -> bytes:
    """The first 3,000 rows of UCI Adult as CSV: quick to train on."""
    return csv_bytes(adult.slice(0, 3000))
