"""Hostile requests: numbers past what the arithmetic holds, texts of megabytes, pages
that would pass the message limit, and statuses the SDK must not mistake.

Every refusal is INVALID_ARGUMENT (never INTERNAL), quotes no oversized input,
creates no job and moves no budget; health and ListSources keep answering.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest

import synth
from synth.client.errors import from_rpc_error
from synth.server import RunningServer
from synth.v1 import (
    datasets_pb2,
    evaluations_pb2,
    evaluations_pb2_grpc,
    jobs_pb2,
    models_pb2,
    schema_pb2,
    sources_pb2,
)
from tests.service.fixtures import distinct_csv
from tests.service.hostile import (
    assert_nothing_stored,
    connect,
    honest_calls_answer,
    hostile_server,
)
from tests.service.stubs import Stubs

MB = 1 << 20


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = hostile_server(tmp_path_factory.mktemp("hostile") / "data")
    yield server
    server.stop(grace=0)


@pytest.fixture(scope="module")
def source(running: RunningServer, adult: pa.Table) -> sources_pb2.Source:
    return connect(running).register_approved("target", distinct_csv(adult, 0, rows=400), epsilon=3.0)


def _refusal(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call()  # type: ignore[operator]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value
    assert len(err.value.details()) < 600  # no oversized input echoed
    return err.value


def _no_job_and_no_spend(stubs: Stubs, source: sources_pb2.Source) -> None:
    assert list(stubs.jobs.ListJobs(jobs_pb2.ListJobsRequest()).jobs) == []
    budget = stubs.budget(source.name)
    assert budget.spent.epsilon == 0 and not budget.entries


TRAIN = {
    "epsilon 1e300": {"epsilon": 1e300},
    "epsilon inf": {"epsilon": math.inf},
    "epsilon nan": {"epsilon": math.nan},
    "epsilon negative": {"epsilon": -1.0},
    "delta 2": {"delta": 2.0},
    "delta nan": {"delta": math.nan},
    "idempotency key of 7 MiB": {"idempotency_key": "k" * (7 * MB)},
    "display name of 1 MiB": {"display_name": "d" * MB},
    "generator name of 1 MiB": {"generator": "g" * MB},
}


@pytest.mark.parametrize("case", sorted(TRAIN))
def test_train_refuses_what_overflows_or_overflows_a_page(
    case: str, running: RunningServer, source: sources_pb2.Source
) -> None:
    stubs = connect(running)
    fields = {"source": source.name, "generator": "dp_marginals", "epsilon": 1.0, **TRAIN[case]}
    err = _refusal(lambda: stubs.models.Train(models_pb2.TrainRequest(**fields), timeout=30))
    assert "k" * 200 not in err.details()
    _no_job_and_no_spend(stubs, source)
    honest_calls_answer(running)


OTHER = {
    "generate seed -1": lambda s: s.datasets.Generate(
        datasets_pb2.GenerateRequest(model="models/m-0", rows=10, seed=-1), timeout=30
    ),
    "generate key of 7 MiB": lambda s: s.datasets.Generate(
        datasets_pb2.GenerateRequest(model="models/m-0", rows=10, idempotency_key="k" * (7 * MB)),
        timeout=30,
    ),
    "evaluate seed -1": lambda s: s_evaluate(s, seed=-1),
    "evaluate target of 1 MiB": lambda s: s_evaluate(s, target="t" * MB),
    "list page size -1": lambda s: s.sources.ListSources(sources_pb2.ListSourcesRequest(page_size=-1)),
    "name of 5,000 characters": lambda s: s.sources.GetSource(
        sources_pb2.GetSourceRequest(name="sources/" + "a" * 5000)
    ),
    "registration epsilon 1e300": lambda s: s.register("huge", b"a,b\n1,2\n3,4\n5,6\n", epsilon=1e300),
}


def s_evaluate(s: Stubs, **kw: object) -> object:
    stub = evaluations_pb2_grpc.EvaluationServiceStub(s.channel)
    return stub.Evaluate(evaluations_pb2.EvaluateRequest(dataset="datasets/d-0", **kw), timeout=30)


@pytest.mark.parametrize("case", sorted(OTHER))
def test_other_numbers_and_texts_are_refused_as_invalid_argument(
    case: str, running: RunningServer, source: sources_pb2.Source
) -> None:
    stubs = connect(running)
    err = _refusal(lambda: OTHER[case](stubs))
    assert "a" * 200 not in err.details() and "t" * 200 not in err.details()
    _no_job_and_no_spend(stubs, source)
    honest_calls_answer(running)


def test_a_page_stops_before_the_message_limit(tmp_path: Path) -> None:
    """Eight sources of 1,500 columns with 250-character names: about 10 MB of list at
    the default page size, past the 8 MiB message limit. Pages stop at their byte
    budget and the token continues from there."""
    server = hostile_server(tmp_path / "data")
    try:
        stubs = connect(server)
        for i in range(8):
            names = [f"s{i}-{j:04d}-" + "w" * 240 for j in range(1500)]
            rows = "\n".join(",".join(str((r + j) % 7) for j in range(1500)) for r in range(10))
            stubs.register(f"wide-{i}", (",".join(names) + "\n" + rows + "\n").encode())
        seen: list[str] = []
        token = ""
        pages = 0
        while True:
            page = stubs.sources.ListSources(
                sources_pb2.ListSourcesRequest(page_token=token), timeout=60
            )
            assert page.ByteSize() < 4 * MB
            seen += [s.name for s in page.sources]
            pages += 1
            token = page.next_page_token
            if not token:
                break
        assert seen == [f"sources/wide-{i}" for i in range(8)]
        assert pages > 1
        honest_calls_answer(server)
    finally:
        server.stop(grace=0)


def test_a_message_size_refusal_is_no_budget_error(running: RunningServer, source: sources_pb2.Source) -> None:
    """gRPC's own RESOURCE_EXHAUSTED (a message past 8 MiB) carries no synth reason: the
    SDK raises ResourceLimit, never BudgetExhausted (it did)."""
    stubs = connect(running)
    request = models_pb2.TrainRequest(source=source.name, display_name="x" * (9 * MB))
    with pytest.raises(grpc.RpcError) as err:
        stubs.models.Train(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    typed = from_rpc_error(err.value)
    assert isinstance(typed, synth.ResourceLimit) and not isinstance(typed, synth.BudgetExhausted)
    _no_job_and_no_spend(stubs, source)


@pytest.mark.parametrize("lower, upper", [(0.0, math.inf), (-1e308, 1e308), (-math.inf, 0.0)])
def test_a_declared_bound_past_what_arithmetic_holds_is_refused(
    lower: float, upper: float, running: RunningServer, source: sources_pb2.Source
) -> None:
    """[-1e308, 1e308] passed the schema's own check (lower below upper) though its width
    overflows to infinity in every generator's binning."""
    stubs = connect(running)
    schema = schema_pb2.TableSchema()
    schema.CopyFrom(source.schema)
    numeric = next(c for c in schema.columns if c.arrow_type.startswith("int"))
    numeric.lower, numeric.upper = lower, upper
    update = sources_pb2.UpdateSchemaRequest(name=source.name, schema=schema)
    err = _refusal(lambda: stubs.sources.UpdateSchema(update, timeout=30))
    assert "bound must be a finite number" in err.details()
    assert stubs.sources.GetSource(sources_pb2.GetSourceRequest(name=source.name)).schema_version == source.schema_version
    with pytest.raises(grpc.RpcError) as at_registration:
        stubs.register("declared-inf", b"a,b\n1,2\n3,4\n5,6\n", schema=schema)
    assert at_registration.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "bound must be a finite number" in at_registration.value.details()
    assert_nothing_stored(stubs, running.service.config.data_dir, "declared-inf")
    honest_calls_answer(running)


