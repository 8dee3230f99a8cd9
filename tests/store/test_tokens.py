"""Bearer tokens: only hashes stored, revocation final, malformed tokens refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from synth.base.errors import InvalidArgument, NotFound
from synth.base.principal import Role
from synth.store.metadata import MetadataStore
from synth.store.sqltables import tokens
from synth.store.tokens import TokenRows


@pytest.fixture()
def rows(tmp_path: Path) -> TokenRows:
    return TokenRows(MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}"))


def test_a_token_authenticates_as_its_subject_with_its_roles(rows: TokenRows) -> None:
    record, plain = rows.create("alice", "owner,reviewer")
    who = rows.authenticate(plain)
    assert who is not None
    assert who.subject == "alice" and who.roles == {Role.OWNER, Role.REVIEWER}
    assert who.token_id == record.id and not who.is_admin


def test_only_a_hash_of_the_secret_is_stored(rows: TokenRows) -> None:
    _, plain = rows.create("alice", "owner")
    secret = plain.rsplit("_", 1)[1]
    with rows.meta.transaction() as conn:
        stored = [tuple(str(v) for v in r) for r in conn.execute(select(tokens))]
    assert all(secret not in value for row in stored for value in row)


def test_a_revoked_token_never_works_again(rows: TokenRows) -> None:
    record, plain = rows.create("alice", "owner")
    rows.revoke(record.id)
    assert rows.authenticate(plain) is None
    with pytest.raises(NotFound):
        rows.revoke(record.id)
    assert rows.list() == [] and len(rows.list(include_revoked=True)) == 1


@pytest.mark.parametrize(
    "bad",
    ["", "synth_", "Bearer x", "synth_0123456789abcdef_short", "x" * 10_000],
)
def test_malformed_tokens_are_refused(rows: TokenRows, bad: str) -> None:
    assert rows.authenticate(bad) is None


def test_a_token_with_a_wrong_secret_is_refused(rows: TokenRows) -> None:
    _, plain = rows.create("alice", "owner")
    head, secret = plain.rsplit("_", 1)
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert rows.authenticate(f"{head}_{wrong}") is None


def test_bad_subjects_and_roles_are_refused(rows: TokenRows) -> None:
    with pytest.raises(InvalidArgument):
        rows.create("../etc", "owner")
    with pytest.raises(InvalidArgument, match="unknown role"):
        rows.create("alice", "superuser")


def test_any_admin_sees_live_admin_tokens_only(rows: TokenRows) -> None:
    assert not rows.any_admin()
    record, _ = rows.create("root", "admin")
    assert rows.any_admin()
    rows.revoke(record.id)
    assert not rows.any_admin()


def test_the_sqlite_file_is_readable_by_the_servers_user_alone(tmp_path: Path) -> None:
    """It holds token hashes, exact row counts and evaluation scores (attack review)."""
    import os
    import stat

    MetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    assert stat.S_IMODE(os.stat(tmp_path / "meta.db").st_mode) == 0o600
