"""Registering sources: validate, fingerprint, infer a schema, split, store.

Nothing is written until the table has passed every check, and then the
stored parts and the metadata row appear together or not at all.

An inferred schema is a proposal: the source is "schema pending" until its
owner approves the version they reviewed (`approve_schema`, or an edit with
`approve`), and training refuses it until then (`require_approved_schema`).

The request and the checks made before the body are in `synth.core.registration`,
the pending-schema message in `synth.core.schema_review`; both are re-exported here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

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
from synth.base.names import name_of, new_source_version
from synth.base.principal import Principal, Role
from synth.base.schema import TableSchema
from synth.base.split import split_holdout
from synth.base.tablehash import fingerprint
from synth.base.tableio import TableLimits, read_table
from synth.core.access import owner_filter, require, require_admin
from synth.core.registration import MAX_URI as MAX_URI
from synth.core.registration import RegisterRequest as RegisterRequest
from synth.core.registration import resolve_import as resolve_import
from synth.core.registration import uri_to_path as uri_to_path
from synth.core.registration import validate_register as validate_register
from synth.core.schema_review import pending_schema_message as pending_schema_message
from synth.core.stores import Stores
from synth.store.pages import Page
from synth.store.records import SourceRecord
from synth.store.sources import SameRows

TRAIN_FILE = "train.parquet"
HOLDOUT_FILE = "holdout.parquet"


def fingerprint_key(secret: bytes) -> bytes:
    """The key of source fingerprints, derived from the server secret for this one use."""
    return hmac.new(secret, b"synth.source_fingerprint.v1", hashlib.sha256).digest()


class SourceService:
    def __init__(self, stores: Stores) -> None:
        self.config = stores.config
        self.artifacts = stores.artifacts
        self.rows = stores.sources
        self._fingerprint_key = fingerprint_key(stores.secret)
        self.audit = stores.audit

    @property
    def limits(self) -> TableLimits:
        c = self.config
        return TableLimits(
            rows=c.max_source_rows,
            columns=c.max_source_columns,
            decoded_bytes=c.decoded_bytes_limit,
            cell_bytes=c.max_cell_bytes,
        )

    def authorize_register(self, who: Principal, req: RegisterRequest) -> None:
        """Only an admin sets a cap above the owner limit, allow_non_private or a uri."""
        cfg = self.config
        if req.epsilon > cfg.owner_max_epsilon_cap or req.delta > cfg.owner_max_delta_cap:
            require_admin(
                who,
                f"a budget cap above ε={cfg.owner_max_epsilon_cap:g}, "
                f"δ={cfg.owner_max_delta_cap:g} (this server's owner limit)",
            )
        if req.allow_non_private:
            require_admin(who, "allow_non_private (models trained without differential privacy)")
        if req.uri:
            require_admin(who, "registering a server-side path (header.uri)")

    def check_header(self, who: Principal, req: RegisterRequest) -> None:
        """Everything about a registration that can be refused before a byte of the table:
        the role first (it depends on nothing sent), then the header's values, then what
        only an admin may ask for, then the id."""
        require(who, Role.OWNER, "registering a source")
        validate_register(req, self.config)
        self.authorize_register(who, req)
        self._refuse_existing(who, req.source_id)
        if req.uri:
            resolve_import(req.uri, self.config)

    def register(
        self,
        who: Principal,
        req: RegisterRequest,
        payload: Path | None,
        *,
        alive: Callable[[], bool] = lambda: True,
    ) -> SourceRecord:
        """Register `payload` (an uploaded file) or the file `req.uri` names, as `who`'s."""
        self.check_header(who, req)
        req = replace(req, owner=who.subject)
        if req.uri and payload is not None:
            raise InvalidArgument("send either a uri or table bytes, not both")
        path = resolve_import(req.uri, self.config) if req.uri else payload
        if path is None:
            raise InvalidArgument(
                "no table: send chunks of a Parquet or CSV file after the header, or set header.uri"
            )
        declared_types = {c.name: c.arrow_type for c in req.schema or () if c.arrow_type}
        table = read_table(
            path,
            fmt=req.fmt,
            max_bytes=self.config.max_source_bytes,
            types=declared_types,
            limits=self.limits,
        )
        schema = merge_declarations(infer_schema(table), req.schema)
        schema.check_table(table)
        fp = fingerprint(table, self._fingerprint_key, canonical=True)
        self._refuse_same_rows(who, fp)
        # Sources registered before fingerprints ignored row and column order hold the
        # order-sensitive one.
        self._refuse_same_rows(who, fingerprint(table, self._fingerprint_key))
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
        record = self._store(who, req, schema, fp, seed, holdout, train, hold, size, alive)
        self.audit.append(
            who.subject,
            "RegisterSource",
            name_of("sources", record.id),
            {
                "fingerprint": fp,  # keyed by the server secret already
                "version": record.version_id,
                "schema": self.audit.fingerprint(schema.to_json_dict()),
                "epsilon_cap": record.epsilon_cap,
                "delta_cap": record.delta_cap,
                "allow_non_private": record.allow_non_private,
                "schema_approved": record.schema_approved,
            },
        )
        return record

    def _refuse_existing(self, who: Principal, source_id: str) -> None:
        state = self.rows.state(source_id)
        if state != "absent":
            # Ids are one namespace for all owners: a stranger learns only that it is taken.
            mine = who.owns(self.rows.owner(source_id) or "")
            extra = (
                " (it was deleted; its ledger is kept for audit)"
                if state == "deleted" and mine
                else ""
            )
            raise AlreadyExists(
                f"source 'sources/{source_id}' already exists{extra}; choose another id"
            )

    def _refuse_same_rows(self, who: Principal, fp: str) -> None:
        """A table already registered (live or deleted) gets no fresh budget under a new id."""
        same = self.rows.with_fingerprint(fp)
        if same is None:
            return
        source_id, deleted = same
        if not who.owns(self.rows.owner(source_id) or ""):
            raise AlreadyExists(
                "a source with the same rows is already registered on this server by another "
                "owner. A table registered again would get a fresh privacy budget for the same "
                "people; ask an admin"
            )
        state = " (deleted; its ledger is kept)" if deleted else ""
        raise AlreadyExists(
            f"a source with the same rows exists: {name_of('sources', source_id)}{state}. A "
            "table registered again under a new id would get a fresh privacy budget for the "
            "same people; train on that source instead",
            metadata={"source": name_of("sources", source_id)},
        )

    def _store(
        self,
        who: Principal,
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
            owner=req.owner,
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
        except SameRows as exc:  # registered by a call that raced this one since the check
            self._remove_orphan(req.source_id)
            self._refuse_same_rows(who, fp)
            raise AlreadyExists("a source with the same rows is already registered") from exc
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

    def get(self, who: Principal, source_id: str) -> SourceRecord:
        """The source, if `who` may see it; else the NotFound of an absent id."""
        return self.rows.get(source_id, owner=owner_filter(who))

    def list(self, who: Principal, *, page_size: int, token: str) -> Page[SourceRecord]:
        return self.rows.list(page_size=page_size, token=token, owner=owner_filter(who))

    def read_part(self, record: SourceRecord, part: str) -> pa.Table:
        """The stored train or holdout rows (for jobs; never sent to clients)."""
        name = {"train": TRAIN_FILE, "holdout": HOLDOUT_FILE}[part]
        return pq.read_table(self.artifacts.path(f"{self.artifacts.source_dir(record.id)}/{name}"))

    def update_schema(
        self, who: Principal, source_id: str, schema: TableSchema, *, approve: bool = False
    ) -> SourceRecord:
        """Store the edited schema as the next version: pending, or approved with `approve`."""
        require(who, Role.OWNER, "editing a source's schema")
        record = self.get(who, source_id)
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
        after = self.get(who, source_id)
        self.audit.append(
            who.subject,
            "UpdateSchema",
            name_of("sources", source_id),
            {
                "schema_version": after.schema_version,
                "schema": self.audit.fingerprint(merged.to_json_dict()),
                "approved": approve,
            },
        )
        return after

    def approve_schema(self, who: Principal, source_id: str, schema_version: int) -> SourceRecord:
        """Approve the schema version the owner reviewed, if it is still the current one."""
        require(who, Role.OWNER, "approving a source's schema")
        if schema_version <= 0:
            raise InvalidArgument(
                "schema_version is required: the version you reviewed (the source's "
                "schema_version), so a schema edited since is not approved unseen",
                violations=[FieldViolation("schema_version", "required, > 0")],
            )
        record = self.get(who, source_id)
        if record.schema_version != schema_version or not self.rows.approve_schema(
            source_id, schema_version
        ):
            current = self.get(who, source_id).schema_version
            raise SchemaVersionMismatch(
                f"sources/{source_id} is at schema version {current}, not {schema_version}: "
                f"it changed after you looked. Review version {current} (GetSource, "
                f"`synth sources schema sources/{source_id}`) and approve that one",
                violations=[FieldViolation("schema_version", f"the current one is {current}")],
                metadata={"schema_version": str(current)},
            )
        self.audit.append(
            who.subject,
            "ApproveSchema",
            name_of("sources", source_id),
            {"schema_version": schema_version},
        )
        return self.get(who, source_id)

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

    def delete(self, who: Principal, source_id: str) -> None:
        """Remove the stored rows, models and datasets; keep the ledger for audit."""
        require(who, Role.OWNER, "deleting a source")
        self.get(who, source_id)
        for artifact in self.rows.delete(source_id):
            self.artifacts.remove(artifact)
        self.artifacts.remove(self.artifacts.source_dir(source_id))
        self.audit.append(who.subject, "DeleteSource", name_of("sources", source_id))
