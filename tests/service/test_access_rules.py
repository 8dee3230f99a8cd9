"""Ownership rules beyond the matrix (issue 12): keys, budgets, caps, old sources, quotas.

Each attack from the issue is tried as a second owner ("bob") against the
first ("alice"), and the test checks both the answer and that nothing moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from sqlalchemy import update

from synth.core.config import ServiceConfig
from synth.jobs.state import JobKind
from synth.server import RunningServer, start_server
from synth.store.sqltables import sources
from synth.v1 import jobs_pb2, sources_pb2
from tests.service.fixtures import admin_token, csv_bytes, token_for
from tests.service.stubs import Stubs, error_info


def _table(i: int, n: int = 60) -> bytes:
    return csv_bytes(
        pa.table({"a": [i * 1000 + k for k in range(n)], "b": [["x", "y"][k % 2] for k in range(n)]})
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("access-rules")
    with start_server(folder, port=0, config=ServiceConfig(data_dir=folder)) as server:
        yield server


@pytest.fixture(scope="module")
def alice(running: RunningServer) -> Iterator[Stubs]:
    s = Stubs.connect(running, token_for(running, "alice", "owner"))
    yield s
    s.channel.close()


@pytest.fixture(scope="module")
def bob(running: RunningServer) -> Iterator[Stubs]:
    s = Stubs.connect(running, token_for(running, "bob", "owner"))
    yield s
    s.channel.close()


@pytest.fixture(scope="module")
def admin(running: RunningServer) -> Iterator[Stubs]:
    s = Stubs.connect(running, admin_token(running))
    yield s
    s.channel.close()


@pytest.fixture(scope="module")
def alice_source(alice: Stubs, adult_small_csv: bytes) -> sources_pb2.Source:
    return alice.register_approved("alice-src", adult_small_csv, epsilon=5.0)


def _code(call) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code(), err.value.details() or ""


def test_another_owners_key_makes_a_new_job_and_never_names_theirs(
    alice: Stubs, bob: Stubs, alice_source: sources_pb2.Source
) -> None:
    theirs = alice.train(alice_source.name, epsilon=0.1, idempotency_key="nightly")
    assert alice.train(alice_source.name, epsilon=0.1, idempotency_key="nightly").name == theirs.name
    mine_src = bob.register_approved("bob-src", _table(1))
    mine = bob.train(mine_src.name, epsilon=0.1, idempotency_key="nightly")
    assert mine.name != theirs.name
    # The same key with a different request is not a conflict with alice's job either.
    other = bob.train(mine_src.name, epsilon=0.2, idempotency_key="nightly2")
    assert theirs.name.split("/")[1] not in str(other)
    # Nor does bob reach alice's job by sending her request with her key.
    code, message = _code(
        lambda: bob.train(alice_source.name, epsilon=0.1, idempotency_key="nightly")
    )
    assert code == grpc.StatusCode.NOT_FOUND
    assert theirs.name.split("/")[1] not in message
    alice.wait(theirs)
    bob.wait(mine)


def test_nobody_spends_deletes_or_cancels_another_owners_things(
    alice: Stubs, bob: Stubs, alice_source: sources_pb2.Source
) -> None:
    job = alice.wait(alice.train(alice_source.name, epsilon=0.1))
    before = alice.budget(alice_source.name)
    attacks = [
        lambda: bob.train(alice_source.name, epsilon=1.0),
        lambda: bob.generate(job.result, rows=10),
        lambda: bob.sources.DeleteSource(sources_pb2.DeleteSourceRequest(name=alice_source.name)),
        lambda: bob.jobs.CancelJob(jobs_pb2.CancelJobRequest(name=job.name)),
        lambda: bob.budget(alice_source.name),
    ]
    for attack in attacks:
        code, _ = _code(attack)
        assert code == grpc.StatusCode.NOT_FOUND
    assert alice.budget(alice_source.name) == before
    assert alice.sources.GetSource(sources_pb2.GetSourceRequest(name=alice_source.name)).name
    assert alice.jobs.GetJob(jobs_pb2.GetJobRequest(name=job.name)).state == jobs_pb2.SUCCEEDED
    listed = bob.sources.ListSources(sources_pb2.ListSourcesRequest()).sources
    assert alice_source.name not in [s.name for s in listed]


@pytest.mark.parametrize(
    ("header", "what"),
    [
        (dict(epsilon=50.0), "budget cap"),
        (dict(delta=1e-3), "budget cap"),
        (dict(allow_non_private=True), "allow_non_private"),
        (dict(uri="/etc/os-release"), "server-side path"),
    ],
)
def test_only_an_admin_sets_large_caps_non_private_or_a_uri(
    running: RunningServer, alice: Stubs, header: dict, what: str  # type: ignore[type-arg]
) -> None:
    source_id = f"big-{abs(hash(what + str(header))) % 10**6}"
    data = None if "uri" in header else _table(7)
    code, message = _code(lambda: alice.register(source_id, data, **header))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert what in message and "admin" in message
    assert running.service.stores.sources.state(source_id) == "absent"


def test_an_admin_may_set_a_large_cap_and_allow_non_private(admin: Stubs) -> None:
    src = admin.register("admin-src", _table(9), epsilon=50.0, allow_non_private=True)
    assert src.allow_non_private and src.budget_cap.epsilon == 50.0


def test_sources_from_before_owners_are_an_admins_alone(
    running: RunningServer, alice: Stubs, admin: Stubs
) -> None:
    src = alice.register("legacy", _table(11))
    with running.service.stores.meta.transaction() as conn:
        conn.execute(update(sources).where(sources.c.id == "legacy").values(owner=""))
    code, _ = _code(lambda: alice.sources.GetSource(sources_pb2.GetSourceRequest(name=src.name)))
    assert code == grpc.StatusCode.NOT_FOUND
    assert admin.sources.GetSource(sources_pb2.GetSourceRequest(name=src.name)).name == src.name


# ---- quotas: a fresh server with small ones ---------------------------------------


@pytest.fixture
def quota_server(tmp_path: Path) -> Iterator[RunningServer]:
    config = ServiceConfig(
        data_dir=tmp_path, max_active_jobs_per_owner=1, max_active_rows_per_owner=100
    )
    with start_server(tmp_path, port=0, config=config) as server:
        yield server


def test_a_full_job_quota_refuses_before_the_charge_and_only_for_that_owner(
    quota_server: RunningServer, adult_small_csv: bytes
) -> None:
    alice = Stubs.connect(quota_server, token_for(quota_server, "alice", "owner"))
    bob = Stubs.connect(quota_server, token_for(quota_server, "bob", "owner"))
    src = alice.register_approved("adult", adult_small_csv, epsilon=5.0)
    # A job of alice's that stays queued (never handed to the executor): her quota is full.
    quota_server.service.stores.jobs.create_once(
        JobKind.TRAIN, src.name, {"held": True}, "", owner="alice"
    )
    before = alice.budget(src.name)
    with pytest.raises(grpc.RpcError) as err:
        alice.train(src.name, epsilon=1.0)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info = error_info(err.value)
    assert info is not None and info.reason == "QUOTA_EXCEEDED"
    assert "queued or running" in (err.value.details() or "")
    assert alice.budget(src.name) == before
    # bob's quota is his own.
    theirs = bob.register_approved("bob-src", _table(3))
    assert bob.wait(bob.train(theirs.name, epsilon=0.5)).state == jobs_pb2.SUCCEEDED
    alice.channel.close()
    bob.channel.close()


def test_rows_in_generation_are_capped_per_owner(
    quota_server: RunningServer, adult_small_csv: bytes
) -> None:
    alice = Stubs.connect(quota_server, token_for(quota_server, "alice", "owner"))
    src = alice.register_approved("adult", adult_small_csv, epsilon=5.0)
    model = alice.wait(alice.train(src.name, epsilon=1.0)).result
    with pytest.raises(grpc.RpcError) as err:
        alice.generate(model, rows=101)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info = error_info(err.value)
    assert info is not None and info.reason == "QUOTA_EXCEEDED"
    assert "100" in (err.value.details() or "")
    assert alice.wait(alice.generate(model, rows=100)).state == jobs_pb2.SUCCEEDED
    alice.channel.close()


def test_a_refused_token_is_never_echoed_and_health_needs_none(running: RunningServer) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    secret = "synth_0123456789abcdef_" + "A" * 43  # the shape of a token, unknown here
    s = Stubs.connect(running.address, secret)
    with pytest.raises(grpc.RpcError) as err:
        s.sources.ListSources(sources_pb2.ListSourcesRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "A" * 43 not in (err.value.details() or "") and "0123456789abcdef" not in str(err.value)
    assert "synth token create" in (err.value.details() or "")
    s.channel.close()
    with grpc.insecure_channel(running.address) as ch:
        answer = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_the_sdk_raises_the_typed_errors(running: RunningServer, quota_server: RunningServer) -> None:
    import synth

    with (
        synth.Client.connect(running.address, token="synth_not-a-token") as anyone,
        pytest.raises(synth.Unauthenticated, match="synth token create"),
    ):
        anyone.list_sources()
    reader = token_for(running, "rex", "reader")
    with synth.Client.connect(running.address, token=reader) as client:
        with pytest.raises(synth.PermissionDenied, match="owner role"):
            client.register_source("by-reader", _table(21), budget=synth.Budget(epsilon=1.0))
        assert client.list_sources() == []
    owner = token_for(quota_server, "carol", "owner")
    quota_server.service.stores.jobs.create_once(JobKind.TRAIN, "sources/x", {}, "", owner="carol")
    with synth.Client.connect(quota_server.address, token=owner) as client:
        src = client.approve_schema(
            client.register_source("carols", _table(22), budget=synth.Budget(epsilon=1.0))
        )
        with pytest.raises(synth.QuotaExceeded):
            client.train(src, generator="dp_marginals", epsilon=0.5)


def test_a_source_names_its_owner_and_an_admins_listing_shows_whose_each_is(
    alice: Stubs, admin: Stubs, alice_source: sources_pb2.Source
) -> None:
    assert alice_source.owner == "alice"
    listed = admin.sources.ListSources(sources_pb2.ListSourcesRequest(page_size=100)).sources
    assert {s.name: s.owner for s in listed}[alice_source.name] == "alice"
