"""Bearer tokens: made with high entropy, stored only as a hash, revoked for good.

A token reads `synth_<id>_<secret>`: the id finds the row, the secret (32
random bytes, URL-safe base64) is checked against its SHA-256 in constant
time. A hash without a salt or a slow KDF is enough for 256 random bits
(nobody can guess one to test offline); the id keeps the lookup an index
hit instead of a scan. The plain token is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select, update

from synth.base.errors import InvalidArgument, NotFound
from synth.base.principal import Principal, Role, parse_roles
from synth.store.metadata import MetadataStore
from synth.store.sqltables import tokens

PREFIX = "synth_"
_TOKEN = re.compile(r"^synth_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
SUBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


@dataclass(frozen=True)
class TokenRecord:
    id: str
    subject: str
    roles: frozenset[Role]
    description: str
    create_time: float
    revoke_time: float | None

    @property
    def revoked(self) -> bool:
        return self.revoke_time is not None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_subject(subject: str) -> str:
    if not SUBJECT.match(subject):
        raise InvalidArgument(
            f"subject {subject[:64]!r} is not valid: 1-128 letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    return subject


class TokenRows:
    def __init__(self, meta: MetadataStore) -> None:
        self.meta = meta

    def create(
        self, subject: str, roles: frozenset[Role] | str, *, description: str = ""
    ) -> tuple[TokenRecord, str]:
        """A new token for `subject`; returns its record and the plain token (shown once)."""
        check_subject(subject)
        try:
            role_set = parse_roles(roles) if isinstance(roles, str) else frozenset(roles)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        if not role_set:
            raise InvalidArgument("give at least one role")
        if len(description) > 1000:
            raise InvalidArgument("a token's description is at most 1000 characters")
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        record = TokenRecord(
            id=token_id,
            subject=subject,
            roles=role_set,
            description=description,
            create_time=time.time(),
            revoke_time=None,
        )
        with self.meta.transaction() as conn:
            conn.execute(
                tokens.insert().values(
                    id=token_id,
                    subject=subject,
                    roles=",".join(sorted(r.value for r in role_set)),
                    secret_hash=_hash(secret),
                    description=description,
                    create_time=record.create_time,
                    revoke_time=None,
                )
            )
        return record, f"{PREFIX}{token_id}_{secret}"

    def authenticate(self, token: str) -> Principal | None:
        """The principal `token` stands for; None when it is malformed, unknown or revoked."""
        m = _TOKEN.match(token)
        if m is None:
            return None
        token_id, secret = m.groups()
        with self.meta.transaction() as conn:
            row = conn.execute(select(tokens).where(tokens.c.id == token_id)).first()
        if row is None or row.revoke_time is not None:
            return None
        if not hmac.compare_digest(row.secret_hash, _hash(secret)):
            return None
        return Principal(row.subject, parse_roles(row.roles), token_id)

    def list(self, *, include_revoked: bool = False) -> list[TokenRecord]:
        q = select(tokens).order_by(tokens.c.create_time, tokens.c.id)
        if not include_revoked:
            q = q.where(tokens.c.revoke_time.is_(None))
        with self.meta.transaction() as conn:
            return [
                TokenRecord(
                    id=r.id,
                    subject=r.subject,
                    roles=parse_roles(r.roles),
                    description=r.description,
                    create_time=r.create_time,
                    revoke_time=r.revoke_time,
                )
                for r in conn.execute(q)
            ]

    def revoke(self, token_id: str) -> None:
        """Revoke for good (a revoked token never works again); NotFound for an unknown id."""
        with self.meta.transaction() as conn:
            done = conn.execute(
                update(tokens)
                .where(tokens.c.id == token_id, tokens.c.revoke_time.is_(None))
                .values(revoke_time=time.time())
            )
        if not done.rowcount:
            raise NotFound(f"no live token with id {token_id[:40]!r}")

    def any_admin(self) -> bool:
        """Whether a live admin token exists (first start makes one when none does)."""
        with self.meta.transaction() as conn:
            rows = conn.execute(select(tokens.c.roles).where(tokens.c.revoke_time.is_(None)))
            return any(Role.ADMIN in parse_roles(r.roles) for r in rows)
