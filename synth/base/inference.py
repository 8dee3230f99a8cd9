"""A schema proposal from a table: kinds guessed from types, shapes and names.

The proposal is only that: kinds, nullability and (for CSV) types come from
the table's values, so the owner reviews it, edits what is wrong, and approves
it before anything trains (`synth.core.sources`). `inferred_parts` records
which parts of a schema came from the table rather than from the owner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pyarrow as pa
import pyarrow.compute as pc

from synth.base.errors import FieldViolation, InvalidSchema
from synth.base.schema import (
    ColumnKind,
    ColumnSchema,
    TableSchema,
    Tag,
    normalize_type,
    type_to_name,
)

_ID_NAME_HINTS = ("id", "uuid", "key")
_PII_NAME_HINTS = (
    "email",
    "e_mail",
    "phone",
    "ssn",
    "first_name",
    "last_name",
    "full_name",
    "address",
)


def infer_schema(table: pa.Table, *, id_uniqueness: float = 0.999) -> TableSchema:
    """Guess each column's kind from its type and shape; copy no values.

    Strings are categorical unless (almost) every value is distinct, then an
    id; columns whose names say email/phone/... are PII. Integers and floats
    are numerical, unless an integer column named like a key is unique.
    The owner reviews this guess and may override any kind.
    """
    cols = []
    n = table.num_rows
    for name, arr in zip(table.column_names, table.columns, strict=True):
        t = normalize_type(arr.type)
        lname = name.lower()
        nullable = arr.null_count > 0
        if pa.types.is_boolean(t):
            kind = ColumnKind.BOOLEAN
        elif pa.types.is_timestamp(t) or pa.types.is_date(t):
            kind = ColumnKind.DATETIME
        elif pa.types.is_string(t):
            if any(h in lname for h in _PII_NAME_HINTS):
                kind = ColumnKind.PII
            else:
                distinct = pc.count_distinct(arr).as_py()
                non_null = n - arr.null_count
                unique = non_null > 50 and distinct >= id_uniqueness * non_null
                kind = ColumnKind.ID if unique else ColumnKind.CATEGORICAL
        elif pa.types.is_integer(t):
            named_like_id = lname in _ID_NAME_HINTS or lname.endswith(("_id", "_uuid", "_key"))
            if named_like_id and n > 0 and pc.count_distinct(arr).as_py() == n - arr.null_count:
                kind = ColumnKind.ID
            else:
                kind = ColumnKind.NUMERICAL
        else:
            kind = ColumnKind.NUMERICAL
        tags = (Tag.PII,) if kind is ColumnKind.PII else ()
        cols.append(
            ColumnSchema(name=name, kind=kind, arrow_type=str(t), nullable=nullable, tags=tags)
        )
    return TableSchema(columns=tuple(cols))


#: The parts of a column's schema that inference takes from the table when the owner
#: does not declare them (named as in field violations: "columns.{name}.{part}").
INFERABLE = ("kind", "nullable", "arrow_type")


def inferred_parts(
    names: list[str],
    declared: TableSchema | None,
    before: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, tuple[str, ...]]:
    """Which parts of each column came from the table rather than from the owner.

    Without a declared schema, all of them. A declared column states its kind
    and nullability; its type when `arrow_type` is set, else the type is the
    table's (on registration) or whatever it was `before` (on an edit; None
    there means every part came from the table).
    """
    if declared is None:
        return {name: INFERABLE for name in names}
    out: dict[str, tuple[str, ...]] = {}
    for col in declared.columns:
        was = INFERABLE if before is None else tuple(before.get(col.name, ()))
        typed_by_table = not col.arrow_type and (before is None or "arrow_type" in was)
        out[col.name] = ("arrow_type",) if typed_by_table else ()
    return out


def merge_declarations(inferred: TableSchema, declared: TableSchema | None) -> TableSchema:
    """The owner's schema wins wherever it speaks; its columns must match the table's."""
    if declared is None:
        return inferred
    if declared.names != inferred.names:
        raise InvalidSchema(
            f"the declared schema's columns {declared.names} do not match the table's {inferred.names}"
        )
    cols = []
    for inf, dec in zip(inferred.columns, declared.columns, strict=True):
        if dec.arrow_type and type_to_name(dec.dtype) != inf.arrow_type:
            raise InvalidSchema(
                f"column {dec.name!r}: declared type {dec.arrow_type} but the table stores {inf.arrow_type}",
                violations=[FieldViolation(f"columns.{dec.name}.arrow_type", "type mismatch")],
            )
        if inf.nullable and not dec.nullable:
            raise InvalidSchema(
                f"column {dec.name!r} is declared not nullable but has nulls",
                violations=[FieldViolation(f"columns.{dec.name}.nullable", "has nulls")],
            )
        cols.append(replace(dec, arrow_type=inf.arrow_type))
    return TableSchema(columns=tuple(cols), privacy_unit=declared.privacy_unit)
