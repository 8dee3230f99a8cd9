"""The audit trail: an append-only, hash-chained, HMAC-signed log of state changes.

Each entry holds who (the principal's subject), what (an action such as
"RegisterSource" and its target resource), when, and a JSON body of keyed
fingerprints of the inputs (never raw values), the budget spent, verdicts and
approvals. Its hash is SHA-256 over a canonical JSON of the entry including
the previous entry's hash, so editing, removing, inserting or reordering an
entry breaks the chain. SHA-256 is unkeyed: someone with write access to the
database could rewrite the chain from some entry on with recomputed hashes,
or cut its tail. Two things catch that: an HMAC of each entry's hash with a
key derived from the server secret (``HMAC(secret, "audit-log")``, so the
raw secret is never reused), and an *anchored head* (sequence number and hash
of the last entry) that an operator keeps elsewhere (`synth audit head`).

Appends are serialised by the one-row `audit_head` table: it is selected FOR
UPDATE on PostgreSQL, and SQLite's transactions already begin IMMEDIATE (see
synth.store.metadata), so two appends never read the same head and the chain
never forks. `append` takes the caller's connection, so a state change and
its entry commit together or not at all.

`verify` is a pure function of the entries: it names each tampering by kind
and sequence number (see `Finding`). It lives in `synth.store.audit_verify`,
the entries' form, hash and signature in `synth.store.audit_entry`; their
names are re-exported here, so callers import them from this module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, select, update

from synth.store.audit_entry import (
    GENESIS,
    AuditEntry,
    Head,
    audit_key,
    canonical,
    fingerprint,
    fingerprint_key,
    sign,
)
from synth.store.audit_verify import Finding, Kind, VerifyReport, verify
from synth.store.metadata import MetadataStore
from synth.store.sqltables import audit_head, audit_log

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditLog",
    "Finding",
    "Head",
    "Kind",
    "VerifyReport",
    "audit_key",
    "canonical",
    "fingerprint",
    "fingerprint_key",
    "sign",
    "verify",
]


class AuditLog:
    """Appends entries and reads them back; `verify()` checks the whole log."""

    def __init__(self, meta: MetadataStore, secret: bytes | None) -> None:
        self.meta = meta
        self.key = audit_key(secret) if secret is not None else None
        self._fp_key = fingerprint_key(secret) if secret is not None else None

    def fingerprint(self, value: Any) -> str:
        """A keyed fingerprint of an input for an entry's body."""
        if self._fp_key is None:
            raise RuntimeError("an audit log opened without the server secret only reads")
        return fingerprint(self._fp_key, value)

    @contextmanager
    def _conn(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.meta.transaction() as own:
                yield own

    def append(
        self,
        subject: str,
        action: str,
        target: str = "",
        body: Mapping[str, Any] | None = None,
        *,
        conn: Connection | None = None,
    ) -> AuditEntry:
        """Append one entry, in `conn`'s transaction when given (it commits with it)."""
        if self.key is None:
            raise RuntimeError("an audit log opened without the server secret only reads")
        payload = dict(body or {})
        canonical(payload)  # refuse what JSON cannot hold before taking the lock
        with self._conn(conn) as c:
            q = select(audit_head).where(audit_head.c.id == 1)
            if not self.meta.is_sqlite:
                q = q.with_for_update()
            head = c.execute(q).one()
            draft = AuditEntry(
                seq=int(head.seq) + 1,
                time=time.time(),
                subject=subject,
                action=action,
                target=target,
                body=payload,
                prev_hash=head.entry_hash,
                entry_hash="",
                mac="",
            )
            digest = draft.computed_hash()
            entry = AuditEntry(
                **{**draft.__dict__, "entry_hash": digest, "mac": sign(self.key, digest)}
            )
            c.execute(
                audit_log.insert().values(
                    seq=entry.seq,
                    time=entry.time,
                    subject=entry.subject,
                    action=entry.action,
                    target=entry.target,
                    body_json=canonical(payload).decode(),
                    prev_hash=entry.prev_hash,
                    entry_hash=entry.entry_hash,
                    mac=entry.mac,
                )
            )
            c.execute(
                update(audit_head)
                .where(audit_head.c.id == 1)
                .values(seq=entry.seq, entry_hash=entry.entry_hash)
            )
        return entry

    def entries(self) -> list[AuditEntry]:
        with self.meta.transaction() as conn:
            return [
                AuditEntry.from_row(r)
                for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))
            ]

    def recorded_head(self) -> Head | None:
        """The database's own head row (None for an empty log)."""
        with self.meta.transaction() as conn:
            row = conn.execute(select(audit_head).where(audit_head.c.id == 1)).first()
        return Head(int(row.seq), row.entry_hash) if row is not None and row.seq else None

    def head(self) -> Head | None:
        """The last entry's head, to keep elsewhere (None for an empty log)."""
        with self.meta.transaction() as conn:
            row = conn.execute(
                select(audit_log.c.seq, audit_log.c.entry_hash)
                .order_by(audit_log.c.seq.desc())
                .limit(1)
            ).first()
        return Head(int(row.seq), row.entry_hash) if row is not None else None

    def verify(self, anchored_head: Head | None = None) -> VerifyReport:
        return verify(
            self.entries(),
            anchored_head=anchored_head,
            key=self.key,
            recorded_head=self.recorded_head(),
        )
