"""Models and datasets name a random source version id, not a hash of the source.

An unsalted SHA-256 of the whole table shipped with every model (GetModel) and
every dataset (its lineage); whoever knew all rows but one could test
candidates for the last row offline. Each source now gets a random version id
("sv-" and 32 hex digits) and models point at it:

* sources.version_id: a fresh random id for every existing source;
* models.source_version replaces models.source_fingerprint: each model gets its
  source's version id (a model whose source row is gone gets a fresh one);
* datasets.lineage_json: "synth.source_fingerprint" becomes
  "synth.source_version" (the Parquet files already written keep what they
  were written with: a migration does not touch artifacts; and offline SQL,
  `alembic upgrade --sql`, cannot rewrite JSON, so it leaves the lineage rows).

sources.fingerprint stays (the owner's view); the server writes it keyed (HMAC)
for new sources. Columns are added nullable, filled, then made NOT NULL; SQLite
does the changes in batch mode (a table copy). The ids come from the database's
own random source (SQLite's randomblob, PostgreSQL's gen_random_uuid), so the
offline SQL makes them too. The downgrade puts the sources' fingerprints back
on the models and in the lineage.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _random_version_sql() -> str:
    """An SQL expression of a fresh "sv-" + 32 hex digits, evaluated per row."""
    if op.get_context().dialect.name == "postgresql":
        return "'sv-' || replace(gen_random_uuid()::text, '-', '')"
    return "'sv-' || lower(hex(randomblob(16)))"


def _rewrite_lineage(drop: str, key: str, value_column: str) -> None:
    """In every dataset's lineage, replace `drop` with `key`, valued from its model's column."""
    if context.is_offline_mode():
        return
    conn = op.get_bind()
    found = conn.execute(
        sa.text(
            f"SELECT datasets.id, datasets.lineage_json, models.{value_column} "
            "FROM datasets LEFT JOIN models ON models.id = datasets.model_id"
        )
    ).all()
    for dataset_id, raw, value in found:
        try:
            lineage = json.loads(raw)
        except (TypeError, ValueError):
            continue
        if not isinstance(lineage, dict) or drop not in lineage:
            continue
        del lineage[drop]
        lineage[key] = value or ""
        conn.execute(
            sa.text("UPDATE datasets SET lineage_json = :lineage WHERE id = :id"),
            {"lineage": json.dumps(lineage), "id": dataset_id},
        )


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("version_id", sa.String(length=40), nullable=True))
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("source_version", sa.String(length=40), nullable=True))

    op.execute(f"UPDATE sources SET version_id = {_random_version_sql()}")
    op.execute(
        "UPDATE models SET source_version = "
        "(SELECT sources.version_id FROM sources WHERE sources.id = models.source_id)"
    )
    op.execute(
        f"UPDATE models SET source_version = {_random_version_sql()} WHERE source_version IS NULL"
    )
    _rewrite_lineage("synth.source_fingerprint", "synth.source_version", "source_version")

    with op.batch_alter_table("sources") as batch:
        batch.alter_column("version_id", existing_type=sa.String(length=40), nullable=False)
    with op.batch_alter_table("models") as batch:
        batch.alter_column("source_version", existing_type=sa.String(length=40), nullable=False)
        batch.drop_column("source_fingerprint")


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("source_fingerprint", sa.String(length=80), nullable=True))
    op.execute(
        "UPDATE models SET source_fingerprint = COALESCE("
        "(SELECT sources.fingerprint FROM sources WHERE sources.id = models.source_id), '')"
    )
    _rewrite_lineage("synth.source_version", "synth.source_fingerprint", "source_fingerprint")
    with op.batch_alter_table("models") as batch:
        batch.alter_column("source_fingerprint", existing_type=sa.String(length=80), nullable=False)
        batch.drop_column("source_version")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("version_id")
