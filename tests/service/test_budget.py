"""The ledger: charged before a job runs, refused past the cap, every spend listed."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import struct_pb2

from synth.core.config import DEFAULT_SIZE_EPSILON as SIZE
from synth.v1 import jobs_pb2
from tests.service.stubs import Stubs, error_info, quota_failure


def test_training_is_charged_when_the_job_is_created(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv, epsilon=2.0)
    job = stubs.train(src.name, epsilon=1.5)
    # Charged in the same transaction that created the job: before any row is read.
    # The source's size (a DP count, measured once before its first training) too.
    charged = stubs.budget(src.name)
    assert charged.spent.epsilon == pytest.approx(1.5 + SIZE)
    assert {e.job for e in charged.entries} == {job.name, ""}
    assert [e.spend.purpose for e in charged.entries if not e.job] == ["size"]
    stubs.wait(job)


def test_a_spend_past_the_cap_is_refused_naming_what_remains(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv, epsilon=3.0, delta=1e-6)
    assert stubs.wait(stubs.train(src.name, epsilon=2.0)).state == jobs_pb2.SUCCEEDED
    before = stubs.budget(src.name)
    with pytest.raises(grpc.RpcError) as err:
        stubs.train(src.name, epsilon=1.5)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "has only ε=0.95," in err.value.details()
    info = error_info(err.value)
    assert info is not None and info.reason == "BUDGET_EXHAUSTED"
    assert float(info.metadata["remaining_epsilon"]) == pytest.approx(1.0 - SIZE)
    quota = quota_failure(err.value)
    assert quota is not None and [v.subject for v in quota.violations] == [src.name]
    assert quota.violations[0].description.startswith("privacy budget: requested ε=1.5,")
    assert "remaining ε=0.95," in quota.violations[0].description
    after = stubs.budget(src.name)
    assert after == before
    # What remains can still be spent.
    assert stubs.wait(stubs.train(src.name, epsilon=0.9)).state == jobs_pb2.SUCCEEDED
    final = stubs.budget(src.name)
    assert final.spent.epsilon <= 3.0 + 1e-9
    assert len({e.job for e in final.entries if e.job}) == 2


def test_refused_trainings_spend_nothing(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv)
    bad = [
        dict(generator="no-such-generator"),
        dict(epsilon=-1.0),
        dict(delta=2.0),
        dict(params=struct_pb2.Struct(fields={"epsilon": struct_pb2.Value(number_value=3)})),
        dict(params=struct_pb2.Struct(fields={"no_such_option": struct_pb2.Value(number_value=3)})),
    ]
    for kw in bad:
        eps = kw.pop("epsilon", 1.0)
        with pytest.raises(grpc.RpcError) as err:
            stubs.train(src.name, epsilon=eps, **kw)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (kw, err.value.details())
    with pytest.raises(grpc.RpcError) as err:
        stubs.train(src.name, epsilon=None)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "allowing non-private models" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stubs.train("sources/nope", epsilon=1.0)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert list(stubs.budget(src.name).entries) == []
    assert stubs.budget(src.name).spent.epsilon == 0


def test_default_delta_leaves_room_for_the_rest_of_the_budget(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv, epsilon=3.0, delta=1e-6)
    for _ in range(3):  # 0.95 each: the source's size took 0.05
        assert stubs.wait(stubs.train(src.name, epsilon=0.95)).state == jobs_pb2.SUCCEEDED
    b = stubs.budget(src.name)
    assert b.spent.delta <= 1e-6 and b.spent.epsilon <= 3.0 + 1e-9
