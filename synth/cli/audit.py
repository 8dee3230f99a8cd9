"""`synth audit verify|head|export`: check, anchor and export the server's audit trail.

Like `synth token`, these verbs work on the server's data folder / database
directly (an operator's shell next to the server). `verify` checks the hash
chain, the HMAC of each entry (with the key derived from `secret.key`, when the
folder holds it) and, with `--head`, an anchored head kept elsewhere; it exits
0 when the log is intact, 1 when it was tampered with (and says where and how),
2 for bad usage. `head` prints the head to keep elsewhere; `export` writes the
entries as JSON Lines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synth.base.errors import InvalidArgument
from synth.cli.tokens import data_folder_options

EXIT_INTACT = 0
EXIT_TAMPERED = 1


def add_audit_verbs(verbs: Any) -> None:
    store = data_folder_options()

    audit = verbs.add_parser(
        "audit", help="verify, anchor and export the audit trail (on the server's data folder)"
    )
    av = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = av.add_parser(
        "verify",
        parents=[store],
        help="check the hash chain and its signatures; exit 0 intact, 1 tampered, 2 bad usage",
    )
    p.add_argument(
        "--head",
        default=None,
        metavar="SEQ:HASH",
        help="a head kept elsewhere (`synth audit head`): catches a cut tail and a rewritten chain",
    )
    p.add_argument(
        "--input",
        default=None,
        metavar="FILE",
        help="verify an export (JSON Lines) instead of the database",
    )
    p.set_defaults(func=verify)
    p = av.add_parser("head", parents=[store], help="print the head (SEQ:HASH) to keep elsewhere")
    p.set_defaults(func=head)
    p = av.add_parser("export", parents=[store], help="write the entries as JSON Lines")
    p.add_argument("-o", "--output", default=None, help="write to this file (default: stdout)")
    p.set_defaults(func=export)


@contextmanager
def _audit_log(args: argparse.Namespace) -> Iterator[Any]:
    """The audit log of the server whose folder / database the options name."""
    from synth.core.config import ServiceConfig
    from synth.store.audit import AuditLog
    from synth.store.metadata import MetadataStore
    from synth.store.secret import SECRET_FILE, load_or_create_secret

    config = ServiceConfig(data_dir=Path(args.data_dir), database_url=args.database_url)
    if not config.database_url and not (Path(config.data_dir) / "synth.db").is_file():
        raise InvalidArgument(
            f"no synth database in {config.data_dir}: name the server's folder with "
            "--data-dir, or its database with --database-url"
        )
    has_secret = (Path(config.data_dir) / SECRET_FILE).is_file()
    secret = load_or_create_secret(config.data_dir) if has_secret else None
    meta = MetadataStore(config.resolved_database_url)
    try:
        yield AuditLog(meta, secret)
    finally:
        meta.dispose()


def _read_export(path: Path) -> list[Any]:
    from synth.store.audit import AuditEntry

    entries = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entries.append(AuditEntry.from_json_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidArgument(
                    f"{path}:{number} is not an audit entry as `synth audit export` writes "
                    f"them ({type(exc).__name__}: {exc})"
                ) from None
    return entries


def verify(args: argparse.Namespace) -> int:
    from synth.store.audit import Head
    from synth.store.audit import verify as verify_entries

    anchored = Head.parse(args.head) if args.head else None
    with _audit_log(args) as log:
        if args.input:
            report = verify_entries(
                _read_export(Path(args.input)), anchored_head=anchored, key=log.key
            )
        else:
            report = log.verify(anchored_head=anchored)
    if args.json:
        print(json.dumps(report.to_json_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.describe())
    return EXIT_INTACT if report.ok else EXIT_TAMPERED


def head(args: argparse.Namespace) -> int:
    from synth.store.audit import GENESIS, Head

    with _audit_log(args) as log:
        now = log.head() or Head(0, GENESIS)
    if args.json:
        print(json.dumps({"seq": now.seq, "hash": now.hash, "head": str(now)}, indent=2))
    else:
        print(now)
    print(
        "synth: keep this head somewhere the server cannot write; later, "
        f"`synth audit verify --head {now}` shows whether the log was cut or rewritten",
        file=sys.stderr,
    )
    return 0


def export(args: argparse.Namespace) -> int:
    with _audit_log(args) as log:
        entries = log.entries()
    lines = "".join(
        json.dumps(e.to_json_dict(), sort_keys=True, ensure_ascii=False) + "\n" for e in entries
    )
    if args.output is None:
        sys.stdout.write(lines)
        return 0
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(lines)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"synth: wrote {len(entries)} audit entries to {out}", file=sys.stderr)
    return 0
