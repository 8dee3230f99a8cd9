"""Reading tables: parse and validate a source file within limits.

Every check raises `InvalidTable` with a message the uploader can act on;
writing goes through `synth.base.atomic`. Declared types are applied by
`synth.base.tablecast`; the fingerprint (`synth.base.tablehash`) and the
holdout split (`synth.base.split`) live apart and are re-exported here.
"""

from __future__ import annotations

import io
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from synth.base.errors import FieldViolation, InvalidTable
from synth.base.names import MAX_COLUMN_NAME, shown
from synth.base.schema import is_supported_type, normalize_type, type_from_name
from synth.base.split import split_holdout as split_holdout
from synth.base.tablecast import cast_declared
from synth.base.tablecast import widens as widens
from synth.base.tablehash import KEYED_PREFIX as KEYED_PREFIX
from synth.base.tablehash import UNKEYED_PREFIX as UNKEYED_PREFIX
from synth.base.tablehash import fingerprint as fingerprint

TableFormat = Literal["parquet", "csv"]
PARQUET_MAGIC = b"PAR1"


@dataclass(frozen=True)
class TableLimits:
    """How large a table may be once decoded; checked before and while decoding.

    A Parquet file's footer says its rows and columns, and a compressed file can
    decode to a thousand times its size: these are checked before any page is
    decoded, and the decoded bytes while the row groups are read.
    """

    rows: int = 50_000_000
    columns: int = 2_000
    decoded_bytes: int = 8 * 1024**3
    #: Longest text cell, in bytes.
    cell_bytes: int = 64 * 1024


NO_LIMITS = TableLimits(rows=2**62, columns=2**31, decoded_bytes=2**62, cell_bytes=2**62)


def _too_large(what: str, value: int, limit: int) -> InvalidTable:
    return InvalidTable(
        f"the table has {value:,} {what}, over this server's limit of {limit:,}; sample it "
        "down or split it, or ask the operator to raise the limit",
        metadata={"limit": what, "value": str(value), "max": str(limit)},
    )


def detect_format(head: bytes, hint: str | None = None) -> TableFormat:
    """Parquet by its magic bytes; CSV otherwise (or as the caller says)."""
    if hint in ("parquet", "csv"):
        return hint  # type: ignore[return-value]
    return "parquet" if head[:4] == PARQUET_MAGIC else "csv"


def read_table(
    source: bytes | str | os.PathLike[str],
    *,
    fmt: TableFormat | None = None,
    max_bytes: int | None = None,
    types: Mapping[str, str] | None = None,
    limits: TableLimits = NO_LIMITS,
) -> pa.Table:
    """Read a Parquet or CSV table and check it can be a source.

    `limits` bound the decoded table (rows, columns, bytes, longest text cell):
    Parquet's from its footer before decoding, CSV's from its lines before parsing.

    Raises `InvalidTable` with a message a person can act on for a corrupt
    file, an empty table, a table without columns, duplicate or empty column
    names, unsupported column types, or a file over `max_bytes`.

    `types` are the owner's declared Arrow types by column name (names the
    table lacks are left for the schema check). A CSV column with a declared
    type is read as text and cast to it, instead of taking polars' guess; a
    cell that does not fit raises `InvalidSchema` naming the column and the
    row, never the value. A Parquet column is cast to its declared type when
    every value of the stored type fits (wider integers and floats, finer
    timestamps, dates to timestamps); other declared types are refused.
    """
    if isinstance(source, bytes):
        size = len(source)
        head = source[:4]
    else:
        p = Path(source)
        if not p.is_file():
            raise InvalidTable(f"no file at {str(p)!r} that the server can read")
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(4)
        if fmt is None and p.suffix.lower() in (".parquet", ".pq"):
            fmt = "parquet"
    if max_bytes is not None and size > max_bytes:
        raise InvalidTable(
            f"the table is {size:,} bytes, over this server's limit of {max_bytes:,} bytes; "
            "sample it down or ask the operator to raise --max-source-bytes"
        )
    if size == 0:
        raise InvalidTable("the file is empty: send a table with a header and at least one row")
    kind = detect_format(head, fmt)
    declared = {name: normalize_type(type_from_name(t)) for name, t in (types or {}).items() if t}
    table = (
        _read_parquet(source, limits)
        if kind == "parquet"
        else _read_csv(source, set(declared), limits)
    )
    check_limits(table, limits)
    check_source_table(table)
    table = normalize_table(table)
    for name, target in declared.items():
        if name in table.column_names:
            table = cast_declared(table, name, target, from_text=kind == "csv")
    return table


