"""`synth audit verify|head|export` on a server's data folder: exit 0 intact, 1 tampered, 2 bad usage."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from synth.cli import main
from synth.client import Budget
from synth.server import RunningServer, start_server
from synth.store.audit import AuditLog
from synth.store.metadata import MetadataStore
from synth.store.secret import load_or_create_secret
from tests.service.fixtures import connect, register_approved


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A server's data folder (started once and stopped) with five entries of its own."""
    folder = tmp_path / "data"
    start_server(folder, port=0).stop(grace=0)
    meta = MetadataStore(f"sqlite:///{folder.resolve() / 'synth.db'}")
    try:
        log = AuditLog(meta, load_or_create_secret(folder))
        for i in range(5):
            log.append("alice", "Train", f"sources/s{i}", {"epsilon": 1.0})
    finally:
        meta.dispose()
    return folder


def sql(folder: Path, statement: str) -> None:
    with sqlite3.connect(folder / "synth.db") as conn:
        conn.execute(statement)


def test_an_intact_log_verifies_and_its_head_is_printed(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "audit", "head", "--data-dir", str(folder))
    assert code == 0, err
    head = out.strip()
    seq, _, digest = head.partition(":")
    assert int(seq) >= 5  # the server may have logged its own entries first
    assert len(digest) == 64 and "keep this head" in err
    code, out, err = run(capsys, "audit", "verify", "--data-dir", str(folder), "--head", head)
    assert code == 0, out + err
    assert "intact" in out and head in out

    code, out, _ = run(capsys, "audit", "verify", "--data-dir", str(folder), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["findings"] == []


def test_export_writes_json_lines_that_verify(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "audit.jsonl"
    code, _, err = run(capsys, "audit", "export", "--data-dir", str(folder), "-o", str(out_file))
    assert code == 0, err
    lines = out_file.read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    assert {"seq", "time", "subject", "action", "target", "body", "prev", "hash", "mac"} <= set(
        entries[0]
    )
    code, out, _ = run(
        capsys, "audit", "verify", "--data-dir", str(folder), "--input", str(out_file)
    )
    assert code == 0, out
    # An edited export is caught as well.
    entries[1]["subject"] = "mallory"
    out_file.write_text("".join(json.dumps(e) + "\n" for e in entries))
    code, out, _ = run(
        capsys, "audit", "verify", "--data-dir", str(folder), "--input", str(out_file)
    )
    assert code == 1 and "EDITED at entry 2" in out


def test_export_to_stdout(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "export", "--data-dir", str(folder))
    assert code == 0 and all(json.loads(line)["hash"] for line in out.splitlines())


def test_an_edited_entry_exits_1_and_is_named(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql(folder, "UPDATE audit_log SET subject = 'mallory' WHERE seq = 2")
    code, out, _ = run(capsys, "audit", "verify", "--data-dir", str(folder))
    assert code == 1
    assert "TAMPERED" in out and "EDITED at entry 2" in out


def test_a_cut_tail_is_caught_with_the_kept_head(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, head, _ = run(capsys, "audit", "head", "--data-dir", str(folder))
    last = int(head.split(":")[0])
    sql(folder, f"DELETE FROM audit_log WHERE seq > {last - 2}")
    with sqlite3.connect(folder / "synth.db") as conn:  # the intruder fixes the head row too
        (digest,) = conn.execute(
            f"SELECT entry_hash FROM audit_log WHERE seq = {last - 2}"
        ).fetchone()
        conn.execute(f"UPDATE audit_head SET seq = {last - 2}, entry_hash = '{digest}'")
    code, out, _ = run(capsys, "audit", "verify", "--data-dir", str(folder))
    assert code == 0 and "no anchored head" in out  # what only a kept head can show
    code, out, _ = run(capsys, "audit", "verify", "--data-dir", str(folder), "--head", head.strip())
    assert code == 1 and f"TRUNCATED at entries {last - 1}-{last}" in out


def test_bad_usage_exits_2(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "audit", "verify", "--data-dir", str(folder), "--head", "12")
    assert code == 2 and "SEQ:HASH" in err
    code, _, err = run(capsys, "audit", "verify", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "no synth database" in err
    assert not (tmp_path / "nowhere").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n")
    code, _, err = run(capsys, "audit", "verify", "--data-dir", str(folder), "--input", str(bad))
    assert code == 2 and "bad.jsonl:1" in err
    code, _, _ = run(capsys, "audit")
    assert code == 2


# ---- a real session: every state change is in the log, and the log verifies ----------------


def test_a_session_is_audited_and_verifies(
    fresh_server: RunningServer,
    data_folder: Path,
    adult: pa.Table,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = ["--data-dir", str(data_folder)]
    if fresh_server.service.config.database_url:
        store += ["--database-url", fresh_server.service.config.database_url]
    with connect(fresh_server) as client:
        src = register_approved(
            client, "audited", adult.slice(0, 2000), budget=Budget(epsilon=3.0, delta=1e-6)
        )
        client.update_schema(src, client.schema(src), approve=True)
        model = client.train(src, generator="dp_marginals", epsilon=1.0).result()
        dataset = client.generate(model, rows=100, seed=1).result()
        scoring = client.evaluate(dataset)
        client.cancel_job(scoring.name)
        scoring.wait()  # cancelled, or done first: the cancel call is logged either way
        client.delete_source(src)
    code, out, err = run(
        capsys, "token", "create", *store, "--subject", "carol", "--role", "reader", "--json"
    )
    assert code == 0, err
    code, _, err = run(capsys, "token", "revoke", *store, json.loads(out)["id"])
    assert code == 0, err

    log = fresh_server.service.stores.audit
    entries = log.entries()
    mine = [(e.subject, e.action, e.target) for e in entries if e.subject == "alice"]
    assert mine == [
        ("alice", "RegisterSource", "sources/audited"),
        ("alice", "ApproveSchema", "sources/audited"),
        ("alice", "UpdateSchema", "sources/audited"),
        ("alice", "MeasureSize", "sources/audited"),
        ("alice", "Train", "sources/audited"),
        ("alice", "Generate", model.name),
        ("alice", "Evaluate", dataset.name),
        ("alice", "CancelJob", scoring.name),
        ("alice", "DeleteSource", "sources/audited"),
    ]
    train = next(e for e in entries if e.action == "Train")
    budget_spent = train.body["epsilon"]
    assert 0 < budget_spent <= 1.0 and train.body["source"] == "sources/audited"
    assert train.body["request"].startswith("hmac-sha256:")
    assert {c["purpose"] for c in train.body["charges"]}  # each ledger row, with its ε and δ
    size = next(e for e in entries if e.action == "MeasureSize")
    assert size.body["charges"][0]["purpose"] == "size" and size.body["epsilon"] > 0
    first = entries[0]  # the admin token the server made for itself at first start
    assert (first.subject, first.action, first.body) == (
        "server",
        "CreateToken",
        {"subject": "admin", "roles": ["admin"]},
    )
    made, revoked = entries[-2:]
    assert made.action == "CreateToken" and made.subject.startswith("shell:")
    assert made.body == {"subject": "carol", "roles": ["reader"]}
    assert revoked.action == "RevokeToken" and revoked.target == made.target

    code, out, err = run(capsys, "audit", "verify", *store)
    assert code == 0, out + err
    assert f"{len(entries)} entries" in out
    code, head, _ = run(capsys, "audit", "head", *store)
    assert code == 0 and head.strip() == f"{entries[-1].seq}:{entries[-1].entry_hash}"
    code, out, _ = run(capsys, "audit", "verify", *store, "--head", head.strip())
    assert code == 0, out
