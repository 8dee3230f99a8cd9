"""Casting a read column to the type its owner declared, or refusing it.

A refusal names the column and the row, never the value (a cell is private).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from synth.base.errors import FieldViolation, InvalidSchema

_TIME_UNITS = ("s", "ms", "us", "ns")


def widens(stored: pa.DataType, declared: pa.DataType) -> bool:
    """Whether every value of `stored` has a place in `declared` (a lossless cast by type).

    Wider integers (signed, or unsigned into wider signed), integers into a
    float with room for all their digits, wider floats, finer timestamp units
    with the same time zone, and dates into timestamps. Timestamps that fall
    outside a finer unit's range are caught when the values are cast.
    """
    t = pa.types
    if stored == declared:
        return True
    if t.is_integer(stored) and t.is_integer(declared):
        if t.is_signed_integer(stored) and t.is_unsigned_integer(declared):
            return False
        if t.is_unsigned_integer(stored) and t.is_signed_integer(declared):
            return declared.bit_width > stored.bit_width
        return declared.bit_width >= stored.bit_width
    if t.is_integer(stored) and t.is_floating(declared):
        mantissa = {16: 11, 32: 24, 64: 53}[declared.bit_width]
        return stored.bit_width < mantissa
    if t.is_floating(stored) and t.is_floating(declared):
        return declared.bit_width >= stored.bit_width
    if t.is_timestamp(stored) and t.is_timestamp(declared):
        return stored.tz == declared.tz and _TIME_UNITS.index(declared.unit) >= _TIME_UNITS.index(
            stored.unit
        )
    return t.is_date32(stored) and t.is_timestamp(declared) and declared.tz is None


def cast_declared(table: pa.Table, name: str, target: pa.DataType, *, from_text: bool) -> pa.Table:
    """Cast one column to its declared type; refuse it naming the column and a row, never a value."""
    col = table.column(name)
    if col.type == target:
        return table
    where = [FieldViolation(f"columns.{name}.arrow_type", f"declared {target}")]
    if not from_text and not widens(col.type, target):
        raise InvalidSchema(
            f"column {name!r} is declared {target}, but the Parquet file stores {col.type}, "
            f"whose values do not all fit in {target}; declare {col.type} (or a wider type), "
            "or cast the column in the file",
            violations=where,
        )
    try:
        cast = pc.cast(col, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        row = _first_row_that_does_not_fit(col.combine_chunks(), target)
        if row is None:  # the type cannot be made from this column at all
            raise InvalidSchema(
                f"column {name!r} cannot be read as {target}; declare another type",
                violations=where,
            ) from None
        # `from None`: Arrow's message quotes the cell, and a value never goes in an error.
        raise InvalidSchema(
            f"column {name!r}: the cell in row {row} (counting from 0, the header not counted) "
            f"does not fit the declared type {target}; correct the file or declare another type",
            violations=where,
            metadata={"column": name, "row": str(row)},
        ) from None
    return table.set_column(table.column_names.index(name), pa.field(name, target), cast)


def _first_row_that_does_not_fit(col: pa.Array, target: pa.DataType) -> int | None:
    """The index of the first cell the cast refuses (a block at a time, then cell by cell)."""
    block = 4096
    for start in range(0, len(col), block):
        part = col.slice(start, block)
        try:
            pc.cast(part, target, safe=True)
            continue
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        for i in range(len(part)):
            try:
                pc.cast(part.slice(i, 1), target, safe=True)
            except pa.ArrowInvalid:
                return start + i
            except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
                return None
    return None
