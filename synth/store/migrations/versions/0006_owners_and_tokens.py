"""Who owns what, and the bearer tokens that say who is calling.

* sources.owner: the subject of the principal who registered it ("" for
  sources from before owners: only an admin sees them until an admin hands
  them to an owner).
* jobs.owner: who submitted the job; the idempotency constraint becomes
  (owner, kind, idempotency_key), so one caller's key never finds another's job.
* tokens: one row per bearer token; only a SHA-256 of its secret part.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("sources", "jobs"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner", sa.String(128), nullable=True))
        op.execute(f"UPDATE {table} SET owner = ''")
    with op.batch_alter_table("sources") as batch:
        batch.alter_column("owner", existing_type=sa.String(128), nullable=False)
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("owner", existing_type=sa.String(128), nullable=False)
        batch.drop_constraint("uq_jobs_idempotency", type_="unique")
        batch.create_unique_constraint(
            "uq_jobs_owner_idempotency", ["owner", "kind", "idempotency_key"]
        )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("roles", sa.String(128), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("create_time", sa.Float(), nullable=False),
        sa.Column("revoke_time", sa.Float(), nullable=True),
    )
    op.create_index("ix_tokens_subject", "tokens", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_tokens_subject", table_name="tokens")
    op.drop_table("tokens")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("uq_jobs_owner_idempotency", type_="unique")
        batch.create_unique_constraint("uq_jobs_idempotency", ["kind", "idempotency_key"])
        batch.drop_column("owner")
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("owner")
