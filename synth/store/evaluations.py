"""Evaluation rows: insert, read, list by dataset or source."""

from __future__ import annotations

import json

from sqlalchemy import select

from synth.base.errors import InvalidArgument, NotFound
from synth.store.metadata import MetadataStore
from synth.store.owners import Owner, of_owner
from synth.store.pages import Page, fetch_page
from synth.store.records import EvaluationRecord
from synth.store.sqltables import evaluations


class EvaluationRows:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def insert(self, record: EvaluationRecord) -> None:
        row = {k: v for k, v in record.__dict__.items() if k not in ("scores", "result")}
        with self.meta.transaction() as conn:
            conn.execute(evaluations.insert().values(scores_json=json.dumps(record.scores), **row))

    def get(self, evaluation_id: str, *, owner: Owner = None) -> EvaluationRecord:
        """The evaluation; with `owner`, only if its source is theirs (else the same NotFound)."""
        q = of_owner(
            select(evaluations).where(evaluations.c.id == evaluation_id),
            evaluations.c.source_id,
            owner,
        )
        with self.meta.transaction() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"evaluation 'evaluations/{evaluation_id}' does not exist")
        return EvaluationRecord.from_row(row)

    def list(
        self, *, page_size: int, token: str, parent: str = "", owner: Owner = None
    ) -> Page[EvaluationRecord]:
        q = of_owner(
            select(evaluations).order_by(evaluations.c.create_time, evaluations.c.id),
            evaluations.c.source_id,
            owner,
        )
        coll, _, rid = parent.partition("/")
        if coll == "datasets":
            q = q.where(evaluations.c.dataset_id == rid)
        elif coll == "sources":
            q = q.where(evaluations.c.source_id == rid)
        elif parent:
            raise InvalidArgument("parent must be 'datasets/ID' or 'sources/ID'")
        return fetch_page(
            self.meta, q, page_size=page_size, token=token, make=EvaluationRecord.from_row
        )
