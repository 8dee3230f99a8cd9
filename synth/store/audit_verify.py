"""Checking the audit trail: `verify` names each tampering by kind and sequence number.

A pure function of the entries (in stored order), the HMAC key when there is
one, and the heads that witness the tail (one an operator anchored elsewhere,
the database's own head row): see `Finding` for what it reports.
"""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from synth.store.audit_entry import GENESIS, AuditEntry, Head, sign

Kind = Literal[
    "edited", "removed", "inserted", "reordered", "renumbered", "truncated", "rewritten", "broken"
]


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
