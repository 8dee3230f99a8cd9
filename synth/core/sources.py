"""Registering sources: validate, fingerprint, infer a schema, split, store.

Nothing is written until the table has passed every check, and then the
stored parts and the metadata row appear together or not at all.

An inferred schema is a proposal: the source is "schema pending" until its
owner approves the version they reviewed (`approve_schema`, or an edit with
`approve`), and training refuses it until then (`require_approved_schema`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from synth.base.atomic import write_parquet_atomic
from synth.base.errors import (
    AlreadyExists,
    Cancelled,
    FieldViolation,
    InvalidArgument,
    SchemaNotApproved,
    SchemaVersionMismatch,
)
from synth.base.inference import infer_schema, inferred_parts, merge_declarations
from synth.base.names import check_source_id, name_of, new_source_version
from synth.base.schema import TableSchema
from synth.base.tableio import TableFormat, fingerprint, read_table, split_holdout
from synth.core.config import ServiceConfig
from synth.core.stores import Stores
from synth.store.pages import Page
from synth.store.records import SourceRecord

TRAIN_FILE = "train.parquet"
HOLDOUT_FILE = "holdout.parquet"


@dataclass(frozen=True)
class RegisterRequest:
    source_id: str
    epsilon: float
    delta: float
    display_name: str = ""
    fmt: TableFormat | None = None
    uri: str = ""
    holdout_fraction: float | None = None
    split_seed: int | None = None
    schema: TableSchema | None = None
    allow_non_private: bool = False
    size_bytes: int = 0
    #: Approve `schema` as sent; only for a schema that declares every part of every column.
    approve_schema: bool = False


def validate_register(req: RegisterRequest, config: ServiceConfig) -> None:
    """Check the header before any byte of the table is read."""
    check_source_id(req.source_id)
    v = []
    if not (math.isfinite(req.epsilon) and req.epsilon > 0):
        v.append(FieldViolation("header.budget.epsilon", "must be a positive number"))
    if not (0 < req.delta < 1):
        v.append(FieldViolation("header.budget.delta", "must be in (0, 1), e.g. 1e-6"))
    h = req.holdout_fraction
    if h is not None and not (0 <= h <= 0.9):
        v.append(FieldViolation("header.holdout_fraction", "must be in [0, 0.9]"))
    if req.size_bytes > config.max_source_bytes:
        v.append(
            FieldViolation(
                "header.size_bytes", f"over the limit of {config.max_source_bytes:,} bytes"
            )
        )
    if req.approve_schema and req.schema is None:
        v.append(
            FieldViolation(
                "header.approve_schema",
                "needs header.schema: a schema inferred from the table is reviewed, then "
                "approved (ApproveSchema)",
            )
        )
    elif req.approve_schema and req.schema is not None:
        untyped = [c.name for c in req.schema.columns if not c.arrow_type]
        if untyped:
            v.append(
                FieldViolation(
                    "header.approve_schema",
                    f"needs every column's arrow_type declared (missing: {', '.join(untyped)}): "
                    "a type read from the table is reviewed before it is approved",
                )
            )
    if v:
        raise InvalidArgument(
            "the registration header is not valid: "
            + "; ".join(f"{x.field} {x.description}" for x in v),
            violations=v,
        )


_PART_WORDS = {"kind": "kind", "nullable": "nullability", "arrow_type": "type"}
_LISTED_COLUMNS = 20


def pending_schema_message(record: SourceRecord) -> str:
    """Why a source cannot train yet: what to review, and every way to approve."""
    name = name_of("sources", record.id)
    version = record.schema_version
    by_column: dict[str, list[str]] = {}
    for column, part in record.inferred_parts():
        by_column.setdefault(column, []).append(_PART_WORDS[part])
    if record.approved_schema_version:
        state = f"schema version {version} is an edit not yet approved (version {record.approved_schema_version} was)"
    else:
        state = f"schema (version {version}) is a proposal not yet approved"
    lines = [
        f"{name} cannot train yet: its {state}. Everything in a schema is public (it shapes "
        "every model and the files released from them), so its owner approves it first."
    ]
    if by_column:
        listed = [f"{c} ({', '.join(p)})" for c, p in list(by_column.items())[:_LISTED_COLUMNS]]
        more = len(by_column) - len(listed)
        lines.append(
            "Parts of it were taken from the table's values rather than declared: "
            + ", ".join(listed)
            + (f", and {more} more column(s)" if more > 0 else "")
            + "."
        )
    else:
        lines.append("Nothing in it was taken from the table; every part was declared.")
    lines.append(
        f"Review it (client.schema(source), or `synth sources schema {name}`), then approve "
        f"it: client.approve_schema(source), `synth sources approve-schema {name}`, or "
        f'ApproveSchema(name="{name}", schema_version={version}); or edit and approve in one '
        "call: client.update_schema(source, schema, approve=True)."
    )
    return " ".join(lines)


def fingerprint_key(secret: bytes) -> bytes:
    """The key of source fingerprints, derived from the server secret for this one use."""
    return hmac.new(secret, b"synth.source_fingerprint.v1", hashlib.sha256).digest()


def uri_to_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else uri)
    raise InvalidArgument(
        f"URI scheme {parsed.scheme!r} is not supported here; give a path or file:// URI the server can read",
        violations=[FieldViolation("header.uri", "unsupported scheme")],
    )


class SourceService:
    def __init__(self, stores: Stores) -> None:
        self.config = stores.config
        self.artifacts = stores.artifacts
        self.rows = stores.sources
        self._fingerprint_key = fingerprint_key(stores.secret)

    def register(
        self,
        req: RegisterRequest,
        payload: Path | None,
        *,
        alive: Callable[[], bool] = lambda: True,
    ) -> SourceRecord:
        """Register `payload` (an uploaded file) or the file `req.uri` names."""
        validate_register(req, self.config)
        self._refuse_existing(req.source_id)
        if req.uri and payload is not None:
            raise InvalidArgument("send either a uri or table bytes, not both")
        path = uri_to_path(req.uri) if req.uri else payload
        if path is None:
            raise InvalidArgument(
                "no table: send chunks of a Parquet or CSV file after the header, or set header.uri"
            )
        declared_types = {c.name: c.arrow_type for c in req.schema or () if c.arrow_type}
        table = read_table(
            path, fmt=req.fmt, max_bytes=self.config.max_source_bytes, types=declared_types
        )
        schema = merge_declarations(infer_schema(table), req.schema)
        schema.check_table(table)
        fp = fingerprint(table, self._fingerprint_key)
        holdout = (
            self.config.default_holdout_fraction
            if req.holdout_fraction is None
            else req.holdout_fraction
        )
        seed = req.split_seed if req.split_seed is not None else secrets.randbits(62)
        unit = schema.privacy_unit.column if schema.privacy_unit is not None else None
        train, hold = split_holdout(table, fraction=holdout, seed=seed, unit_column=unit)
        if train.num_rows < 2:
            raise InvalidArgument(
                f"the table has {table.num_rows} row(s); a source needs at least 2 training rows"
            )
        if not alive():
            raise Cancelled("the client went away before the source was stored")
        size = path.stat().st_size
        return self._store(req, schema, fp, seed, holdout, train, hold, size, alive)

    def _refuse_existing(self, source_id: str) -> None:
        state = self.rows.state(source_id)
        if state != "absent":
            extra = " (it was deleted; its ledger is kept for audit)" if state == "deleted" else ""
            raise AlreadyExists(
                f"source 'sources/{source_id}' already exists{extra}; choose another id"
            )

    def _store(
        self,
        req: RegisterRequest,
        schema: TableSchema,
        fp: str,
        seed: int,
        holdout: float,
        train: pa.Table,
        hold: pa.Table,
        size: int,
        alive: Callable[[], bool],
    ) -> SourceRecord:
        rel = self.artifacts.source_dir(req.source_id)
        record = SourceRecord(
            id=req.source_id,
            display_name=req.display_name,
            fingerprint=fp,
            schema=schema,
            schema_version=1,
            row_count=train.num_rows + hold.num_rows,
            train_rows=train.num_rows,
            holdout_rows=hold.num_rows,
            holdout_fraction=holdout,
            split_seed=seed,
            epsilon_cap=req.epsilon,
            delta_cap=req.delta,
            allow_non_private=req.allow_non_private,
            size_bytes=size,
            create_time=time.time(),
            version_id=new_source_version(),
            approved_schema_version=1 if req.approve_schema else 0,
            inferred=inferred_parts(schema.names, req.schema),
        )
        try:
            with self.rows.inserting(record), self.artifacts.staged_dir(rel) as staging:
                arrow_schema = schema.arrow_schema()
                write_parquet_atomic(staging / TRAIN_FILE, train.cast(arrow_schema), arrow_schema)
                write_parquet_atomic(staging / HOLDOUT_FILE, hold.cast(arrow_schema), arrow_schema)
                if not alive():
                    raise Cancelled("the client went away before the source was stored")
        except FileExistsError as exc:
            self._remove_orphan(req.source_id)
            raise AlreadyExists(
                f"source 'sources/{req.source_id}' is being registered by another call"
            ) from exc
        except BaseException:
            self._remove_orphan(req.source_id)
            raise
        return record

    def _remove_orphan(self, source_id: str) -> None:
        """Stored parts without a committed metadata row are leftovers of a failed write."""
        if self.rows.state(source_id) == "absent":
            self.artifacts.remove(self.artifacts.source_dir(source_id))

    # --- reads and updates ------------------------------------------------------------

    def get(self, source_id: str) -> SourceRecord:
        return self.rows.get(source_id)

    def list(self, *, page_size: int, token: str) -> Page[SourceRecord]:
        return self.rows.list(page_size=page_size, token=token)

    def read_part(self, record: SourceRecord, part: str) -> pa.Table:
        """The stored train or holdout rows (for jobs; never sent to clients)."""
        name = {"train": TRAIN_FILE, "holdout": HOLDOUT_FILE}[part]
        return pq.read_table(self.artifacts.path(f"{self.artifacts.source_dir(record.id)}/{name}"))

    def update_schema(
        self, source_id: str, schema: TableSchema, *, approve: bool = False
    ) -> SourceRecord:
        """Store the edited schema as the next version: pending, or approved with `approve`."""
        record = self.get(source_id)
        if schema.names != record.schema.names:
            raise InvalidArgument(
                f"the schema's columns {schema.names} must be the source's columns {record.schema.names}, in order"
            )
        merged = merge_declarations(record.schema, schema)
        inferred = inferred_parts(merged.names, schema, before=record.inferred)
        stored = replace(record, inferred=inferred)
        self.rows.set_schema(
            source_id, merged, inferred_json=stored.inferred_json(), approve=approve
        )
        return self.get(source_id)

    def approve_schema(self, source_id: str, schema_version: int) -> SourceRecord:
        """Approve the schema version the owner reviewed, if it is still the current one."""
        if schema_version <= 0:
            raise InvalidArgument(
                "schema_version is required: the version you reviewed (the source's "
                "schema_version), so a schema edited since is not approved unseen",
                violations=[FieldViolation("schema_version", "required, > 0")],
            )
        record = self.get(source_id)
        if record.schema_version != schema_version or not self.rows.approve_schema(
            source_id, schema_version
        ):
            current = self.get(source_id).schema_version
            raise SchemaVersionMismatch(
                f"sources/{source_id} is at schema version {current}, not {schema_version}: "
                f"it changed after you looked. Review version {current} (GetSource, "
                f"`synth sources schema sources/{source_id}`) and approve that one",
                violations=[FieldViolation("schema_version", f"the current one is {current}")],
                metadata={"schema_version": str(current)},
            )
        return self.get(source_id)

    def require_approved_schema(self, record: SourceRecord) -> None:
        """Raise `SchemaNotApproved` (naming what to review) unless the current schema is approved."""
        if record.schema_approved:
            return
        parts = record.inferred_parts()
        raise SchemaNotApproved(
            pending_schema_message(record),
            violations=[
                # The message says it too (the CLI prints a description only once).
                FieldViolation(f"columns.{name}.{part}", "taken from the table's values")
                for name, part in parts
            ],
            metadata={
                "source": name_of("sources", record.id),
                "schema_version": str(record.schema_version),
                "approved_schema_version": str(record.approved_schema_version),
            },
        )

    def delete(self, source_id: str) -> None:
        """Remove the stored rows, models and datasets; keep the ledger for audit."""
        self.get(source_id)
        for artifact in self.rows.delete(source_id):
            self.artifacts.remove(artifact)
        self.artifacts.remove(self.artifacts.source_dir(source_id))
