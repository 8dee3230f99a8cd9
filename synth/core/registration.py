"""What a registration asks for, and the checks made on it before any byte of the table.

`RegisterRequest` is the header a client sends; `validate_register` checks its
values; `resolve_import` decides whether a `uri=` registration may read the file
it names. `SourceService.check_header` runs them in order.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from synth.base.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from synth.base.names import MAX_DISPLAY_NAME, MAX_EPSILON, check_source_id, shown
from synth.base.schema import TableSchema
from synth.base.tableio import TableFormat
from synth.core.config import ServiceConfig

MAX_URI = 4096


@dataclass(frozen=True)
class RegisterRequest:
    source_id: str
    epsilon: float
    delta: float
    display_name: str = ""
    fmt: TableFormat | None = None
    uri: str = ""
    holdout_fraction: float | None = None
    split_seed: int | None = None
    schema: TableSchema | None = None
    allow_non_private: bool = False
    size_bytes: int = 0
    #: Approve `schema` as sent; only for a schema that declares every part of every column.
    approve_schema: bool = False
    #: Who registers it (set by `SourceService.register` from the caller, never by a client).
    owner: str = ""


def validate_register(req: RegisterRequest, config: ServiceConfig) -> None:
    """Check the header before any byte of the table is read."""
    check_source_id(req.source_id)
    v = []
    if not (math.isfinite(req.epsilon) and 0 < req.epsilon <= MAX_EPSILON):
        v.append(
            FieldViolation(
                "header.budget.epsilon", f"must be a positive number, at most {MAX_EPSILON:g}"
            )
        )
    if not (0 < req.delta < 1):
        v.append(FieldViolation("header.budget.delta", "must be in (0, 1), e.g. 1e-6"))
    h = req.holdout_fraction
    if h is not None and not (0 <= h <= 0.9):
        v.append(FieldViolation("header.holdout_fraction", "must be in [0, 0.9]"))
    if req.split_seed is not None and req.split_seed < 0:
        v.append(FieldViolation("header.split_seed", "must be in [0, 2^63)"))
    if len(req.display_name) > MAX_DISPLAY_NAME:
        v.append(FieldViolation("header.display_name", f"at most {MAX_DISPLAY_NAME} characters"))
    if len(req.uri) > MAX_URI:
        v.append(FieldViolation("header.uri", f"at most {MAX_URI} characters"))
    if req.size_bytes < 0:
        v.append(FieldViolation("header.size_bytes", "must not be negative"))
    if req.size_bytes > config.max_source_bytes:
        v.append(
            FieldViolation(
                "header.size_bytes", f"over the limit of {config.max_source_bytes:,} bytes"
            )
        )
    if req.approve_schema and req.schema is None:
        v.append(
            FieldViolation(
                "header.approve_schema",
                "needs header.schema: a schema inferred from the table is reviewed, then "
                "approved (ApproveSchema)",
            )
        )
    elif req.approve_schema and req.schema is not None:
        untyped = [c.name for c in req.schema.columns if not c.arrow_type]
        if untyped:
            v.append(
                FieldViolation(
                    "header.approve_schema",
                    f"needs every column's arrow_type declared (missing: {', '.join(untyped)}): "
                    "a type read from the table is reviewed before it is approved",
                )
            )
    if v:
        raise InvalidArgument(
            "the registration header is not valid: "
            + "; ".join(f"{x.field} {x.description}" for x in v),
            violations=v,
        )


def uri_to_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else uri)
    raise InvalidArgument(
        f"URI scheme {shown(parsed.scheme, 20)} is not supported here; give a path or file:// URI the server can read",
        violations=[FieldViolation("header.uri", "unsupported scheme")],
    )


def resolve_import(uri: str, config: ServiceConfig) -> Path:
    """The file a `uri=` registration names, if the operator allowed its root.

    Off unless `config.import_roots` lists folders. The path is resolved (every
    symlink followed) before containment is checked, so a link cannot lead out
    of a root; the data folder is never readable, even under a root. A missing,
    unreadable and forbidden path get the same answer, so the reply tells
    nothing about what exists outside the roots.
    """
    if not config.import_roots:
        raise FailedPrecondition(
            "this server reads no server-side paths (no import roots are configured); upload "
            "the table instead, or ask the operator to start the server with --import-root",
            violations=[FieldViolation("header.uri", "server-side paths are off")],
        )
    hidden = NotFound(
        "no readable table at that path under this server's import roots (the same answer "
        "for a path that is missing, unreadable or outside them); check the path, or upload "
        "the table instead",
        violations=[FieldViolation("header.uri", "not found under an import root")],
    )
    raw = uri_to_path(uri)
    if not raw.is_absolute() or "\x00" in str(raw):
        raise hidden
    try:
        real = raw.resolve(strict=True)
        roots = [Path(r).resolve(strict=True) for r in config.import_roots]
        data = Path(config.data_dir).resolve()
        allowed = any(real.is_relative_to(r) for r in roots) and not real.is_relative_to(data)
        if not (allowed and real.is_file() and os.access(real, os.R_OK)):
            raise hidden
    except (OSError, RuntimeError, ValueError):
        raise hidden from None
    return real
