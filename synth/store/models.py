"""Model rows: insert (attached to the ledger charges of the job that trained it), read, list."""

from __future__ import annotations

import json

from sqlalchemy import select

from synth.base.errors import NotFound
from synth.store import ledger as ledger_ops
from synth.store.metadata import MetadataStore
from synth.store.owners import Owner, of_owner
from synth.store.pages import Page, fetch_page
from synth.store.records import ModelRecord
from synth.store.sqltables import models


class ModelRows:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def insert(self, record: ModelRecord) -> None:
        """Insert the model and point its job's ledger charges at it, in one transaction."""
        row = record.__dict__.copy()
        with self.meta.transaction() as conn:
            conn.execute(
                models.insert().values(
                    params_json=json.dumps(row.pop("params"), default=str),
                    spends_json=json.dumps(row.pop("spends")),
                    details_json=json.dumps(row.pop("details")),
                    **row,
                )
            )
            ledger_ops.attach_model(conn, record.job_id, record.id)

    def get(self, model_id: str, *, owner: Owner = None) -> ModelRecord:
        """The model; with `owner`, only if its source is theirs (else the same NotFound)."""
        q = of_owner(select(models).where(models.c.id == model_id), models.c.source_id, owner)
        with self.meta.transaction() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"model 'models/{model_id}' does not exist")
        return ModelRecord.from_row(row)

    def list(
        self, *, page_size: int, token: str, source_id: str = "", owner: Owner = None
    ) -> Page[ModelRecord]:
        q = of_owner(
            select(models).order_by(models.c.create_time, models.c.id), models.c.source_id, owner
        )
        if source_id:
            q = q.where(models.c.source_id == source_id)
        return fetch_page(self.meta, q, page_size=page_size, token=token, make=ModelRecord.from_row)
