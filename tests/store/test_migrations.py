"""Schema migrations: the revisions match the models, and older databases upgrade.

Each test runs on SQLite, and on PostgreSQL too when SYNTH_TEST_DATABASE_URL
names a server (each test then gets databases of its own there).
"""

from __future__ import annotations

import io
import itertools
import json
import re
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, create_engine, inspect, select, text
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.pool import NullPool

from synth.store import sqltables
from synth.store.metadata import MetadataStore
from synth.store.migrations import BASELINE, BASELINE_COLUMNS, VERSION_TABLE, alembic_config
from tests.service.database import ENV, fresh_database, server_url
from tests.store import main_schema

REPO = Path(__file__).resolve().parents[2]
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()

NewDatabase = Callable[[], str]


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes empty databases of the parametrised kind (URLs), dropped afterwards."""
    if request.param == "postgresql" and not server_url():
        pytest.skip(f"{ENV} names no PostgreSQL server")
    numbers = itertools.count()
    with ExitStack() as stack:

        def make() -> str:
            if request.param == "sqlite":
                return f"sqlite:///{tmp_path / f'synth-{next(numbers)}.db'}"
            return stack.enter_context(fresh_database())

        yield make


@pytest.fixture
def url(new_database: NewDatabase) -> str:
    return new_database()


def plain_engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool)


def differences(engine: Engine, target: MetaData) -> list[Any]:
    """What autogenerate would write to go from the database to `target`."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(ctx, target))


def versions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]


