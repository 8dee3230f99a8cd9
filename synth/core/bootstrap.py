"""The first admin token, and opening the token table from an operator's shell.

Zero-config stays zero-config: on first start (no live admin token in the
store) the server makes one and writes it beside its data as `admin.token`,
mode 0600, atomically, as Jupyter writes its runtime files. Whoever can read
that file can already read `secret.key` and the database beside it, so it
grants nothing the machine's user did not have. The token itself is never
logged; the log names the file.

`synth token create|list|revoke` works on the same database directly (the
operator at a shell next to the server), through `token_rows`.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from synth.base.errors import FailedPrecondition

if TYPE_CHECKING:  # the SDK reads the file without loading the store
    from synth.core.config import ServiceConfig
    from synth.store.metadata import MetadataStore
    from synth.store.tokens import TokenRows

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin.token"
ADMIN_SUBJECT = "admin"


def admin_token_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / ADMIN_TOKEN_FILE


def ensure_admin_token(tokens: TokenRows, data_dir: str | os.PathLike[str]) -> Path | None:
    """Make an admin token and write it to `<data_dir>/admin.token` when no live admin
    token exists; the path written, or None when an admin token already existed."""
    if tokens.any_admin():
        path = admin_token_path(data_dir)
        if not path.exists():
            log.info(
                "an admin token exists and %s does not: use yours, or make one with "
                "`synth token create --data-dir %s --subject NAME --role admin`",
                path,
                data_dir,
            )
        return None
    record, token = tokens.create(
        ADMIN_SUBJECT, "admin", description="made by the server at first start (admin.token)"
    )
    _audit_server_token(tokens, data_dir, record.id)
    path = admin_token_path(data_dir)
    write_secret_file(path, token + "\n")
    log.warning("no admin token existed: made one, written to %s (mode 0600)", path.resolve())
    return path


def _audit_server_token(tokens: TokenRows, data_dir: str | os.PathLike[str], token_id: str) -> None:
    """The audit entry of the admin token a server makes for itself (its caller: "server")."""
    from synth.store.audit import AuditLog
    from synth.store.secret import load_or_create_secret

    AuditLog(tokens.meta, load_or_create_secret(data_dir)).append(
        "server",
        "CreateToken",
        f"tokens/{token_id}",
        {"subject": ADMIN_SUBJECT, "roles": ["admin"]},
    )


def write_secret_file(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600 from its first byte, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise


def read_admin_token(data_dir: str | os.PathLike[str]) -> str | None:
    """The token in `<data_dir>/admin.token`; None when there is none.

    PermissionError when others may read it (as ssh refuses a private key):
    whoever reads it is an admin of the server.
    """
    path = admin_token_path(data_dir)
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise PermissionError(
            f"{path} may be read by others (mode {mode:o}) and holds an admin token: "
            f"chmod 600 {path}, and revoke the token if others did read it"
        )
    return path.read_text(encoding="utf-8").strip() or None


@contextmanager
def token_rows(config: ServiceConfig, *, must_exist: bool = True) -> Iterator[TokenRows]:
    """The token table of the server whose configuration is `config`.

    With `must_exist`, a default SQLite database that is not there yet is
    refused (a mistyped --data-dir would otherwise make an empty server).
    """
    from synth.store.metadata import MetadataStore

    if must_exist and not config.database_url:
        db = Path(config.data_dir) / "synth.db"
        if not db.is_file():
            raise FailedPrecondition(
                f"no synth database in {config.data_dir}: start `synth serve --data-dir "
                f"{config.data_dir}` once, or name the database with --database-url"
            )
    meta = MetadataStore(config.resolved_database_url)
    try:
        yield _audited_tokens(meta, config)
    finally:
        meta.dispose()


def _audited_tokens(meta: MetadataStore, config: ServiceConfig) -> TokenRows:
    """Token rows whose create and revoke append to the audit trail, as the shell's user.

    Signing an entry needs the server's `secret.key` in the data folder; without it
    (a --database-url whose server keeps its folder elsewhere) nothing is appended
    and the log says so.
    """
    import getpass

    from synth.base.principal import Role
    from synth.store.audit import AuditLog
    from synth.store.secret import SECRET_FILE, load_or_create_secret
    from synth.store.tokens import TokenRecord, TokenRows

    if not (Path(config.data_dir) / SECRET_FILE).is_file():
        log.warning(
            "no %s in %s: token changes made now are not in the audit trail (name the "
            "server's --data-dir)",
            SECRET_FILE,
            config.data_dir,
        )
        return TokenRows(meta)
    audit = AuditLog(meta, load_or_create_secret(config.data_dir))
    try:
        operator = f"shell:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in this environment
        operator = f"shell:uid-{os.getuid()}"

    class AuditedTokenRows(TokenRows):
        def create(
            self, subject: str, roles: frozenset[Role] | str, *, description: str = ""
        ) -> tuple[TokenRecord, str]:
            record, token = super().create(subject, roles, description=description)
            audit.append(
                operator,
                "CreateToken",
                f"tokens/{record.id}",
                {"subject": record.subject, "roles": sorted(r.value for r in record.roles)},
            )
            return record, token

        def revoke(self, token_id: str) -> None:
            super().revoke(token_id)
            audit.append(operator, "RevokeToken", f"tokens/{token_id}")

    return AuditedTokenRows(meta)
