"""Page tokens for list calls: opaque to clients, an offset inside."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select

from synth.base.errors import FieldViolation, InvalidArgument
from synth.store.metadata import MetadataStore

T = TypeVar("T")
M = TypeVar("M")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
#: A list response stops before its items pass this many serialized bytes (well under
#: the 8 MiB message limit), whatever the page size: a few large items (a wide
#: schema, a long report summary) never make a page fail for everyone.
MAX_PAGE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str


def page_size(requested: int) -> int:
    """The page size to use for a request's (proto int32) `page_size`."""
    if requested < 0:
        raise InvalidArgument(
            "page_size must not be negative", violations=[FieldViolation("page_size", "negative")]
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_token(token: str) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        offset = int(value)
        if kind != "o" or not 0 <= offset < 2**62:  # past it the database's integers overflow
            raise ValueError
        return offset
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(
            "page_token is not one this server issued; start again with an empty token",
            violations=[FieldViolation("page_token", "invalid")],
        ) from exc


def fetch_page(
    store: MetadataStore,
    query: Select[Any],
    *,
    page_size: int,
    token: str,
    make: Callable[[Any], T],
) -> Page[T]:
    """One page of an ordered query: one row more than asked says whether another page follows."""
    offset = decode_token(token)
    with store.transaction() as conn:
        rows = conn.execute(query.offset(offset).limit(page_size + 1)).all()
    items = [make(r) for r in rows[:page_size]]
    return Page(items, encode_token(offset + page_size) if len(rows) > page_size else "")


def bounded_by_bytes(
    items: list[M],
    next_token: str,
    token: str,
    size: Callable[[M], int],
    *,
    budget: int = MAX_PAGE_BYTES,
) -> tuple[list[M], str]:
    """The leading `items` whose sizes add up to at most `budget`, and the token that
    continues after the last one kept (the page's own token when all fit).

    `items` are the converted items of a page fetched with `token`. The first item
    is always kept, so a page always moves forward.
    """
    total = 0
    for i, item in enumerate(items):
        total += size(item) + 8  # the field's tag and length prefix, generously
        if i > 0 and total > budget:
            return items[:i], encode_token(decode_token(token) + i)
    return items, next_token
