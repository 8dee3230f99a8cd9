"""A source's schema is a proposal until its owner approves it.

* sources.approved_schema_version: the version the owner approved, 0 for none.
  A source trains only when it equals schema_version.
* sources.schema_inferred_json: what the server took from the table rather
  than from the owner, {column: ["kind", "nullable", "arrow_type"]}; JSON null
  means every part of every column.

Existing sources start pending (0) with null: nobody approved their schemas,
and the server cannot tell what in them was declared and what inferred. Their
owners approve once (ApproveSchema) before the next training; models and
datasets already made are untouched. Columns are added nullable, filled, then
made NOT NULL (batch mode on SQLite).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("approved_schema_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("schema_inferred_json", sa.Text(), nullable=True))
    op.execute("UPDATE sources SET approved_schema_version = 0, schema_inferred_json = 'null'")
    with op.batch_alter_table("sources") as batch:
        batch.alter_column("approved_schema_version", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("schema_inferred_json", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("schema_inferred_json")
        batch.drop_column("approved_schema_version")
