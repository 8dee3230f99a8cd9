"""Bring the three tables of an evaluation to one shape, or say clearly why not.

Arrow in, Arrow out: pyarrow tables, polars and pandas data frames are
accepted; everything inside `evaluators` works on polars frames whose columns
have the kinds the schema gives. Identifier and PII columns are dropped: they
are regenerated, never modelled, so comparing them would measure nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from synth.base.errors import InvalidArgument
from synth.base.inference import infer_schema
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema, normalize_type

#: Kinds that take part in the scores.
CONTINUOUS = (ColumnKind.NUMERICAL, ColumnKind.DATETIME)
DISCRETE = (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN)


def to_arrow(data: Any, *, role: str) -> pa.Table:
    """Accept a pyarrow Table/RecordBatch, a polars or a pandas DataFrame."""
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pl.DataFrame):
        table = data.to_arrow()
    elif type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        table = pa.Table.from_pandas(data, preserve_index=False)
    else:
        raise InvalidArgument(
            f"the {role} table must be a pyarrow Table, a polars or a pandas DataFrame, "
            f"got {type(data).__name__}"
        )
    fields = [pa.field(f.name, normalize_type(f.type)) for f in table.schema]
    if any(f.type != g.type for f, g in zip(table.schema, fields, strict=True)):
        table = table.cast(pa.schema(fields))
    return table.replace_schema_metadata(None)


@dataclass(frozen=True)
class Inputs:
    """The synthetic, train and holdout tables restricted to the scored columns."""

    synthetic: pl.DataFrame
    train: pl.DataFrame
    holdout: pl.DataFrame | None
    schema: TableSchema  # only the scored columns, in table order

    @property
    def columns(self) -> list[ColumnSchema]:
        return list(self.schema.columns)

    def kind(self, name: str) -> ColumnKind:
        return self.schema[name].kind


def prepare(
    synthetic: Any,
    train: Any,
    holdout: Any | None,
    *,
    schema: TableSchema | None,
) -> Inputs:
    """Check the tables against each other and the schema; raise `InvalidArgument` if they do not fit."""
    syn = to_arrow(synthetic, role="synthetic")
    trn = to_arrow(train, role="train")
    hold = None if holdout is None else to_arrow(holdout, role="holdout")
    for role, t in (("synthetic", syn), ("train", trn), ("holdout", hold)):
        if t is not None and t.num_rows == 0:
            raise InvalidArgument(f"the {role} table is empty: evaluation needs at least one row")
    _check_same_columns(trn, syn, "synthetic")
    if hold is not None:
        _check_same_columns(trn, hold, "holdout")
    if schema is None:
        schema = infer_schema(trn)
    elif schema.names != trn.column_names:
        raise InvalidArgument(
            f"the schema's columns {schema.names} do not match the train table's {trn.column_names}"
        )
    scored = [c for c in schema.columns if c.modelled]
    if not scored:
        raise InvalidArgument("no column to score: every column is an id or PII column")
    all_null = [c.name for c in scored if trn.column(c.name).null_count == trn.num_rows]
    if all_null:
        raise InvalidArgument(
            f"column(s) {', '.join(all_null)} are entirely null in the train table; "
            "drop them or mark them as pii/id so they are not scored"
        )
    names = [c.name for c in scored]
    frames = [_frame(t.select(names), scored, role) for role, t in
              (("synthetic", syn), ("train", trn))]
    hold_frame = None if hold is None else _frame(hold.select(names), scored, "holdout")
    return Inputs(frames[0], frames[1], hold_frame, TableSchema(columns=tuple(scored)))


def _check_same_columns(ref: pa.Table, other: pa.Table, role: str) -> None:
    if other.column_names == ref.column_names:
        return
    missing = [c for c in ref.column_names if c not in other.column_names]
    extra = [c for c in other.column_names if c not in ref.column_names]
    detail = []
    if missing:
        detail.append(f"missing {missing}")
    if extra:
        detail.append(f"unexpected {extra}")
    if not detail:
        detail.append("same names in another order")
    raise InvalidArgument(
        f"the {role} table's columns do not match the train table's: " + "; ".join(detail)
    )


def _frame(table: pa.Table, cols: list[ColumnSchema], role: str) -> pl.DataFrame:
    """Cast each column to the dtype its kind is scored with."""
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    exprs = []
    for c in cols:
        dtype = df.schema[c.name]
        e = pl.col(c.name)
        if c.kind is ColumnKind.NUMERICAL:
            if not dtype.is_numeric():
                raise InvalidArgument(
                    f"column {c.name!r} is numerical in the schema but the {role} table holds {dtype}"
                )
            e = e.cast(pl.Float64)
        elif c.kind is ColumnKind.DATETIME:
            if not dtype.is_temporal():
                raise InvalidArgument(
                    f"column {c.name!r} is a datetime in the schema but the {role} table holds {dtype}"
                )
            e = e.cast(pl.Datetime("ns"))
        elif c.kind is ColumnKind.BOOLEAN:
            e = e.cast(pl.Boolean) if dtype == pl.Boolean else e.cast(pl.String)
        else:
            e = e.cast(pl.String)
        exprs.append(e)
    return df.select(exprs)
