"""The metadata schema as SQLAlchemy Core tables (SQLite by default, PostgreSQL too)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

sources = Table(
    "sources",
    metadata,
    Column("id", String(63), primary_key=True),
    Column("display_name", Text, nullable=False, default=""),
    Column("fingerprint", String(80), nullable=False),
    Column("schema_json", Text, nullable=False),
    Column("schema_version", Integer, nullable=False, default=1),
    Column("row_count", Integer, nullable=False),
    Column("train_rows", Integer, nullable=False),
    Column("holdout_rows", Integer, nullable=False),
    Column("holdout_fraction", Float, nullable=False),
    Column("split_seed", BigInteger, nullable=False),
    Column("epsilon_cap", Float, nullable=False),
    Column("delta_cap", Float, nullable=False),
    Column("allow_non_private", Boolean, nullable=False, default=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("create_time", Float, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    # "sv-<hex>", random at registration: what models and datasets name (revision 0003).
    Column("version_id", String(40), nullable=False),
    # The schema version the owner approved (0: none); approved when it is the current
    # one. What came from the table, not the owner: {column: [field, ...]}, or null
    # for "all of it" (sources from before approval). Revision 0004.
    Column("approved_schema_version", Integer, nullable=False, default=0),
    Column("schema_inferred_json", Text, nullable=False, default="{}"),
    # The subject of the principal who registered it; models, datasets, evaluations and
    # jobs made from it are theirs too. "" for sources from before owners (revision
    # 0006): only an admin sees those.
    Column("owner", String(128), nullable=False, default=""),
)

#: A source's size as a DP count of privacy units (revision 0005): what plans and models
#: use instead of the exact row count. One row per unit column it was measured for
#: ("" = each row is a unit); `max_rows` is a contribution bound chosen with it (0: declared).
source_sizes = Table(
    "source_sizes",
    metadata,
    Column("source_id", String(63), primary_key=True),
    Column("unit", Text, primary_key=True),
    Column("units", BigInteger, nullable=False),
    Column("max_rows", Integer, nullable=False),
    Column("epsilon", Float, nullable=False),
    Column("job_id", String(32), nullable=False),
    Column("create_time", Float, nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("source_id", String(63), nullable=False, index=True),
    Column("job_id", String(32), nullable=False, index=True),
    Column("model_id", String(32), nullable=False, default=""),
    Column("purpose", String(64), nullable=False),
    Column("mechanism", String(64), nullable=False),
    Column("epsilon", Float, nullable=False),
    Column("delta", Float, nullable=False),
    Column("refunded", Boolean, nullable=False, default=False),
    Column("create_time", Float, nullable=False),
)

models = Table(
    "models",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("source_id", String(63), nullable=False, index=True),
    Column("generator", String(64), nullable=False),
    Column("generator_version", String(32), nullable=False),
    Column("params_json", Text, nullable=False),
    Column("epsilon", Float, nullable=True),
    Column("delta", Float, nullable=True),
    Column("accountant", String(64), nullable=False),
    Column("spends_json", Text, nullable=False),
    Column("details_json", Text, nullable=False),
    Column("train_rows", Integer, nullable=False),
    Column("job_id", String(32), nullable=False),
    Column("display_name", Text, nullable=False, default=""),
    Column("artifact", Text, nullable=False),
    Column("create_time", Float, nullable=False),
    # The source's version id, never its fingerprint (revision 0003).
    Column("source_version", String(40), nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model_id", String(32), nullable=False, index=True),
    Column("source_id", String(63), nullable=False, index=True),
    Column("rows", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("lineage_json", Text, nullable=False),
    Column("job_id", String(32), nullable=False),
    Column("display_name", Text, nullable=False, default=""),
    Column("artifact", Text, nullable=False),
    Column("create_time", Float, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("target", String(128), nullable=False, index=True),
    Column("request_json", Text, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("idempotency_key", String(128), nullable=True),
    Column("result", String(128), nullable=False, default=""),
    Column("phase", String(64), nullable=False, default=""),
    Column("fraction", Float, nullable=False, default=0.0),
    Column("epsilon_spent", Float, nullable=False, default=0.0),
    Column("message", Text, nullable=False, default=""),
    Column("metrics_json", Text, nullable=False, default="{}"),
    Column("error_code", String(32), nullable=False, default=""),
    Column("error_reason", String(64), nullable=False, default=""),
    Column("error_message", Text, nullable=False, default=""),
    Column("touched_data", Boolean, nullable=False, default=False),
    Column("create_time", Float, nullable=False),
    Column("start_time", Float, nullable=True),
    Column("end_time", Float, nullable=True),
    # Who submitted it (revision 0006); idempotency keys are scoped to them.
    Column("owner", String(128), nullable=False, default=""),
    UniqueConstraint("owner", "kind", "idempotency_key", name="uq_jobs_owner_idempotency"),
)

#: Bearer tokens (revision 0006): only a SHA-256 of the secret part is kept.
tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("subject", String(128), nullable=False, index=True),
    Column("roles", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("create_time", Float, nullable=False),
    Column("revoke_time", Float, nullable=True),
)

#: The audit trail (revision 0007, synth.store.audit): append-only, hash-chained, each
#: entry's hash signed with a key derived from the server secret; `audit_head` is one row
#: (id 1) holding the last entry, locked by every append so the chain never forks.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", Float, nullable=False),
    Column("subject", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("body_json", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("entry_hash", String(64), nullable=False),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dataset_id", String(32), nullable=False, index=True),
    Column("model_id", String(32), nullable=False),
    Column("source_id", String(63), nullable=False, index=True),
    Column("target", String(256), nullable=False, default=""),
    Column("flagged", Boolean, nullable=False),
    Column("scores_json", Text, nullable=False),
    Column("artifact", Text, nullable=False),
    Column("report_size", Integer, nullable=False),
    Column("job_id", String(32), nullable=False),
    Column("create_time", Float, nullable=False),
)

#: Release policies (revision 0008, synth.store.policies): one row per version of a
#: source's policy; a version, once written, is never updated (a verdict names it).
release_policies = Table(
    "release_policies",
    metadata,
    Column("source_id", String(63), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("policy_json", Text, nullable=False),
    Column("author", String(128), nullable=False),
    Column("create_time", Float, nullable=False),
)
