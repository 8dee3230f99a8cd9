"""Ten clients at once: the store stays consistent and the cap is never passed."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pyarrow as pa
import pytest

from synth.core.config import DEFAULT_SIZE_EPSILON as SIZE
from synth.server import RunningServer
from synth.v1 import jobs_pb2, sources_pb2
from tests.service.fixtures import admin_token, distinct_csv, token_for
from tests.service.stubs import Stubs


def _register_retrying(s: Stubs, source_id: str, data: bytes) -> sources_pb2.Source:
    """Register as a well-behaved client does: the server takes 8 uploads at once and
    asks the ninth and tenth to retry in a moment."""
    for _ in range(100):
        try:
            return s.register_approved(source_id, data, epsilon=2.0)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or "uploads at once" not in err.details():
                raise
            time.sleep(0.2)
    raise AssertionError("no upload slot in 20 s")


def test_ten_clients_register_and_train_at_once(fresh_server: RunningServer, adult: pa.Table) -> None:
    def client(i: int) -> tuple[str, int]:
        # Ten callers, each an owner of their own (one caller's uploads are capped).
        s = Stubs.connect(fresh_server, token_for(fresh_server, f"owner-{i}", "owner"))
        try:
            src = _register_retrying(s, f"client-{i}", distinct_csv(adult, i))
            done = s.wait(s.train(src.name, epsilon=1.0))
            return src.name, done.state
        finally:
            s.channel.close()

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(client, range(10)))
    assert sorted(n for n, _ in results) == sorted(f"sources/client-{i}" for i in range(10))
    assert all(state == jobs_pb2.SUCCEEDED for _, state in results)
    s = Stubs.connect(fresh_server, admin_token(fresh_server))  # an admin sees every owner's
    listed = s.sources.ListSources(sources_pb2.ListSourcesRequest(page_size=100)).sources
    assert len(listed) == 10
    for src in listed:
        b = s.budget(src.name)
        assert b.spent.epsilon == pytest.approx(1.0 + SIZE)
        assert len({e.job for e in b.entries if e.job}) == 1


def test_concurrent_trainings_never_pass_the_cap(fresh_server: RunningServer, adult_small_csv: bytes) -> None:
    s = Stubs.connect(fresh_server)
    src = s.register_approved("shared", adult_small_csv, epsilon=5.0, delta=1e-6)

    def client(_: int) -> str:
        c = Stubs.connect(fresh_server)
        try:
            c.train(src.name, epsilon=1.0, delta=1e-7)
            return "ok"
        except grpc.RpcError as err:
            return err.code().name
        finally:
            c.channel.close()

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(client, range(10)))
    # The size (measured once, by whichever came first) leaves room for four.
    assert outcomes.count("ok") == 4
    assert outcomes.count("RESOURCE_EXHAUSTED") == 6
    b = s.budget(src.name)
    assert b.spent.epsilon == pytest.approx(4.0 + SIZE) and b.spent.epsilon <= 5.0 * (1 + 1e-9)
    assert [e.spend.purpose for e in b.entries].count("size") == 1
