"""A source's size as a DP count: what every plan and every model uses instead of n.

* source_sizes: one row per (source, privacy unit) the size was measured for.
  `unit` is "" when each row is its own unit, else the unit column's name;
  `units` is the noisy count of units in the training part (discrete Laplace,
  charged to the source's ledger as purpose "size"); `max_rows` is the
  contribution bound chosen with it when the schema asked for "auto" (0 when
  the schema declared one).

Existing sources get no row: their size is measured, and charged, before their
next training plan.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_sizes",
        sa.Column("source_id", sa.String(63), primary_key=True),
        sa.Column("unit", sa.Text(), primary_key=True),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("max_rows", sa.Integer(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("create_time", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("source_sizes")
