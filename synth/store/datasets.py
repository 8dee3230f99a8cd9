"""Dataset rows: insert, read, list by model or source."""

from __future__ import annotations

import json

from sqlalchemy import or_, select

from synth.base.errors import NotFound
from synth.store.metadata import MetadataStore
from synth.store.owners import Owner, of_owner
from synth.store.pages import Page, fetch_page
from synth.store.records import DatasetRecord
from synth.store.sqltables import datasets


class DatasetRows:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def insert(self, record: DatasetRecord) -> None:
        row = record.__dict__.copy()
        with self.meta.transaction() as conn:
            conn.execute(
                datasets.insert().values(lineage_json=json.dumps(row.pop("lineage")), **row)
            )

    def get(self, dataset_id: str, *, owner: Owner = None) -> DatasetRecord:
        """The dataset; with `owner`, only if its source is theirs (else the same NotFound)."""
        q = of_owner(
            select(datasets).where(datasets.c.id == dataset_id), datasets.c.source_id, owner
        )
        with self.meta.transaction() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"dataset 'datasets/{dataset_id}' does not exist")
        return DatasetRecord.from_row(row)

    def list(
        self, *, page_size: int, token: str, parent: str = "", owner: Owner = None
    ) -> Page[DatasetRecord]:
        q = of_owner(
            select(datasets).order_by(datasets.c.create_time, datasets.c.id),
            datasets.c.source_id,
            owner,
        )
        if parent:
            coll, _, rid = parent.partition("/")
            if coll == "models":
                q = q.where(datasets.c.model_id == rid)
            elif coll == "sources":
                q = q.where(datasets.c.source_id == rid)
            else:
                q = q.where(or_(datasets.c.model_id == parent, datasets.c.source_id == parent))
        return fetch_page(
            self.meta, q, page_size=page_size, token=token, make=DatasetRecord.from_row
        )
