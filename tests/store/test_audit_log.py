"""The audit trail: every form of tampering is caught and named; appends never fork.

Each tampering is done the way an intruder with write access to the database
would: SQL on the table itself. Runs on SQLite, and on PostgreSQL too when
SYNTH_TEST_DATABASE_URL names a server (scripts/with-postgres.sh).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import text

from synth.base.errors import InvalidArgument
from synth.store.audit import GENESIS, AuditEntry, AuditLog, Head, canonical, verify
from synth.store.metadata import MetadataStore
from tests.service.database import ENV, fresh_database, server_url

SECRET = bytes(range(32))
N = 6


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditLog]:
    if request.param == "postgresql" and not server_url():
        pytest.skip(f"{ENV} names no PostgreSQL server")
    with ExitStack() as stack:
        url = (
            f"sqlite:///{tmp_path / 'synth.db'}"
            if request.param == "sqlite"
            else stack.enter_context(fresh_database())
        )
        meta = MetadataStore(url)
        stack.callback(meta.dispose)
        yield AuditLog(meta, SECRET)


@pytest.fixture
def filled(log: AuditLog) -> AuditLog:
    for i in range(1, N + 1):
        log.append(
            f"user-{i % 2}",
            "Train" if i % 2 else "RegisterSource",
            f"sources/s{i}",
            {"epsilon": 0.5 * i, "request": log.fingerprint({"i": i})},
        )
    return log


def sql(log: AuditLog, statement: str, **params: object) -> None:
    with log.meta.transaction() as conn:
        conn.execute(text(statement), params)


def kinds(report_findings: object) -> list[tuple[str, int, int | None]]:
    return [(f.kind, f.seq, f.last) for f in report_findings]  # type: ignore[attr-defined]


def write_row(log: AuditLog, e: AuditEntry) -> None:
    sql(
        log,
        "INSERT INTO audit_log (seq, time, subject, action, target, body_json, prev_hash, "
        "entry_hash, mac) VALUES (:seq, :time, :subject, :action, :target, :body, :prev, "
        ":hash, :mac)",
        seq=e.seq, time=e.time, subject=e.subject, action=e.action, target=e.target,
        body=canonical(dict(e.body)).decode(), prev=e.prev_hash, hash=e.entry_hash, mac=e.mac,
    )  # fmt: skip


def rehashed(e: AuditEntry, **changes: object) -> AuditEntry:
    """`e` with `changes`, its hash recomputed as anyone can (SHA-256 needs no key)."""
    draft = dataclasses.replace(e, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(draft, entry_hash=draft.computed_hash())


# ---- an intact log ---------------------------------------------------------------------


def test_an_intact_chain_verifies_with_the_key_and_the_head(filled: AuditLog) -> None:
    head = filled.head()
    assert head is not None and head.seq == N
    report = filled.verify(anchored_head=head)
    assert report.ok, report.describe()
    assert report.entries == N and report.head == head and report.notes == ()
    entries = filled.entries()
    assert [e.seq for e in entries] == list(range(1, N + 1))
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    # An export read back verifies the same (and with the key, as the server does).
    lines = [json.dumps(e.to_json_dict()) for e in entries]
    again = [AuditEntry.from_json_dict(json.loads(line)) for line in lines]
    assert verify(again, anchored_head=head, key=filled.key).ok


def test_bodies_hold_keyed_fingerprints_not_values(filled: AuditLog) -> None:
    body = filled.entries()[0].body
    assert body["request"].startswith("hmac-sha256:")
    assert body["request"] != "hmac-sha256:" + hashlib.sha256(canonical({"i": 1})).hexdigest()[:32]
    assert AuditLog(filled.meta, b"x" * 32).fingerprint({"i": 1}) != body["request"]


def test_the_mac_key_is_derived_not_the_secret(filled: AuditLog) -> None:
    assert filled.key is not None and filled.key != SECRET and len(filled.key) == 32


# ---- each tampering, named ---------------------------------------------------------------


def test_an_edited_field_is_named(filled: AuditLog) -> None:
    sql(filled, "UPDATE audit_log SET subject = 'mallory' WHERE seq = 3")
    report = filled.verify(anchored_head=Head(N, filled.entries()[-1].entry_hash))
    assert kinds(report.findings) == [("edited", 3, None)]
    assert "entry 3" in report.describe() and "EDITED" in report.describe()


def test_an_edited_body_is_named(filled: AuditLog) -> None:
    sql(filled, "UPDATE audit_log SET body_json = :b WHERE seq = 2", b='{"epsilon":0.01}')
    assert kinds(filled.verify().findings) == [("edited", 2, None)]


def test_a_removed_entry_is_named(filled: AuditLog) -> None:
    head = filled.head()
    sql(filled, "DELETE FROM audit_log WHERE seq = 4")
    report = filled.verify(anchored_head=head)
    assert kinds(report.findings) == [("removed", 4, None)]
    assert "entry 5 follows entry 3" in report.describe()


def test_removed_entries_renumbered_to_close_the_gap_are_still_named(filled: AuditLog) -> None:
    sql(filled, "DELETE FROM audit_log WHERE seq = 2")
    for seq in range(3, N + 1):
        sql(filled, "UPDATE audit_log SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    report = filled.verify()
    assert ("removed", 2, None) in kinds(report.findings)


def test_an_inserted_forged_row_is_named(filled: AuditLog) -> None:
    entries = filled.entries()
    for seq in range(N, 2, -1):  # make room at 3, from the end (unique sequence numbers)
        sql(filled, "UPDATE audit_log SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    forged = rehashed(
        entries[2], subject="mallory", action="ApproveSchema", prev_hash=entries[1].entry_hash
    )
    write_row(filled, dataclasses.replace(forged, mac="0" * 64))
    for key in (filled.key, None):  # the chain alone catches it, the key is not needed
        report = verify(filled.entries(), key=key)
        assert kinds(report.findings) == [("inserted", 3, None)], report.describe()
        assert "renumbered" in report.findings[0].message


def test_a_forged_entry_appended_with_a_valid_link_is_caught_by_the_key(filled: AuditLog) -> None:
    last = filled.entries()[-1]
    forged = rehashed(last, seq=N + 1, action="DeleteSource", prev_hash=last.entry_hash)
    write_row(filled, dataclasses.replace(forged, mac="f" * 64))
    report = filled.verify()
    assert kinds(report.findings) == [("rewritten", N + 1, None)]
    assert verify(filled.entries()).ok  # without the key: a valid chain, nothing to see


def test_swapped_sequence_numbers_are_named(filled: AuditLog) -> None:
    sql(filled, "UPDATE audit_log SET seq = -1 WHERE seq = 2")
    sql(filled, "UPDATE audit_log SET seq = 2 WHERE seq = 5")
    sql(filled, "UPDATE audit_log SET seq = 5 WHERE seq = -1")
    report = filled.verify(anchored_head=Head(N, filled.entries()[-1].entry_hash))
    assert kinds(report.findings) == [("reordered", 2, None), ("reordered", 5, None)]
    assert "written as entry 5 and now stands as entry 2" in report.describe()


def test_a_cut_tail_is_named_by_the_anchored_head(filled: AuditLog) -> None:
    head = filled.head()
    sql(filled, "DELETE FROM audit_log WHERE seq > 4")
    sql(filled, "UPDATE audit_head SET seq = 4, entry_hash = :h", h=filled.entries()[-1].entry_hash)
    report = filled.verify(anchored_head=head)
    assert kinds(report.findings) == [("truncated", 5, 6)]
    assert "the anchored head is entry 6" in report.describe()


def test_a_cut_tail_without_an_anchored_head(filled: AuditLog) -> None:
    sql(filled, "DELETE FROM audit_log WHERE seq > 4")
    # The database's own head row still names entry 6: caught, and named.
    report = filled.verify()
    assert kinds(report.findings) == [("truncated", 5, 6)]
    assert "the database's head record" in report.describe()
    # An intruder who fixes the head row too leaves a valid shorter chain: only an
    # anchored head kept elsewhere tells, and the report says so.
    sql(filled, "UPDATE audit_head SET seq = 4, entry_hash = :h", h=filled.entries()[-1].entry_hash)
    report = filled.verify()
    assert report.ok and any("no anchored head" in n for n in report.notes)


def test_a_chain_rewritten_from_an_entry_on(filled: AuditLog) -> None:
    head = filled.head()
    entries = filled.entries()
    k = 3
    prev = entries[k - 2].entry_hash
    for e in entries[k - 1 :]:
        changes: dict[str, object] = {"prev_hash": prev}
        if e.seq == k:
            changes["body"] = {"epsilon": 0.0}
        new = rehashed(e, **changes)
        sql(filled, "DELETE FROM audit_log WHERE seq = :s", s=e.seq)
        write_row(filled, new)  # the old MAC kept: a new one needs the key
        prev = new.entry_hash
    sql(filled, "UPDATE audit_head SET entry_hash = :h", h=prev)
    rewritten = filled.entries()
    assert verify(rewritten).ok  # a consistent chain: SHA-256 alone cannot tell
    by_key = verify(rewritten, key=filled.key)
    assert kinds(by_key.findings) == [("rewritten", k, N)]
    assert f"rewritten from entry {k} on" in by_key.describe()
    by_head = verify(rewritten, anchored_head=head)
    assert kinds(by_head.findings) == [("rewritten", N, None)]


def test_a_bad_head_is_refused_in_words() -> None:
    assert Head.parse(f"12:{'A' * 64}") == Head(12, "a" * 64)
    for bad in ("", "12", "x:" + "0" * 64, "12:" + "0" * 63, "12:" + "g" * 64):
        with pytest.raises(InvalidArgument, match="SEQ:HASH"):
            Head.parse(bad)


# ---- appends -----------------------------------------------------------------------------


def test_concurrent_appends_never_fork_the_chain(log: AuditLog) -> None:
    threads, each = 6, 8
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(each):
                log.append(f"thread-{t}", "Generate", f"models/m{t}", {"i": i})
        except BaseException as exc:  # pragma: no cover - shown by the assert below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert errors == []
    entries = log.entries()
    assert [e.seq for e in entries] == list(range(1, threads * each + 1))
    assert entries[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    assert log.verify(anchored_head=log.head()).ok


def test_an_append_commits_with_the_change_it_records(log: AuditLog) -> None:
    log.append("alice", "RegisterSource", "sources/a")
    with pytest.raises(RuntimeError, match="boom"), log.meta.transaction() as conn:
        log.append("alice", "DeleteSource", "sources/a", conn=conn)
        raise RuntimeError("boom")
    assert [e.action for e in log.entries()] == ["RegisterSource"]
    with log.meta.transaction() as conn:
        log.append("alice", "DeleteSource", "sources/a", conn=conn)
    assert [e.seq for e in log.entries()] == [1, 2] and log.verify().ok


def test_a_log_opened_without_the_secret_only_reads(filled: AuditLog) -> None:
    reader = AuditLog(filled.meta, None)
    with pytest.raises(RuntimeError, match="only reads"):
        reader.append("alice", "Train")
    report = reader.verify()
    assert report.ok and any("no key" in n for n in report.notes)


def test_one_entry_changed_and_rehashed(filled: AuditLog) -> None:
    """Its successor's link breaks (no key needed); with the key the entry itself is named."""
    e = filled.entries()[2]
    new = rehashed(e, target="sources/elsewhere")
    sql(filled, "DELETE FROM audit_log WHERE seq = 3")
    write_row(filled, new)
    assert kinds(verify(filled.entries()).findings) == [("broken", 4, None)]
    report = verify(filled.entries(), key=filled.key)
    assert kinds(report.findings) == [("edited", 3, None)]
    assert "re-hashed" in report.describe()
