"""The table schema on the wire: `synth.base.schema.TableSchema` ⇄ `synth.v1.TableSchema`.

One conversion for the server and the SDK, so a declaration survives the
round trip exactly (bounds, categories, tags) in both directions.
"""

from __future__ import annotations

from typing import Literal

from synth.base.errors import InvalidSchema
from synth.base.schema import AUTO, ColumnKind, ColumnSchema, PrivacyUnit, TableSchema, Tag
from synth.v1 import schema_pb2

KIND_TO_PROTO = {
    ColumnKind.NUMERICAL: schema_pb2.NUMERICAL,
    ColumnKind.CATEGORICAL: schema_pb2.CATEGORICAL,
    ColumnKind.DATETIME: schema_pb2.DATETIME,
    ColumnKind.BOOLEAN: schema_pb2.BOOLEAN,
    ColumnKind.ID: schema_pb2.ID,
    ColumnKind.PII: schema_pb2.PII,
}
KIND_FROM_PROTO = {v: k for k, v in KIND_TO_PROTO.items()}


def schema_to_proto(schema: TableSchema) -> schema_pb2.TableSchema:
    cols = []
    for c in schema.columns:
        pb = schema_pb2.ColumnSchema(
            name=c.name,
            kind=KIND_TO_PROTO[c.kind],
            arrow_type=c.arrow_type,
            nullable=c.nullable,
            tags=[t.value for t in c.tags],
        )
        if c.lower is not None:
            pb.lower = c.lower
        if c.upper is not None:
            pb.upper = c.upper
        if c.categories is not None:
            pb.categories.values.extend(c.categories)
        cols.append(pb)
    out = schema_pb2.TableSchema(columns=cols)
    unit = schema.privacy_unit
    if unit is not None:
        auto = unit.max_rows == AUTO
        out.privacy_unit.CopyFrom(
            schema_pb2.PrivacyUnit(
                column=unit.column, max_rows=0 if auto else int(unit.max_rows), auto_max_rows=auto
            )
        )
    return out


def schema_from_proto(pb: schema_pb2.TableSchema) -> TableSchema:
    """Raises `InvalidSchema` for a column without a kind, an unknown tag or contradictions."""
    cols = []
    for c in pb.columns:
        if c.kind not in KIND_FROM_PROTO:
            raise InvalidSchema(f"column {c.name!r}: set a kind (numerical, categorical, ...)")
        try:
            tags = tuple(Tag(t) for t in c.tags)
        except ValueError as exc:
            raise InvalidSchema(f"column {c.name!r}: {exc}") from exc
        col = ColumnSchema(
            name=c.name,
            kind=KIND_FROM_PROTO[c.kind],
            arrow_type=c.arrow_type,
            nullable=c.nullable,
            lower=c.lower if c.HasField("lower") else None,
            upper=c.upper if c.HasField("upper") else None,
            categories=tuple(c.categories.values) if c.HasField("categories") else None,
            tags=tags,
        )
        if col.arrow_type:
            col.check()
        cols.append(col)
    unit = None
    if pb.HasField("privacy_unit"):
        u = pb.privacy_unit
        if u.auto_max_rows and u.max_rows:
            raise InvalidSchema("privacy_unit: give max_rows or auto_max_rows, not both")
        k: int | Literal["auto"] = "auto" if u.auto_max_rows else (u.max_rows or 1)
        unit = PrivacyUnit(u.column, k)
    return TableSchema(columns=tuple(cols), privacy_unit=unit)
