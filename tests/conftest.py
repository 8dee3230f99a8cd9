"""Shared fixtures: the real public tables in ../shared/data, read once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import settings

from synth.base.inference import infer_schema
from synth.base.schema import TableSchema
from synth.base.tableio import read_table

REPO = Path(__file__).resolve().parents[1]

# No per-example deadline: on a loaded 2-core CI box a 200 ms deadline is a
# timing assertion that fails for reasons unrelated to the property under test.
settings.register_profile("synth", deadline=None)
settings.load_profile("synth")


def shared_data_dir() -> Path:
    """../shared/data beside the checkout (CI lays it there), or $SYNTH_SHARED_DATA."""
    env = os.environ.get("SYNTH_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "data", REPO / "shared" / "data"]
    for c in candidates:
        if (c / "adult.csv").is_file():
            return c
    raise RuntimeError(f"shared data not found in {candidates}; set SYNTH_SHARED_DATA")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return shared_data_dir()


@pytest.fixture(scope="session")
def adult(data_dir: Path) -> pa.Table:
    return read_table(data_dir / "adult.csv")


@pytest.fixture(scope="session")
def adult_test(data_dir: Path) -> pa.Table:
    return read_table(data_dir / "adult_test.csv")


@pytest.fixture(scope="session")
def adult_schema(adult: pa.Table) -> TableSchema:
    return infer_schema(adult)


@pytest.fixture(scope="session")
def metro(data_dir: Path) -> pa.Table:
    return read_table(data_dir / "metro_interstate_traffic_volume.csv")
