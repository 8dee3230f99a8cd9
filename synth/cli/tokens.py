"""`synth token create|list|revoke`, and the CLI's options for tokens and TLS.

The token verbs work on the server's database directly (a shell next to the
server, with the same --data-dir / --database-url as `synth serve`), not over
gRPC: whoever can read the data folder is already trusted with everything in
it. A token's secret is printed once, by `create`; the database keeps its hash.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from synth.base.errors import InvalidArgument
from synth.base.principal import Role, parse_roles


def data_folder_options() -> argparse.ArgumentParser:
    """The options of verbs that work on a server's data folder directly (token, audit)."""
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument(
        "--data-dir", default="./synth-data", help="the server's data folder (as for `synth serve`)"
    )
    store.add_argument(
        "--database-url",
        default=os.environ.get("SYNTH_DATABASE_URL", ""),
        help="SQLAlchemy URL of the metadata database (default: the SQLite file in --data-dir)",
    )
    store.add_argument("--json", action="store_true", help="print results as JSON")
    return store


def add_token_verbs(verbs: Any) -> None:
    store = data_folder_options()

    token = verbs.add_parser(
        "token", help="make, list and revoke access tokens (on the server's own data folder)"
    )
    tv = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = tv.add_parser("create", parents=[store], help="make a token and print it once")
    p.add_argument("--subject", required=True, help="who the token is for, e.g. alice")
    p.add_argument(
        "--role",
        action="append",
        required=True,
        help=f"a role ({', '.join(r.value for r in Role)}); repeatable",
    )
    p.add_argument("--description", default="", help="a note shown by `synth token list`")
    p.set_defaults(func=create)
    p = tv.add_parser("list", parents=[store], help="list tokens (never their secrets)")
    p.add_argument("--live", action="store_true", help="leave revoked tokens out")
    p.set_defaults(func=list_tokens)
    p = tv.add_parser("revoke", parents=[store], help="revoke a token for good")
    p.add_argument("token_id", help="the id `synth token list` shows (16 hex digits)")
    p.set_defaults(func=revoke)


def _config(args: argparse.Namespace) -> Any:
    from synth.core.config import ServiceConfig

    return ServiceConfig(data_dir=Path(args.data_dir), database_url=args.database_url)


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(args: argparse.Namespace) -> int:
    from synth.core.bootstrap import token_rows

    try:
        roles = parse_roles(args.role)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    with token_rows(_config(args)) as tokens:
        record, secret = tokens.create(args.subject, roles, description=args.description)
    roles_sorted = sorted(r.value for r in record.roles)
    names = ", ".join(roles_sorted)
    if args.json:
        out = {"id": record.id, "subject": record.subject, "roles": roles_sorted}
        print(json.dumps({**out, "token": secret}, indent=2))
    else:
        print(secret)
    print(
        f"synth: token {record.id} for {record.subject} ({names}); it is shown only now: "
        "keep it in SYNTH_TOKEN or ~/.config/synth/credentials (docs/security.md)",
        file=sys.stderr,
    )
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    from synth.core.bootstrap import token_rows

    with token_rows(_config(args)) as tokens:
        records = tokens.list(include_revoked=not args.live)
    rows = [
        {
            "id": r.id,
            "subject": r.subject,
            "roles": sorted(x.value for x in r.roles),
            "created": _when(r.create_time),
            "revoked": _when(r.revoke_time) if r.revoked else "",
            "description": r.description,
        }
        for r in records
    ]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("(no tokens)")
        return 0
    print(f"{'ID':<16}  {'SUBJECT':<20}  {'ROLES':<24}  {'CREATED':<20}  {'REVOKED':<20}  NOTE")
    for row in rows:
        print(
            f"{row['id']:<16}  {row['subject']:<20}  {','.join(row['roles']):<24}  "
            f"{row['created']:<20}  {row['revoked'] or '-':<20}  {row['description']}"
        )
    return 0


def revoke(args: argparse.Namespace) -> int:
    from synth.core.bootstrap import token_rows

    with token_rows(_config(args)) as tokens:
        tokens.revoke(args.token_id)
    print(f"synth: revoked token {args.token_id}; calls made with it are refused from now on")
    return 0


def add_connection_options(common: argparse.ArgumentParser) -> None:
    """How a verb that talks to a server proves who it is and secures the channel."""
    common.add_argument(
        "--token",
        default=None,
        help="bearer token (default: $SYNTH_TOKEN, then ~/.config/synth/credentials, then "
        "a local server's admin.token; docs/security.md)",
    )
    common.add_argument("--tls", action="store_true", help="connect with TLS (system CAs)")
    common.add_argument("--ca-cert", default=None, help="TLS with this CA certificate (PEM)")
    common.add_argument("--client-cert", default=None, help="mutual TLS: client certificate")
    common.add_argument("--client-key", default=None, help="mutual TLS: the client key (PEM)")


def add_tls_options(serve: argparse.ArgumentParser) -> None:
    """`synth serve`'s transport security: TLS, mutual TLS, and forcing plaintext off loopback."""
    serve.add_argument("--tls-cert", default=None, help="serve TLS: certificate chain (PEM)")
    serve.add_argument("--tls-key", default=None, help="serve TLS: private key (PEM, mode 600)")
    serve.add_argument(
        "--client-ca",
        default=None,
        help="mutual TLS: refuse clients without a certificate signed by this CA (PEM)",
    )
    serve.add_argument(
        "--insecure-allow-remote",
        action="store_true",
        help="serve plaintext on a non-loopback --host (only behind a private network or "
        "a TLS-terminating proxy: tokens would otherwise cross the network in clear)",
    )


def server_tls(args: argparse.Namespace) -> Any:
    """`synth serve`'s ServerTls from its options, or None for plaintext."""
    from synth.server.tls import ServerTls

    if not args.tls_cert and not args.tls_key:
        if args.client_ca:
            raise InvalidArgument("--client-ca needs --tls-cert and --tls-key")
        return None
    if not (args.tls_cert and args.tls_key):
        raise InvalidArgument("TLS needs both --tls-cert and --tls-key")
    return ServerTls(
        Path(args.tls_cert), Path(args.tls_key), Path(args.client_ca) if args.client_ca else None
    )