def _is_text(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )


def _read_parquet(source: bytes | str | os.PathLike[str], limits: TableLimits) -> pa.Table:
    """Read a Parquet file within `limits`.

    Text columns are read dictionary-encoded (a short dictionary repeated over
    millions of rows is how a small file decodes to gigabytes), so the bytes
    they decode to are counted batch by batch before a single one is expanded.
    """
    try:
        data = pa.BufferReader(source) if isinstance(source, bytes) else source
        pf = pq.ParquetFile(data)
        _check_names(pf.schema_arrow.names)
        md = pf.metadata
        if md.num_columns > limits.columns:
            raise _too_large("columns", md.num_columns, limits.columns)
        if md.num_rows > limits.rows:
            raise _too_large("rows", md.num_rows, limits.rows)
        estimate = _parquet_decoded_estimate(pf)
        if estimate > limits.decoded_bytes:
            raise _too_large(
                "bytes once decoded (estimated from its footer)", estimate, limits.decoded_bytes
            )
        schema = pf.schema_arrow
        text = [f.name for f in schema if _is_text(f.type)]
        if text:
            pf = pq.ParquetFile(
                pa.BufferReader(source) if isinstance(source, bytes) else source,
                read_dictionary=text,
            )
        batches = []
        decoded = 0
        for batch in pf.iter_batches(batch_size=65_536):
            decoded += sum(_decoded_nbytes(col) for col in batch.columns)
            if decoded > limits.decoded_bytes:
                raise _too_large("bytes once decoded (at least)", decoded, limits.decoded_bytes)
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=batches[0].schema) if batches else None
        return schema.empty_table() if table is None else table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        raise InvalidTable(
            f"the Parquet file is corrupt or truncated ({exc}); re-export it and upload again"
        ) from exc


def _decoded_nbytes(col: pa.Array) -> int:
    """The bytes `col` takes once a dictionary-encoded column is expanded to plain values."""
    if not pa.types.is_dictionary(col.type):
        return int(col.nbytes)
    lengths = pc.binary_length(col.dictionary)
    values = pc.sum(pc.take(lengths, col.indices)).as_py() or 0
    return int(values) + 4 * len(col) + len(col) // 8 + 1


def _parquet_decoded_estimate(pf: pq.ParquetFile) -> int:
    """A floor on the Arrow bytes the file decodes to: every column's fixed width times
    its rows (text: offsets plus its uncompressed pages), from the footer alone."""
    md = pf.metadata
    rows = md.num_rows
    total = 0
    for i, field in enumerate(pf.schema_arrow):
        try:
            width = field.type.byte_width or 1  # booleans: bits, counted as a byte
        except ValueError:  # variable width (text, lists): offsets at least
            width = 4
        pages = sum(
            md.row_group(g).column(i).total_uncompressed_size
            for g in range(md.num_row_groups)
            if i < md.row_group(g).num_columns
        )
        total += max(rows * max(width, 1), pages)
    return total