def test_numbers_the_attack_review_found_answer_invalid_argument_not_internal(
    running: RunningServer, source: sources_pb2.Source
) -> None:
    """Subnormal ε and δ (5e-324), a NaN hyper-parameter, an unknown job state and a page
    token past the database's integers each answered INTERNAL, or failed after the charge."""
    from google.protobuf import struct_pb2

    s = connect(running)
    before = s.budget(source.name)
    _refusal(lambda: s.train(source.name, epsilon=5e-324))
    _refusal(lambda: s.train(source.name, epsilon=0.01, delta=5e-324))
    _refusal(lambda: s.train(source.name, epsilon=1e-300, validate_only=True))
    nan = struct_pb2.Struct()
    nan.update({"bins": math.nan})
    _refusal(lambda: s.train(source.name, epsilon=1.0, params=nan))
    _refusal(lambda: s.jobs.ListJobs(jobs_pb2.ListJobsRequest(state=99)))  # type: ignore[arg-type]
    import base64

    huge = base64.urlsafe_b64encode(b"o:99999999999999999999").decode()
    _refusal(lambda: s.sources.ListSources(sources_pb2.ListSourcesRequest(page_token=huge)))
    _refusal(lambda: s.jobs.ListJobs(jobs_pb2.ListJobsRequest(page_token=huge)))
    assert s.budget(source.name) == before
