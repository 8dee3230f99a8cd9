"""A training the generator can tell is hopeless from public facts is refused at Train:
the right status, nothing on the ledger, no job.

Each of these used to be accepted, charged, and then fail in the job after
the rows were read (issue 11, item 8).
"""

from __future__ import annotations

import grpc
import pytest
import torch
from google.protobuf import struct_pb2

from synth.v1 import jobs_pb2, sources_pb2
from tests.service.stubs import Stubs


def _params(**kw: float | str) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(kw)
    return s


def _refused(stubs: Stubs, src: sources_pb2.Source, code: grpc.StatusCode, match: str, **kw: object) -> None:
    with pytest.raises(grpc.RpcError) as err:
        stubs.train(src.name, **kw)
    assert err.value.code() == code, err.value.details()
    assert match in err.value.details()
    budget = stubs.budget(src.name)
    assert list(budget.entries) == [] and budget.spent.epsilon == 0 and budget.spent.delta == 0
    jobs = stubs.jobs.ListJobs(jobs_pb2.ListJobsRequest(target=src.name)).jobs
    assert list(jobs) == []


def test_dpctgan_with_a_target_no_noise_reaches_is_refused_uncharged(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv)
    _refused(stubs, src, grpc.StatusCode.FAILED_PRECONDITION, "cannot train within",
             generator="dpctgan", epsilon=0.02, params=_params(epochs=20, device="cpu"))


def test_aim_with_too_few_rounds_is_refused_uncharged(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv)
    _refused(stubs, src, grpc.StatusCode.FAILED_PRECONDITION, "too few for 15 modelled columns",
             generator="aim", epsilon=1.0, params=_params(rounds=2))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a server without CUDA")
def test_dpctgan_on_a_gpu_the_server_lacks_is_refused_uncharged(stubs: Stubs, adult_small_csv: bytes) -> None:
    src = stubs.register_approved("adult", adult_small_csv)
    _refused(stubs, src, grpc.StatusCode.INVALID_ARGUMENT, "no CUDA device",
             generator="dpctgan", epsilon=1.0, params=_params(device="cuda"))
