"""Ownership in queries: models, datasets and evaluations belong to their source's owner.

Each store read takes `owner`: None reads everything (an admin, or the server
itself); a subject limits the query to rows of that owner's sources, so a row
the caller may not see is answered exactly like an absent one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, ColumnElement, Select, select

from synth.store.sqltables import sources

Owner = str | tuple[str, ...] | None


def owned_sources(owner: str | tuple[str, ...]) -> Select[Any]:
    """The ids of `owner`'s sources (live or deleted); a tuple names several owners."""
    owners = (owner,) if isinstance(owner, str) else owner
    return select(sources.c.id).where(sources.c.owner.in_(owners))


def of_owner(query: Select[Any], source_id: Column[Any], owner: Owner) -> Select[Any]:
    """`query` limited to rows whose `source_id` is one of `owner`'s sources (None: all)."""
    if owner is None:
        return query
    cond: ColumnElement[bool] = source_id.in_(owned_sources(owner))
    return query.where(cond)