def schema(engine: Engine) -> dict[str, Any]:
    """Everything reflection sees of the tables, except the version table."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(set(insp.get_table_names()) - {VERSION_TABLE}):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in insp.get_columns(table)
            ],
            "primary_key": insp.get_pk_constraint(table),
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), i["unique"])
                for i in insp.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in insp.get_unique_constraints(table)
            ),
        }
    return out


def upgrade_to(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


# A row for every table of the schema before migrations (Python-side defaults fill the rest).
MAIN_ROWS: dict[str, dict[str, Any]] = {
    "sources": dict(
        id="adult", display_name="Adult", fingerprint="f" * 64, schema_json="{}",
        row_count=100, train_rows=80, holdout_rows=20, holdout_fraction=0.2, split_seed=7,
        epsilon_cap=3.0, delta_cap=1e-6, size_bytes=1234, create_time=1.5,
    ),
    "ledger": dict(
        id="l1", source_id="adult", job_id="j1", purpose="fit", mechanism="gaussian",
        epsilon=1.0, delta=1e-7, create_time=2.5,
    ),
    "models": dict(
        id="m1", source_id="adult", source_fingerprint="f" * 64, generator="aim",
        generator_version="1", params_json="{}", epsilon=1.0, delta=1e-7, accountant="zcdp",
        spends_json="[]", details_json="{}", train_rows=80, job_id="j1", artifact="models/m1",
        create_time=3.5,
    ),
    "datasets": dict(
        id="d1", model_id="m1", source_id="adult", rows=10, seed=1, size_bytes=99,
        lineage_json="{}", job_id="j2", artifact="datasets/d1", create_time=4.5,
    ),
    "jobs": dict(
        id="j1", kind="TRAIN", state="SUCCEEDED", target="sources/adult", request_json="{}",
        request_hash="h" * 64, idempotency_key="nightly-1", result="models/m1",
        touched_data=True, create_time=5.5, start_time=6.0, end_time=7.0,
    ),
    "evaluations": dict(
        id="e1", dataset_id="d1", model_id="m1", source_id="adult", flagged=False,
        scores_json="{}", artifact="evaluations/e1", report_size=10, job_id="j3",
        create_time=8.5,
    ),
}  # fmt: skip


def make_main_database(url: str) -> dict[str, list[dict[str, Any]]]:
    """A database as synth made it before migrations, with a row in each table."""
    engine = plain_engine(url)
    try:
        main_schema.metadata.create_all(engine)
        with engine.begin() as conn:
            for name, row in MAIN_ROWS.items():
                conn.execute(main_schema.metadata.tables[name].insert().values(**row))
        return rows(engine)
    finally:
        engine.dispose()


#: Columns of the schema before migrations that later revisions dropped (with their data
#: moved elsewhere: see the revision's own test); `rows` leaves them out.
DROPPED = {"models": {"source_fingerprint"}}  # 0003


def rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """The rows of the tables before migrations, in the columns every revision kept."""
    with engine.connect() as conn:
        out = {}
        for name, table in main_schema.metadata.tables.items():
            columns = [c for c in table.columns if c.name not in DROPPED.get(name, ())]
            query = select(*columns).order_by(table.c.id)
            out[name] = [dict(r._mapping) for r in conn.execute(query)]
        return out


# ---- the revisions and the models ----------------------------------------------------


def test_upgrade_head_on_an_empty_database_matches_the_models(url: str) -> None:
    store = MetadataStore(url)
    try:
        assert differences(store.engine, sqltables.metadata) == []
        assert versions(store.engine) == [HEAD]
    finally:
        store.dispose()


def test_the_first_revision_is_the_schema_before_migrations(new_database: NewDatabase) -> None:
    migrated, created = plain_engine(new_database()), plain_engine(new_database())
    try:
        upgrade_to(migrated, BASELINE)
        assert differences(migrated, main_schema.metadata) == []
        main_schema.metadata.create_all(created)
        # Beyond what autogenerate compares: column order, reflected defaults, key names.
        assert schema(migrated) == schema(created)
        assert set(schema(migrated)) == set(BASELINE_COLUMNS)
        for table, columns in BASELINE_COLUMNS.items():
            assert columns == set(main_schema.metadata.tables[table].columns.keys())
    finally:
        migrated.dispose()
        created.dispose()


def test_downgrade_to_base_and_back(url: str) -> None:
    engine = plain_engine(url)
    try:
        upgrade_to(engine, "head")
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert schema(engine) == {}
        upgrade_to(engine, "head")
        assert differences(engine, sqltables.metadata) == []
    finally:
        engine.dispose()


def test_the_offline_sql_creates_the_schema() -> None:
    buffer = io.StringIO()
    cfg = alembic_config()
    cfg.output_buffer = buffer
    cfg.set_main_option("sqlalchemy.url", "postgresql+psycopg://")
    command.upgrade(cfg, "head", sql=True)
    sql = buffer.getvalue()
    assert sql.count("CREATE TABLE") == len(sqltables.metadata.tables) + 1  # and alembic_version
    assert "CONSTRAINT uq_jobs_idempotency UNIQUE (kind, idempotency_key)" in sql


# ---- start-up: empty, from before migrations, already migrated ------------------------


def test_a_database_from_before_migrations_is_stamped_and_upgraded(url: str) -> None:
    before = make_main_database(url)
    store = MetadataStore(url)
    try:
        assert versions(store.engine) == [HEAD]
        assert rows(store.engine) == before
        assert differences(store.engine, sqltables.metadata) == []
    finally:
        store.dispose()
    again = MetadataStore(url)  # the next start finds it migrated
    try:
        assert versions(again.engine) == [HEAD]
        assert rows(again.engine) == before
    finally:
        again.dispose()


def test_0003_names_sources_by_random_version_ids_instead_of_hashes(url: str) -> None:
    """Each source gets a fresh "sv-" id, its models point at it, lineage drops the hash; and back."""
    engine = plain_engine(url)
    tables = main_schema.metadata.tables
    try:
        upgrade_to(engine, "0002")
        with engine.begin() as conn:
            for sid in ("a", "b"):
                conn.execute(
                    tables["sources"].insert().values(MAIN_ROWS["sources"] | {"id": sid, "fingerprint": f"sha256:{sid * 64}"})
                )
            for mid, sid in (("m1", "a"), ("m2", "a"), ("m3", "b"), ("m4", "gone")):
                conn.execute(
                    tables["models"].insert().values(MAIN_ROWS["models"] | {"id": mid, "source_id": sid, "source_fingerprint": f"sha256:{sid}"})
                )
            lineage = {"synth.source": "sources/a", "synth.source_fingerprint": "sha256:" + "a" * 64}
            conn.execute(
                tables["datasets"].insert().values(MAIN_ROWS["datasets"] | {"model_id": "m1", "lineage_json": json.dumps(lineage)})
            )
        upgrade_to(engine, "0003")
        with engine.connect() as conn:
            versions_of = dict(conn.execute(text("SELECT id, version_id FROM sources")).all())
            models_of = dict(conn.execute(text("SELECT id, source_version FROM models")).all())
            (raw,) = conn.execute(text("SELECT lineage_json FROM datasets")).one()
        assert all(re.fullmatch(r"sv-[0-9a-f]{32}", v) for v in versions_of.values())
        assert versions_of["a"] != versions_of["b"]
        assert models_of["m1"] == models_of["m2"] == versions_of["a"]
        assert models_of["m3"] == versions_of["b"]
        assert re.fullmatch(r"sv-[0-9a-f]{32}", models_of["m4"])  # its source row is gone
        assert models_of["m4"] not in versions_of.values()
        assert json.loads(raw) == {"synth.source": "sources/a", "synth.source_version": versions_of["a"]}
        assert "source_fingerprint" not in {c["name"] for c in inspect(engine).get_columns("models")}

        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0002")
        with engine.connect() as conn:
            back = dict(conn.execute(text("SELECT id, source_fingerprint FROM models")).all())
            (raw,) = conn.execute(text("SELECT lineage_json FROM datasets")).one()
        assert back == {"m1": "sha256:" + "a" * 64, "m2": "sha256:" + "a" * 64,
                        "m3": "sha256:" + "b" * 64, "m4": ""}
        assert json.loads(raw) == lineage
        insp = inspect(engine)
        assert {c["name"] for c in insp.get_columns("models")} == BASELINE_COLUMNS["models"]
        assert {c["name"] for c in insp.get_columns("sources")} == BASELINE_COLUMNS["sources"]
    finally:
        engine.dispose()


def test_0004_leaves_existing_sources_pending_with_everything_to_review(url: str) -> None:
    """Nobody approved their schemas, and what was declared is unknown: all of it is to review."""
    from synth.base.schema import ColumnKind, ColumnSchema, TableSchema
    from synth.store.records import SourceRecord

    schema = TableSchema(
        columns=(
            ColumnSchema("age", ColumnKind.NUMERICAL, "int64", nullable=False),
            ColumnSchema("job", ColumnKind.CATEGORICAL, "string"),
        )
    )
    engine = plain_engine(url)
    try:
        upgrade_to(engine, "0003")
        with engine.begin() as conn:
            row = MAIN_ROWS["sources"] | {
                "schema_json": schema.to_json(),
                "version_id": "sv-" + "0" * 32,
                "allow_non_private": False,
                "schema_version": 1,
                "deleted": False,
            }
            at_0003 = sa_table("sources", *(sa_column(k) for k in row))
            conn.execute(at_0003.insert().values(row))
        upgrade_to(engine, "head")  # read with today's tables; 0004's effect stays
        with engine.connect() as conn:
            record = SourceRecord.from_row(conn.execute(select(sqltables.sources)).one())
            owner = conn.execute(select(sqltables.sources.c.owner)).scalar_one()
        assert owner == ""  # 0006: sources from before owners belong to nobody (admins see them)
        assert record.approved_schema_version == 0 and record.schema_state == "pending"
        assert record.inferred is None
        assert record.inferred_parts() == [
            (c, p) for c in ("age", "job") for p in ("kind", "nullable", "arrow_type")
        ]
    finally:
        engine.dispose()


def test_a_database_with_other_tables_gets_ours_beside_them(url: str) -> None:
    engine = plain_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO someone_elses (id) VALUES (1)"))
    store = MetadataStore(url)
    try:
        assert versions(store.engine) == [HEAD]
        assert set(inspect(store.engine).get_table_names()) == {
            *sqltables.metadata.tables,
            VERSION_TABLE,
            "someone_elses",
        }
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM someone_elses")).all() == [(1,)]
    finally:
        store.dispose()
        engine.dispose()


def test_a_partial_schema_without_versions_is_refused_untouched(url: str) -> None:
    engine = plain_engine(url)
    try:
        main_schema.sources.create(engine)
        main_schema.jobs.create(engine)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE jobs DROP COLUMN touched_data"))
        with pytest.raises(RuntimeError, match="no alembic_version table") as info:
            MetadataStore(url)
        assert "table 'ledger' is missing" in str(info.value)
        assert "table 'jobs' lacks column(s) touched_data" in str(info.value)
        assert set(inspect(engine).get_table_names()) == {"sources", "jobs"}
    finally:
        engine.dispose()


def test_a_database_from_a_newer_synth_is_refused(url: str) -> None:
    MetadataStore(url).dispose()
    engine = plain_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
        with pytest.raises(RuntimeError, match="newer synth"):
            MetadataStore(url)
        assert versions(engine) == ["9999"]
    finally:
        engine.dispose()


_START = textwrap.dedent(
    """
    import sys
    from synth.store.metadata import MetadataStore
    print("ready", flush=True)
    sys.stdin.readline()
    MetadataStore(sys.argv[1]).dispose()
    """
)


@pytest.mark.parametrize("made_before_migrations", [False, True], ids=["empty", "from-main"])
def test_servers_starting_at_once_migrate_once(url: str, made_before_migrations: bool) -> None:
    """Separate processes (a process runs one migration at a time by itself), let go at once."""
    before = make_main_database(url) if made_before_migrations else None
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _START, url],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for p in procs:  # every one has imported synth
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(outputs)
    engine = plain_engine(url)
    try:
        assert versions(engine) == [HEAD]
        assert differences(engine, sqltables.metadata) == []
        if before is not None:
            assert rows(engine) == before
    finally:
        engine.dispose()


def test_the_sqlite_pragmas_are_kept(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'synth.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60000
    finally:
        store.dispose()


# ---- packaging ------------------------------------------------------------------------


def test_a_wheel_carries_the_migrations() -> None:
    """The migration folders are packages setuptools finds; the template is package data."""
    from setuptools import find_packages

    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = find_packages(str(REPO), include=tool["packages"]["find"]["include"])
    assert {"synth.store.migrations", "synth.store.migrations.versions"} <= set(packages)
    data = tool["package-data"]["synth"]
    migrations = REPO / "synth" / "store" / "migrations"
    for path in migrations.rglob("*"):
        if path.is_file() and path.suffix not in {".py", ".pyc"}:
            relative = path.relative_to(REPO / "synth").as_posix()
            assert any(fnmatch(relative, pattern) for pattern in data), relative