def _read_csv(
    source: bytes | str | os.PathLike[str],
    as_text: Collection[str] = (),
    limits: TableLimits = NO_LIMITS,
) -> pa.Table:
    """Parse a CSV; columns named in `as_text` are kept as text (their type is declared)."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    lines = data.count(b"\n")
    if lines > limits.rows + 1:
        raise _too_large("lines", lines, limits.rows)
    if b"\x00" in data[:65536]:
        raise InvalidTable(
            "the file is neither Parquet nor text CSV (it holds binary bytes); send Parquet or UTF-8 CSV"
        )
    try:
        header = data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as exc:
        raise InvalidTable("the CSV header is not UTF-8 text; re-save the file as UTF-8") from exc
    names = [n.strip().strip('"') for n in header.split(",")] if header.strip() else []
    _check_names(names)
    if len(names) > limits.columns:
        raise _too_large("columns", len(names), limits.columns)
    try:
        df = pl.read_csv(
            io.BytesIO(data),
            try_parse_dates=True,
            infer_schema_length=10_000,
            null_values=[""],
            raise_if_empty=False,
            schema_overrides={n: pl.String for n in names if n in as_text} or None,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise InvalidTable(
            f"the CSV could not be parsed ({exc}); check its delimiter and quoting"
        ) from exc
    return df.to_arrow()


def _check_names(names: list[str]) -> None:
    if not names:
        raise InvalidTable("the table has no columns: send a header row naming each column")
    long = [i for i, n in enumerate(names) if len(n) > MAX_COLUMN_NAME]
    if long:
        raise InvalidTable(
            f"the name of the column at position {long[0]} is {len(names[long[0]]):,} characters "
            f"long ({shown(names[long[0]], 40)}); at most {MAX_COLUMN_NAME} are accepted",
            violations=[
                FieldViolation(f"columns[{long[0]}].name", f"at most {MAX_COLUMN_NAME} characters")
            ],
        )
    empty = [i for i, n in enumerate(names) if not n]
    if empty:
        raise InvalidTable(f"column(s) at position {empty} have no name; name every column")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidTable(
            f"duplicate column names: {', '.join(d if len(d) <= 40 else d[:40] + '...' for d in dup[:10])}; rename them so each is unique"
        )


def check_limits(table: pa.Table, limits: TableLimits) -> None:
    """Rows, columns, decoded bytes, and the longest text cell (named by column, never quoted)."""
    if table.num_columns > limits.columns:
        raise _too_large("columns", table.num_columns, limits.columns)
    if table.num_rows > limits.rows:
        raise _too_large("rows", table.num_rows, limits.rows)
    if table.nbytes > limits.decoded_bytes:
        raise _too_large("bytes once decoded", table.nbytes, limits.decoded_bytes)
    for field, col in zip(table.schema, table.columns, strict=True):
        t = field.type
        if pa.types.is_dictionary(t):
            col = pc.cast(col, t.value_type)
            t = t.value_type
        if not (
            pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
        ):
            continue
        longest = pc.max(pc.binary_length(col)).as_py() if len(col) else None
        if longest is not None and longest > limits.cell_bytes:
            raise InvalidTable(
                f"column {shown(field.name, 40)} holds a cell of {longest:,} bytes; at most "
                f"{limits.cell_bytes:,} are accepted in a cell (shorten or drop the column)",
                violations=[
                    FieldViolation(f"columns.{field.name[:MAX_COLUMN_NAME]}", "cell too long")
                ],
                metadata={
                    "column": field.name[:MAX_COLUMN_NAME],
                    "max_cell_bytes": str(limits.cell_bytes),
                },
            )


def check_source_table(table: pa.Table) -> None:
    _check_names(table.column_names)
    if table.num_rows == 0:
        raise InvalidTable("the table has no rows: a source needs at least one row")
    bad = [f"{f.name} ({f.type})" for f in table.schema if not is_supported_type(f.type)]
    if bad:
        raise InvalidTable(
            "unsupported column types: "
            + ", ".join(bad)
            + "; supported are integers, floats, booleans, strings, dates and timestamps "
            "(cast or drop the others)"
        )
    all_null = [
        f.name
        for f, col in zip(table.schema, table.columns, strict=True)
        if col.null_count == table.num_rows
    ]
    if all_null and table.num_rows > 0 and len(all_null) == table.num_columns:
        raise InvalidTable("every column is entirely null: there is nothing to learn from")


def normalize_table(table: pa.Table) -> pa.Table:
    """One chunk per column, plain strings for dictionary/large strings, no schema metadata."""
    fields = [pa.field(f.name, normalize_type(f.type)) for f in table.schema]
    table = (
        table.cast(pa.schema(fields))
        if any(f.type != normalize_type(f.type) for f in table.schema)
        else table
    )
    return table.replace_schema_metadata(None).combine_chunks()


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    md = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in md.items() if not k.startswith(b"ARROW:")}
