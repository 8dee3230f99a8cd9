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
and sequence number (see `Finding`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, select, update

from synth.base.errors import InvalidArgument
from synth.store.metadata import MetadataStore
from synth.store.sqltables import audit_head, audit_log

#: The previous hash of the first entry.
GENESIS = "0" * 64
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

Kind = Literal[
    "edited", "removed", "inserted", "reordered", "renumbered", "truncated", "rewritten", "broken"
]


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


# ---- verification --------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One tampering: its kind, the entries it concerns (sequence numbers), and what to do."""

    kind: Kind
    seq: int
    last: int | None
    message: str

    def __str__(self) -> str:
        where = (
            f"entry {self.seq}"
            if self.last in (None, self.seq)
            else (f"entries {self.seq}-{self.last}")
        )
        return f"{self.kind.upper()} at {where}: {self.message}"


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    head: Head | None
    findings: tuple[Finding, ...]
    #: What this check could not rule out (no key, no anchored head).
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def describe(self) -> str:
        if self.ok:
            head = f", head {self.head}" if self.head else ""
            lines = [f"audit log intact: {self.entries} entries{head}"]
        else:
            lines = [
                f"audit log TAMPERED: {len(self.findings)} finding(s) in {self.entries} entries"
            ]
            lines += [f"  {f}" for f in self.findings]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": str(self.head) if self.head else None,
            "findings": [
                {"kind": f.kind, "seq": f.seq, "last": f.last, "message": f.message}
                for f in self.findings
            ],
            "notes": list(self.notes),
        }


def _span(seqs: Sequence[int]) -> tuple[int, int | None]:
    return seqs[0], (seqs[-1] if len(seqs) > 1 else None)


def _written_seq(e: AuditEntry, by_hash: Mapping[str, AuditEntry]) -> int | None:
    """The sequence number `e` was written with: its own when its hash matches, else a
    nearby one that does (a moved or renumbered entry), else None (its contents changed)."""
    if e.computed_hash() == e.entry_hash:
        return e.seq
    candidates = [e.seq + d for d in (-1, 1, -2, 2, -3, 3)]
    if e.prev_hash == GENESIS:
        candidates.insert(0, 1)
    elif e.prev_hash in by_hash:
        candidates.insert(0, by_hash[e.prev_hash].seq + 1)
    for s in candidates:
        if s >= 1 and e.computed_hash(s) == e.entry_hash:
            return s
    return None


