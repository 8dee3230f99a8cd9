"""Release policies: each source's policy, one immutable row per version (synth.store.policies).

Existing sources have no row: they are held to the server's default policy.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "release_policies",
        sa.Column("source_id", sa.String(63), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("policy_json", sa.Text(), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("create_time", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("release_policies")
