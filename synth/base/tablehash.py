"""Fingerprints of a table's content: keyed for callers, plain for the server's own use."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa

#: How a keyed fingerprint starts: "hmac-sha256:" and 64 hex digits.
KEYED_PREFIX = "hmac-sha256:"
#: How an unkeyed content digest starts (never shown outside the server).
UNKEYED_PREFIX = "sha256:"


def fingerprint(table: pa.Table, key: bytes | None = None, *, canonical: bool = False) -> str:
    """A hash of the table's content, independent of the file format it arrived in.

    `canonical=True` also makes it independent of the order of the rows and of
    the columns (columns by name, then rows sorted by every column): the same
    people shuffled, or with their columns reordered, are the same table to the
    rule that gives no fresh budget to a table registered again.

    With `key` (the server's fingerprint key): HMAC-SHA256, "hmac-sha256:<hex>".
    Only the key's holder can compute it, so whoever knows every row but one
    cannot test candidates for the last row against a published value. This is
    the only form a caller may see, and only on the source itself.

    Without `key`: a plain SHA-256, "sha256:<hex>", for identities that never
    leave the server (a checkpoint's table); never show it to a caller.
    """
    if canonical:
        table = _canonical(table)
    h = hashlib.sha256() if key is None else hmac.new(key, digestmod=hashlib.sha256)
    h.update(str(table.schema.remove_metadata()).encode())
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema.remove_metadata()) as w:
        for batch in table.to_batches(max_chunksize=65536):
            w.write_batch(batch)
    h.update(sink.getvalue().to_pybytes())
    return (UNKEYED_PREFIX if key is None else KEYED_PREFIX) + h.hexdigest()


def _canonical(table: pa.Table) -> pa.Table:
    """Columns in name order, dictionaries decoded, rows sorted by every column."""
    names = sorted(table.column_names)
    cols = []
    for name in names:
        col = table.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols.append(col)
    out = pa.table(cols, names=names)
    if out.num_rows > 1 and names:
        out = out.sort_by([(n, "ascending") for n in names])
    return out
