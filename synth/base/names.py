"""Resource names ("sources/adult", "models/m-3f2a...") and fresh ids."""

from __future__ import annotations

import re
import secrets

from synth.base.errors import FieldViolation, InvalidArgument

SOURCE_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
#: Longest texts a request may carry, in characters (a caller's text is stored and
#: listed: one huge value would break every page and error that shows it).
MAX_DISPLAY_NAME = 256
MAX_IDEMPOTENCY_KEY = 128
MAX_COLUMN_NAME = 256
MAX_NAME = 200  # a resource name, "collection/id"
#: How much of a caller's value an error message quotes.
SHOWN = 80
#: The largest ε a budget cap or a training may name: past it no mechanism's noise
#: matters, and the accountants' arithmetic overflows (ε = 1e300 answered INTERNAL).
MAX_EPSILON = 1e6
#: The smallest ε and δ a request may carry: below them the privacy arithmetic underflows
#: (ε = 5e-324 failed converting to ρ; δ = 5e-324 became 0 after the charge).
MIN_EPSILON = 1e-6
MIN_DELTA = 1e-100
_COLLECTIONS = ("sources", "models", "datasets", "jobs", "evaluations")


def new_id(prefix: str) -> str:
    """A short random id with a readable prefix, e.g. "m-5b1c0e9a7d3f"."""
    return f"{prefix}-{secrets.token_hex(6)}"


def new_source_version() -> str:
    """A source version id, e.g. "sv-0f3a...": random, never a function of the rows.

    Models and datasets name the rows they came from by it; a content hash in
    their place would let whoever knows all rows but one test the last offline.
    """
    return f"sv-{secrets.token_hex(16)}"


def shown(value: str, limit: int = SHOWN) -> str:
    """`value` quoted for an error message, cut to `limit` characters (a message never
    echoes an oversized input whole)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"


def check_length(value: str, field: str, limit: int) -> str:
    """Refuse a text longer than `limit` characters, naming the field, not quoting the value."""
    if len(value) > limit:
        raise InvalidArgument(
            f"{field} is {len(value):,} characters long; at most {limit} are accepted",
            violations=[FieldViolation(field, f"at most {limit} characters")],
        )
    return value


def check_source_id(source_id: str) -> str:
    if not SOURCE_ID.match(source_id):
        raise InvalidArgument(
            f"source id {shown(source_id)} is not valid: use 1-63 lower-case letters, digits "
            "and '-', starting with a letter (e.g. 'adult-2024')",
            violations=[FieldViolation("header.source_id", "must match [a-z][a-z0-9-]{0,62}")],
        )
    return source_id


def parse_name(name: str, collection: str, *, field: str = "name") -> str:
    """The id in "collection/id"; a bare id is accepted too."""
    assert collection in _COLLECTIONS
    if not name:
        raise InvalidArgument(
            f"{field} is required (e.g. '{collection}/ID')",
            violations=[FieldViolation(field, "required")],
        )
    if len(name) > MAX_NAME:
        raise InvalidArgument(
            f"{field} {shown(name)} is not a {collection[:-1]} name; expected '{collection}/ID'",
            violations=[FieldViolation(field, f"at most {MAX_NAME} characters")],
        )
    head, sep, tail = name.partition("/")
    if sep and head == collection and tail and "/" not in tail:
        return tail
    if not sep:
        return name
    raise InvalidArgument(
        f"{field} {shown(name)} is not a {collection[:-1]} name; expected '{collection}/ID'",
        violations=[FieldViolation(field, f"expected {collection}/ID")],
    )


def name_of(collection: str, rid: str) -> str:
    return f"{collection}/{rid}"
