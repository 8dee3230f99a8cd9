"""What an owner is told when a source's schema still awaits their approval."""

from __future__ import annotations

from synth.base.names import name_of
from synth.store.records import SourceRecord

_PART_WORDS = {"kind": "kind", "nullable": "nullability", "arrow_type": "type"}
_LISTED_COLUMNS = 20


def pending_schema_message(record: SourceRecord) -> str:
    """Why a source cannot train yet: what to review, and every way to approve."""
    name = name_of("sources", record.id)
    version = record.schema_version
    by_column: dict[str, list[str]] = {}
    for column, part in record.inferred_parts():
        by_column.setdefault(column, []).append(_PART_WORDS[part])
    if record.approved_schema_version:
        state = f"schema version {version} is an edit not yet approved (version {record.approved_schema_version} was)"
    else:
        state = f"schema (version {version}) is a proposal not yet approved"
    lines = [
        f"{name} cannot train yet: its {state}. Everything in a schema is public (it shapes "
        "every model and the files released from them), so its owner approves it first."
    ]
    if by_column:
        listed = [f"{c} ({', '.join(p)})" for c, p in list(by_column.items())[:_LISTED_COLUMNS]]
        more = len(by_column) - len(listed)
        lines.append(
            "Parts of it were taken from the table's values rather than declared: "
            + ", ".join(listed)
            + (f", and {more} more column(s)" if more > 0 else "")
            + "."
        )
    else:
        lines.append("Nothing in it was taken from the table; every part was declared.")
    lines.append(
        f"Review it (client.schema(source), or `synth sources schema {name}`), then approve "
        f"it: client.approve_schema(source), `synth sources approve-schema {name}`, or "
        f'ApproveSchema(name="{name}", schema_version={version}); or edit and approve in one '
        "call: client.update_schema(source, schema, approve=True)."
    )
    return " ".join(lines)
