"""Session fixtures: real public tables the repository ships, read once per session.

- `adult`: the bundled demo sample synth/demo/adult.csv (the full UCI Adult training table).
- `adult_test`, `metro`: small samples under tests/fixtures/ (provenance in its README.md).

Nothing outside the checkout is read, so a fresh clone passes on its own.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import settings

from synth.base.inference import infer_schema
from synth.base.schema import TableSchema
from synth.base.tableio import read_table

REPO = Path(__file__).resolve().parents[1]
ADULT_CSV = REPO / "synth" / "demo" / "adult.csv"
FIXTURES = REPO / "tests" / "fixtures"

# No per-example deadline: on a loaded 2-core CI box a 200 ms deadline is a
# timing assertion that fails for reasons unrelated to the property under test.
settings.register_profile("synth", deadline=None)
settings.load_profile("synth")


@pytest.fixture(scope="session")
def adult_csv_path() -> Path:
    """synth/demo/adult.csv: UCI Adult `adult.data`, all 32,561 rows (see synth/demo/README.md)."""
    return ADULT_CSV


@pytest.fixture(scope="session")
def adult(adult_csv_path: Path) -> pa.Table:
    return read_table(adult_csv_path)


@pytest.fixture(scope="session")
def adult_test() -> pa.Table:
    """The first 4,000 rows of UCI Adult `adult.test` (tests/fixtures/README.md)."""
    return read_table(FIXTURES / "adult_test_sample.csv")


@pytest.fixture(scope="session")
def adult_schema(adult: pa.Table) -> TableSchema:
    return infer_schema(adult)


@pytest.fixture(scope="session")
def metro() -> pa.Table:
    """Every 10th row of UCI Metro Interstate Traffic Volume, 2012-10 to 2018-09 (tests/fixtures/README.md)."""
    return read_table(FIXTURES / "metro_sample.csv")
