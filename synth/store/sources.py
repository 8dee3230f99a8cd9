"""Source rows: insert, read, list, schema updates and approvals, and the delete cascade."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from synth.base.errors import AlreadyExists, NotFound
from synth.base.schema import TableSchema
from synth.store.metadata import MetadataStore
from synth.store.pages import Page, fetch_page
from synth.store.records import SourceRecord
from synth.store.sqltables import datasets, evaluations, models, sources

#: The PostgreSQL advisory lock that serialises the insert of new sources (any constant
#: of our own: registrations are rare, and only their insert phase holds it).
_REGISTER_LOCK = 0x5359_4E54_4852_4547  # "SYNTHREG"


class SameRows(Exception):
    """A source with the same keyed fingerprint exists: the core words the refusal
    (what it may say depends on who asks), so this never reaches a caller as is."""

    def __init__(self, source_id: str) -> None:
        super().__init__(source_id)
        self.source_id = source_id


class SourceRows:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def state(self, source_id: str) -> str:
        """ "absent", "live" or "deleted" (a deleted id stays taken: its ledger is kept)."""
        with self.meta.transaction() as conn:
            row = conn.execute(select(sources.c.deleted).where(sources.c.id == source_id)).first()
        if row is None:
            return "absent"
        return "deleted" if row.deleted else "live"

    def owner(self, source_id: str) -> str | None:
        """Who registered the source, live or deleted ("" before owners; None when absent)."""
        with self.meta.transaction() as conn:
            row = conn.execute(select(sources.c.owner).where(sources.c.id == source_id)).first()
        return None if row is None else str(row.owner)

    def with_fingerprint(self, fingerprint: str) -> tuple[str, bool] | None:
        """(id, deleted) of the oldest source, live or deleted, with this keyed fingerprint."""
        with self.meta.transaction() as conn:
            row = conn.execute(
                select(sources.c.id, sources.c.deleted)
                .where(sources.c.fingerprint == fingerprint)
                .order_by(sources.c.create_time, sources.c.id)
                .limit(1)
            ).first()
        return None if row is None else (row.id, bool(row.deleted))

    @contextmanager
    def inserting(self, record: SourceRecord) -> Iterator[None]:
        """Insert the row, run the block, then commit: the block failing leaves no row.

        The caller writes the source's files inside the block, so files and row
        appear together. Raises `AlreadyExists` when another call took the id first,
        and `SameRows` when a source with the same keyed fingerprint exists: checked
        inside the insert's transaction, serialised (SQLite: BEGIN IMMEDIATE;
        PostgreSQL: a transaction advisory lock), so two registrations of one
        table racing each other cannot both get a budget.
        """
        values = {k: v for k, v in record.__dict__.items() if k not in ("schema", "inferred")}
        try:
            with self.meta.transaction() as conn:
                if not self.meta.is_sqlite:
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REGISTER_LOCK}
                    )
                same = conn.execute(
                    select(sources.c.id).where(sources.c.fingerprint == record.fingerprint).limit(1)
                ).first()
                if same is not None:
                    raise SameRows(same.id)
                conn.execute(
                    sources.insert().values(
                        schema_json=record.schema.to_json(indent=None),
                        schema_inferred_json=record.inferred_json(),
                        **values,
                    )
                )
                yield
        except IntegrityError as exc:
            raise AlreadyExists(
                f"source 'sources/{record.id}' already exists; choose another id"
            ) from exc

    def get(self, source_id: str, *, owner: str | None = None) -> SourceRecord:
        """The live source; with `owner`, only if it is theirs (else the same NotFound)."""
        q = select(sources).where(sources.c.id == source_id, sources.c.deleted.is_(False))
        if owner is not None:
            q = q.where(sources.c.owner == owner)
        with self.meta.transaction() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"source 'sources/{source_id}' does not exist")
        return SourceRecord.from_row(row)

    def list(self, *, page_size: int, token: str, owner: str | None = None) -> Page[SourceRecord]:
        """A page of live sources; with `owner`, only theirs."""
        q = (
            select(sources)
            .where(sources.c.deleted.is_(False))
            .order_by(sources.c.create_time, sources.c.id)
        )
        if owner is not None:
            q = q.where(sources.c.owner == owner)
        return fetch_page(
            self.meta, q, page_size=page_size, token=token, make=SourceRecord.from_row
        )

    def set_schema(
        self, source_id: str, schema: TableSchema, *, inferred_json: str, approve: bool
    ) -> None:
        """Store a new schema version: pending, or approved in the same statement."""
        values: dict[str, Any] = {
            "schema_json": schema.to_json(indent=None),
            "schema_inferred_json": inferred_json,
            "schema_version": sources.c.schema_version + 1,
        }
        if approve:  # SET sees the row as it was: this is the new version
            values["approved_schema_version"] = sources.c.schema_version + 1
        with self.meta.transaction() as conn:
            conn.execute(update(sources).where(sources.c.id == source_id).values(**values))

    def approve_schema(self, source_id: str, version: int) -> bool:
        """Approve `version` if it is still the current one; False when it is not."""
        with self.meta.transaction() as conn:
            done = conn.execute(
                update(sources)
                .where(
                    sources.c.id == source_id,
                    sources.c.deleted.is_(False),
                    sources.c.schema_version == version,
                )
                .values(approved_schema_version=version)
            )
        return bool(done.rowcount)

    def delete(self, source_id: str) -> Sequence[str]:
        """Drop the source's models, datasets and evaluations; keep its row (deleted) and ledger.

        Returns the artifacts the dropped rows pointed at, for the caller to remove.
        """
        with self.meta.transaction() as conn:
            artifacts = [
                r.artifact
                for table in (models, datasets, evaluations)
                for r in conn.execute(
                    select(table.c.artifact).where(table.c.source_id == source_id)
                )
            ]
            conn.execute(evaluations.delete().where(evaluations.c.source_id == source_id))
            conn.execute(datasets.delete().where(datasets.c.source_id == source_id))
            conn.execute(models.delete().where(models.c.source_id == source_id))
            conn.execute(update(sources).where(sources.c.id == source_id).values(deleted=True))
        return artifacts
