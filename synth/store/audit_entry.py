"""The audit trail's entries: their canonical form, hash, signature and keyed fingerprints.

An entry's hash is SHA-256 over a canonical JSON of the entry including the
previous entry's hash, so editing, removing, inserting or reordering an entry
breaks the chain; its HMAC (`sign`, with `audit_key(secret)`) catches a chain
rewritten with recomputed hashes. A `Head` (sequence number and hash of the
last entry) is what an operator keeps elsewhere. These are pure values: the
table lives in `synth.store.audit`, the check in `synth.store.audit_verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from synth.base.errors import InvalidArgument

#: The previous hash of the first entry.
GENESIS = "0" * 64
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def audit_key(secret: bytes) -> bytes:
    """The HMAC key of the log, derived from the server secret (never the secret itself)."""
    return hmac.new(secret, b"audit-log", hashlib.sha256).digest()


def fingerprint_key(secret: bytes) -> bytes:
    """The key of the inputs' fingerprints in entry bodies (apart from the signing key)."""
    return hmac.new(secret, b"audit-fingerprint", hashlib.sha256).digest()


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8, no NaN: one byte string per JSON value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def fingerprint(key: bytes, value: Any) -> str:
    """A keyed fingerprint of an input: comparable across entries, not invertible by a reader."""
    return "hmac-sha256:" + hmac.new(key, canonical(value), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Head:
    """The last entry's sequence number and hash: what an operator keeps elsewhere."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        seq, sep, digest = text.strip().partition(":")
        if not sep or not seq.isdigit() or not _HEX64.match(digest.lower()):
            raise InvalidArgument(
                f"a head reads SEQ:HASH (a number, a colon, 64 hex digits), as "
                f"`synth audit head` prints it; got {text[:80]!r}"
            )
        return cls(int(seq), digest.lower())


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: float
    subject: str
    action: str
    target: str
    body: Mapping[str, Any]
    prev_hash: str
    entry_hash: str
    mac: str

    def content(self, seq: int | None = None) -> dict[str, Any]:
        """What the hash covers (with `seq` in place of the stored one, to find a moved entry)."""
        return {
            "seq": self.seq if seq is None else seq,
            "time": self.time,
            "subject": self.subject,
            "action": self.action,
            "target": self.target,
            "body": self.body,
            "prev": self.prev_hash,
        }

    def computed_hash(self, seq: int | None = None) -> str:
        return hashlib.sha256(canonical(self.content(seq))).hexdigest()

    def to_json_dict(self) -> dict[str, Any]:
        return {**self.content(), "hash": self.entry_hash, "mac": self.mac}

    @classmethod
    def from_json_dict(cls, d: Mapping[str, Any]) -> AuditEntry:
        return cls(
            seq=int(d["seq"]),
            time=float(d["time"]),
            subject=str(d["subject"]),
            action=str(d["action"]),
            target=str(d["target"]),
            body=dict(d["body"]),
            prev_hash=str(d["prev"]),
            entry_hash=str(d["hash"]),
            mac=str(d.get("mac", "")),
        )

    @classmethod
    def from_row(cls, row: Any) -> AuditEntry:
        try:
            body = json.loads(row.body_json)
        except ValueError:
            body = {"unreadable body": row.body_json}
        return cls(
            seq=row.seq,
            time=row.time,
            subject=row.subject,
            action=row.action,
            target=row.target,
            body=body if isinstance(body, dict) else {"body": body},
            prev_hash=row.prev_hash,
            entry_hash=row.entry_hash,
            mac=row.mac,
        )


def sign(key: bytes, entry_hash: str) -> str:
    return hmac.new(key, entry_hash.encode(), hashlib.sha256).hexdigest()