def verify(
    entries: Iterable[AuditEntry],
    *,
    anchored_head: Head | None = None,
    key: bytes | None = None,
    recorded_head: Head | None = None,
) -> VerifyReport:
    """Check a log (entries in stored order: by sequence number) and name every tampering.

    `anchored_head`: a head an operator kept elsewhere (catches a cut tail and a chain
    rewritten up to it). `key`: the HMAC key (`audit_key(secret)`; catches a chain
    rewritten with recomputed hashes). `recorded_head`: the database's own head row, a
    weaker witness of the tail (whoever cuts the log can fix it too).
    """
    stored = list(entries)
    findings: list[Finding] = []
    by_hash = {e.entry_hash: e for e in stored}
    referenced = {e.prev_hash for e in stored}
    written = {id(e): _written_seq(e, by_hash) for e in stored}
    edited = [e for e in stored if written[id(e)] is None]
    for e in edited:
        findings.append(
            Finding(
                "edited",
                e.seq,
                None,
                "its contents no longer match its hash: a field was changed after it was "
                "written; compare it with a backup or an export",
            )
        )
    # Entries in the order they were written; two claiming one place: one was inserted.
    places: dict[int, list[AuditEntry]] = {}
    for e in stored:
        places.setdefault(written[id(e)] or e.seq, []).append(e)
    inserted: list[AuditEntry] = []
    chain: list[tuple[int, AuditEntry]] = []
    for place in sorted(places):
        group = places[place]
        if len(group) > 1:

            def rank(e: AuditEntry) -> tuple[bool, bool, bool]:
                signed = key is not None and hmac.compare_digest(sign(key, e.entry_hash), e.mac)
                return (e.entry_hash in referenced, signed, written[id(e)] is not None)

            group = sorted(group, key=rank, reverse=True)
            inserted += group[1:]
        chain.append((place, group[0]))
    shifted = [e for _, e in chain if written[id(e)] not in (None, e.seq)]
    for e in sorted(inserted, key=lambda x: x.seq):
        findings.append(
            Finding(
                "inserted",
                e.seq,
                None,
                "no entry names it as its predecessor: it was added to the log, not written "
                "in turn"
                + (" (the entries after it were renumbered to make room)" if shifted else ""),
            )
        )
    # Order: stored order of the written sequence numbers must be increasing.
    gone = {id(e) for e in inserted}
    kept = [e for e in stored if id(e) not in gone]

    def place_of(e: AuditEntry) -> int:
        return written[id(e)] or e.seq

    inversions = any(place_of(a) > place_of(b) for a, b in itertools.pairwise(kept))
    out_of_order = [e for e in kept if inversions and written[id(e)] not in (None, e.seq)]
    for e in out_of_order:
        findings.append(
            Finding(
                "reordered",
                e.seq,
                None,
                f"it was written as entry {written[id(e)]} and now stands as entry {e.seq}: "
                "entries were swapped or moved",
            )
        )
    # Links and gaps, in written order.
    unsigned = (
        [(p, e) for p, e in chain if not hmac.compare_digest(sign(key, e.entry_hash), e.mac)]
        if key is not None
        else []
    )
    # A link broken by an entry already named (edited, or re-hashed and unsigned) is not
    # a finding of its own.
    explained = {id(e) for e in edited} | {id(e) for _, e in unsigned}
    prev: tuple[int, AuditEntry] | None = None
    for place, e in chain:
        expected = 1 if prev is None else prev[0] + 1
        prev_hash = GENESIS if prev is None else prev[1].entry_hash
        if place > expected:
            findings.append(
                Finding(
                    "removed",
                    expected,
                    place - 1 if place - 1 > expected else None,
                    f"missing: entry {place} follows "
                    + (f"entry {expected - 1}" if prev is not None else "the start of the log")
                    + " (restore it from a backup or an export)",
                )
            )
        elif (
            e.prev_hash != prev_hash
            and id(e) not in explained
            and (prev is None or id(prev[1]) not in explained)
        ):
            findings.append(
                Finding(
                    "broken",
                    place,
                    None,
                    f"it does not name entry {expected - 1} as its predecessor: the entry "
                    "before it was replaced, or its link was changed",
                )
            )
        prev = (place, e)
    if not findings and shifted:
        seqs = [e.seq for e in shifted]
        first, last = _span(seqs)
        findings.append(
            Finding(
                "renumbered",
                first,
                last,
                "their sequence numbers differ from those they were written with",
            )
        )
    # Signatures: a chain rewritten with recomputed hashes carries hashes never signed.
    notes: list[str] = []
    if key is not None:
        runs: list[list[tuple[int, AuditEntry]]] = []
        for item in unsigned:
            if runs and item[0] == runs[-1][-1][0] + 1:
                runs[-1].append(item)
            else:
                runs.append([item])
        last_place = chain[-1][0] if chain else 0
        for run in runs:
            first, last = run[0][0], run[-1][0]
            if last == last_place:
                message = (
                    "their hashes were never signed by this server: the chain was rewritten "
                    f"from entry {first} on with recomputed hashes (or entries were forged "
                    "at its end)"
                )
                findings.append(
                    Finding("rewritten", first, last if last > first else None, message)
                )
            else:
                findings.append(
                    Finding(
                        "edited",
                        first,
                        last if last > first else None,
                        "changed and re-hashed: their hashes were never signed by this server",
                    )
                )
    else:
        notes.append(
            "no key: a chain rewritten with recomputed hashes after the anchored head "
            "cannot be detected (run on the server's data folder, where secret.key is)"
        )
    # The tail: an anchored head, then the database's own head row.
    last_written = chain[-1][0] if chain else 0
    for head, whose in (
        (anchored_head, "the anchored head"),
        (recorded_head, "the database's head record"),
    ):
        if head is None or head.seq == 0:
            continue
        at = next((e for place, e in chain if place == head.seq), None)
        if head.seq > last_written:
            findings.append(
                Finding(
                    "truncated",
                    last_written + 1,
                    head.seq if head.seq > last_written + 1 else None,
                    f"the log ends at entry {last_written} but {whose} is entry {head.seq}: "
                    "its tail was cut off (restore it from a backup or an export)",
                )
            )
        elif at is not None and at.entry_hash != head.hash:
            findings.append(
                Finding(
                    "rewritten",
                    head.seq,
                    None,
                    f"its hash differs from {whose} ({head.hash[:12]}...): the chain was "
                    f"rewritten at or before entry {head.seq}",
                )
            )
        if anchored_head is not None:
            break  # the anchored head is the stronger witness; the row adds nothing
    if anchored_head is None:
        notes.append(
            "no anchored head: a cut tail is caught only if the database's head record was "
            "left as it was (keep `synth audit head` somewhere else, pass it with --head)"
        )
    findings.sort(key=lambda f: (f.seq, f.kind))
    head_now = Head(stored[-1].seq, stored[-1].entry_hash) if stored else None
    return VerifyReport(len(stored), head_now, tuple(findings), tuple(notes))


# ---- the table -------------------------------------------------------------------------


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
