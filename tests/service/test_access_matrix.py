"""Who may do what (issue 12): every RPC × every kind of caller → the status observed.

The matrix is observed, compared to the rules below (`EXPECTED`) and to the
committed table in docs/access-matrix.md, which is rendered from it: the doc
cannot drift from the tests. `SYNTH_WRITE_ACCESS_MATRIX=1 pytest
tests/service/test_access_matrix.py` rewrites the doc (and the observed
matrix goes to access-matrix.json in the test's temporary folder either way).

Nothing may leak in any cell: every refusal of a caller who is not an admin
reads exactly like the same call on an absent id (same status, same message
once the ids are swapped, same error reason), and a list never shows
another owner's resource.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pyarrow as pa
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from synth.core.config import ServiceConfig
from synth.server import RunningServer, start_server
from synth.v1 import (
    datasets_pb2,
    datasets_pb2_grpc,
    evaluations_pb2,
    evaluations_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    releases_pb2,
    releases_pb2_grpc,
    sources_pb2,
    sources_pb2_grpc,
)
from tests.service.fixtures import csv_bytes
from tests.service.stubs import _Bearer, upload

DOC = Path(__file__).resolve().parents[2] / "docs" / "access-matrix.md"

#: The columns: how the caller authenticates, and who they are.
CALLERS = (
    "no token",
    "revoked token",
    "malformed token",
    "admin",
    "owner",
    "another owner",
    "reviewer",
    "reader",
)
UNAUTH = ("no token", "revoked token", "malformed token")
#: Absent ids of each kind, for the "reads like an absent id" check.
ABSENT = {
    "source": "sources/zz-absent",
    "model": "models/m-000000000000",
    "dataset": "datasets/d-000000000000",
    "evaluation": "evaluations/e-000000000000",
    "job": "jobs/j-000000000000",
}


@dataclass
class Channels:
    stubs: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        return self.stubs[name]


def stubs_for(address: str, token: str | None) -> Channels:
    ch = grpc.insecure_channel(address)
    if token is not None:
        ch = grpc.intercept_channel(ch, _Bearer(token))
    return Channels(
        {
            "channel": ch,
            "sources": sources_pb2_grpc.SourceServiceStub(ch),
            "models": models_pb2_grpc.ModelServiceStub(ch),
            "datasets": datasets_pb2_grpc.DatasetServiceStub(ch),
            "jobs": jobs_pb2_grpc.JobServiceStub(ch),
            "evaluations": evaluations_pb2_grpc.EvaluationServiceStub(ch),
            "releases": releases_pb2_grpc.ReleaseServiceStub(ch),
            "health": health_pb2_grpc.HealthStub(ch),
            "reflection": reflection_pb2_grpc.ServerReflectionStub(ch),
        }
    )


def tiny_table(i: int) -> bytes:
    """A small table of its own for each `i` (the same rows twice are refused)."""
    n = 40
    return csv_bytes(
        pa.table(
            {
                "a": [i * 1000 + k for k in range(n)],
                "b": [["x", "y", "z"][k % 3] for k in range(n)],
            }
        )
    )


@dataclass
class World:
    server: RunningServer
    callers: dict[str, Channels]
    alice: Channels
    ids: dict[str, str]
    schema: Any
    counter: Iterator[int]


def _counter() -> Iterator[int]:
    i = 0
    while True:
        i += 1
        yield i


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, adult: pa.Table) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("access")
    running = start_server(folder, port=0, config=ServiceConfig(data_dir=folder))
    tokens = running.service.stores.tokens
    made = {
        "admin": tokens.create("root", "admin")[1],
        "owner": tokens.create("alice", "owner")[1],
        "another owner": tokens.create("bob", "owner")[1],
        "reviewer": tokens.create("rita", "reviewer")[1],
        "reader": tokens.create("rex", "reader")[1],
    }
    revoked_record, revoked = tokens.create("alice", "owner")
    tokens.revoke(revoked_record.id)
    made["revoked token"] = revoked
    # Well-formed in shape, but no such token; and one that is not a token at all.
    made["malformed token"] = "synth_not-a-token"
    callers = {
        c: stubs_for(running.address, None if c == "no token" else made[c]) for c in CALLERS
    }
    alice = callers["owner"]
    src = alice.sources.RegisterSource(
        upload("alice-src", csv_bytes(adult.slice(0, 3000)), epsilon=8.0, delta=1e-6),
        timeout=60,
    )
    src = alice.sources.ApproveSchema(
        sources_pb2.ApproveSchemaRequest(name=src.name, schema_version=src.schema_version)
    )
    train = alice.models.Train(
        models_pb2.TrainRequest(source=src.name, generator="dp_marginals", epsilon=1.0)
    )
    train = _wait(alice, train)
    assert train.state == jobs_pb2.SUCCEEDED, train
    gen = _wait(
        alice, alice.datasets.Generate(datasets_pb2.GenerateRequest(model=train.result, rows=300))
    )
    ev = _wait(
        alice,
        alice.evaluations.Evaluate(
            evaluations_pb2.EvaluateRequest(dataset=gen.result, metrics=["fidelity"])
        ),
    )
    assert ev.state == jobs_pb2.SUCCEEDED, ev
    ids = {
        "source": src.name,
        "model": train.result,
        "dataset": gen.result,
        "evaluation": ev.result,
        "job": train.name,
    }
    yield World(running, callers, alice, ids, src.schema, _counter())
    for c in callers.values():
        c.channel.close()
    running.stop(grace=0)


def _wait(s: Channels, job: jobs_pb2.Job) -> jobs_pb2.Job:
    last = job
    for snapshot in s.jobs.WatchJob(jobs_pb2.WatchJobRequest(name=job.name), timeout=180):
        last = snapshot
    return last


# ---- one call per RPC: (world, stubs, ids) -> a short description of what came back ----

Call = Callable[[World, Channels, dict[str, str]], str]


def _listed(names: list[str], wanted: str) -> str:
    return "OK" if wanted in names else "OK, hidden"


def _register(w: World, s: Channels, ids: dict[str, str]) -> str:
    i = next(w.counter)
    s.sources.RegisterSource(upload(f"reg-{i}", tiny_table(i), epsilon=1.0, delta=1e-6))
    return "OK"


def _delete(w: World, s: Channels, ids: dict[str, str]) -> str:
    name = ids["source"]
    if name != ABSENT["source"]:  # a disposable source of the owner's for each cell
        i = next(w.counter)
        name = w.alice.sources.RegisterSource(
            upload(f"del-{i}", tiny_table(i), epsilon=1.0, delta=1e-6)
        ).name
        ids["source"] = name
    s.sources.DeleteSource(sources_pb2.DeleteSourceRequest(name=name))
    return "OK"


def _approve(w: World, s: Channels, ids: dict[str, str]) -> str:
    version = w.callers["admin"].sources.GetSource(
        sources_pb2.GetSourceRequest(name=w.ids["source"])
    ).schema_version
    s.sources.ApproveSchema(
        sources_pb2.ApproveSchemaRequest(name=ids["source"], schema_version=version)
    )
    return "OK"


def _drain(stream: Any) -> str:
    for _ in stream:
        pass
    return "OK"


def _reflection(w: World, s: Channels, ids: dict[str, str]) -> str:
    req = reflection_pb2.ServerReflectionRequest(list_services="")
    for _ in s.reflection.ServerReflectionInfo(iter([req]), timeout=30):
        pass
    return "OK"


RPCS: dict[str, tuple[Call, tuple[str, ...]]] = {
    # name: (call, the id kinds it names)
    "SourceService.RegisterSource": (_register, ()),
    "SourceService.GetSource": (
        lambda w, s, ids: s.sources.GetSource(sources_pb2.GetSourceRequest(name=ids["source"]))
        and "OK",
        ("source",),
    ),
    "SourceService.ListSources": (
        lambda w, s, ids: _listed(
            [x.name for x in s.sources.ListSources(sources_pb2.ListSourcesRequest()).sources],
            ids["source"],
        ),
        (),
    ),
    "SourceService.UpdateSchema": (
        lambda w, s, ids: s.sources.UpdateSchema(
            sources_pb2.UpdateSchemaRequest(name=ids["source"], schema=w.schema, approve=True)
        )
        and "OK",
        ("source",),
    ),
    "SourceService.ApproveSchema": (_approve, ("source",)),
    "SourceService.GetBudget": (
        lambda w, s, ids: s.sources.GetBudget(sources_pb2.GetBudgetRequest(name=ids["source"]))
        and "OK",
        ("source",),
    ),
    "SourceService.DeleteSource": (_delete, ("source",)),
    "ModelService.Train": (
        lambda w, s, ids: s.models.Train(
            models_pb2.TrainRequest(source=ids["source"], generator="dp_marginals", epsilon=0.05)
        )
        and "OK",
        ("source",),
    ),
    "ModelService.GetModel": (
        lambda w, s, ids: s.models.GetModel(models_pb2.GetModelRequest(name=ids["model"]))
        and "OK",
        ("model",),
    ),
    "ModelService.ListModels": (
        lambda w, s, ids: _listed(
            [m.name for m in s.models.ListModels(models_pb2.ListModelsRequest()).models],
            ids["model"],
        ),
        (),
    ),
    "DatasetService.Generate": (
        lambda w, s, ids: s.datasets.Generate(
            datasets_pb2.GenerateRequest(model=ids["model"], rows=20)
        )
        and "OK",
        ("model",),
    ),
    "DatasetService.GetDataset": (
        lambda w, s, ids: s.datasets.GetDataset(datasets_pb2.GetDatasetRequest(name=ids["dataset"]))
        and "OK",
        ("dataset",),
    ),
    "DatasetService.ListDatasets": (
        lambda w, s, ids: _listed(
            [d.name for d in s.datasets.ListDatasets(datasets_pb2.ListDatasetsRequest()).datasets],
            ids["dataset"],
        ),
        (),
    ),
    "DatasetService.DownloadDataset": (
        lambda w, s, ids: _drain(
            s.datasets.DownloadDataset(datasets_pb2.DownloadDatasetRequest(name=ids["dataset"]))
        ),
        ("dataset",),
    ),
    "JobService.GetJob": (
        lambda w, s, ids: s.jobs.GetJob(jobs_pb2.GetJobRequest(name=ids["job"])) and "OK",
        ("job",),
    ),
    "JobService.ListJobs": (
        lambda w, s, ids: _listed(
            [j.name for j in s.jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=1000)).jobs],
            ids["job"],
        ),
        (),
    ),
    "JobService.WatchJob": (
        lambda w, s, ids: _drain(s.jobs.WatchJob(jobs_pb2.WatchJobRequest(name=ids["job"]))),
        ("job",),
    ),
    "JobService.CancelJob": (
        lambda w, s, ids: s.jobs.CancelJob(jobs_pb2.CancelJobRequest(name=ids["job"])) and "OK",
        ("job",),
    ),
    "EvaluationService.Evaluate": (
        lambda w, s, ids: s.evaluations.Evaluate(
            evaluations_pb2.EvaluateRequest(dataset=ids["dataset"], metrics=["exact_matches"])
        )
        and "OK",
        ("dataset",),
    ),
    "EvaluationService.GetEvaluation": (
        lambda w, s, ids: s.evaluations.GetEvaluation(
            evaluations_pb2.GetEvaluationRequest(name=ids["evaluation"])
        )
        and "OK",
        ("evaluation",),
    ),
    "EvaluationService.ListEvaluations": (
        lambda w, s, ids: _listed(
            [
                e.name
                for e in s.evaluations.ListEvaluations(
                    evaluations_pb2.ListEvaluationsRequest()
                ).evaluations
            ],
            ids["evaluation"],
        ),
        (),
    ),
    "EvaluationService.DownloadReport": (
        lambda w, s, ids: _drain(
            s.evaluations.DownloadReport(
                evaluations_pb2.DownloadReportRequest(name=ids["evaluation"])
            )
        ),
        ("evaluation",),
    ),
    "ReleaseService.SetReleasePolicy": (
        lambda w, s, ids: s.releases.SetReleasePolicy(
            releases_pb2.SetReleasePolicyRequest(
                policy=releases_pb2.ReleasePolicy(source=ids["source"], max_epsilon=2.0)
            )
        )
        and "OK",
        ("source",),
    ),
    "ReleaseService.GetReleasePolicy": (
        lambda w, s, ids: s.releases.GetReleasePolicy(
            releases_pb2.GetReleasePolicyRequest(source=ids["source"])
        )
        and "OK",
        ("source",),
    ),
    "ReleaseService.EvaluatePolicy": (
        lambda w, s, ids: s.releases.EvaluatePolicy(
            releases_pb2.EvaluatePolicyRequest(name=ids["dataset"])
        )
        and "OK",
        ("dataset",),
    ),
    "Health.Check": (
        lambda w, s, ids: s.health.Check(health_pb2.HealthCheckRequest(), timeout=10) and "OK",
        (),
    ),
    "ServerReflection.ServerReflectionInfo": (_reflection, ()),
}


def _row(
    unauth: str = "UNAUTHENTICATED",
    admin: str = "OK",
    owner: str = "OK",
    other: str = "NOT_FOUND",
    reviewer: str = "NOT_FOUND",
    reader: str | None = None,
) -> dict[str, str]:
    return dict(
        zip(
            CALLERS,
            (unauth, unauth, unauth, admin, owner, other, reviewer, reader or reviewer),
            strict=True,
        )
    )


_WRITE = _row(reviewer="PERMISSION_DENIED")
_LIST = _row(other="OK, hidden", reviewer="OK, hidden")
EXPECTED: dict[str, dict[str, str]] = {
    "SourceService.RegisterSource": _row(other="OK", reviewer="PERMISSION_DENIED"),
    "SourceService.GetSource": _row(),
    "SourceService.ListSources": _LIST,
    "SourceService.UpdateSchema": _WRITE,
    "SourceService.ApproveSchema": _WRITE,
    "SourceService.GetBudget": _row(),
    "SourceService.DeleteSource": _WRITE,
    "ModelService.Train": _WRITE,
    "ModelService.GetModel": _row(),
    "ModelService.ListModels": _LIST,
    "DatasetService.Generate": _WRITE,
    "DatasetService.GetDataset": _row(),
    "DatasetService.ListDatasets": _LIST,
    "DatasetService.DownloadDataset": _row(),
    "JobService.GetJob": _row(),
    "JobService.ListJobs": _LIST,
    "JobService.WatchJob": _row(),
    "JobService.CancelJob": _WRITE,
    # Evaluations hold statistics of the real rows: the source owner's alone.
    "EvaluationService.Evaluate": _row(admin="PERMISSION_DENIED", reviewer="PERMISSION_DENIED"),
    "EvaluationService.GetEvaluation": _row(admin="NOT_FOUND"),
    "EvaluationService.ListEvaluations": _row(
        admin="OK, hidden", other="OK, hidden", reviewer="OK, hidden"
    ),
    "EvaluationService.DownloadReport": _row(admin="NOT_FOUND"),
    "ReleaseService.SetReleasePolicy": _WRITE,
    "ReleaseService.GetReleasePolicy": _row(),
    # A verdict shows evaluation scores: the source owner's alone, like evaluations.
    "ReleaseService.EvaluatePolicy": _row(admin="PERMISSION_DENIED", reviewer="PERMISSION_DENIED"),
    "Health.Check": _row(unauth="OK", other="OK", reviewer="OK"),
    "ServerReflection.ServerReflectionInfo": _row(other="OK", reviewer="OK"),
}


@dataclass(frozen=True)
class Outcome:
    status: str
    message: str = ""
    reason: str = ""


def attempt(call: Call, w: World, s: Channels, ids: dict[str, str]) -> Outcome:
    try:
        return Outcome(call(w, s, ids))
    except grpc.RpcError as err:
        reason = ""
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
        for d in status.details if status is not None else []:
            if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                d.Unpack(info)
                reason = info.reason
        return Outcome(err.code().name, err.details() or "", reason)


def _normalised(outcome: Outcome, ids: dict[str, str]) -> Outcome:
    message = outcome.message
    for kind, name in ids.items():
        message = message.replace(name, f"<{kind}>").replace(name.split("/")[-1], f"<{kind}>")
    return Outcome(outcome.status, message, outcome.reason)


def render(matrix: dict[str, dict[str, str]]) -> str:
    head = [
        "# Who may do what: the access matrix",
        "",
        "Generated from the tests: `tests/service/test_access_matrix.py` calls every RPC as",
        "every kind of caller against a real server and records the status it got; a test",
        "fails when this file and what the server does drift apart. Regenerate with",
        "`SYNTH_WRITE_ACCESS_MATRIX=1 pytest tests/service/test_access_matrix.py`.",
        "",
        "The resources are an owner's (\"owner\"): a source and the model, dataset,",
        "evaluation and job made from it. \"another owner\" has the owner role but not",
        "these resources. `OK, hidden`: the list answers, without the owner's resource.",
        "Every refusal a non-admin gets reads exactly like the same call on an id that",
        "does not exist (status, message and reason), so no cell tells whether a resource",
        "exists. Evaluations and their reports hold statistics of the real rows: they are",
        "the source owner's alone, an admin's included. See docs/security.md for roles",
        "and tokens.",
        "",
        "| RPC | " + " | ".join(CALLERS) + " |",
        "|---|" + "---|" * len(CALLERS),
    ]
    rows = [f"| {rpc} | " + " | ".join(matrix[rpc][c] for c in CALLERS) + " |" for rpc in matrix]
    return "\n".join(head + rows) + "\n"


def test_every_rpc_is_in_the_matrix() -> None:
    from synth.server.app import SERVICE_NAMES
    from synth.v1 import common_pb2

    pool = common_pb2.DESCRIPTOR.pool
    served = {
        f"{name.split('.')[-1]}.{m.name}"
        for name in SERVICE_NAMES
        for m in pool.FindServiceByName(name).methods
    }
    assert served <= set(RPCS), f"RPCs missing from the access matrix: {served - set(RPCS)}"


def test_the_access_matrix(world: World, tmp_path: Path) -> None:
    observed: dict[str, dict[str, str]] = {}
    leaks = []
    for rpc, (call, kinds) in RPCS.items():
        observed[rpc] = {}
        for caller in CALLERS:
            s = world.callers[caller]
            ids = dict(world.ids)
            got = attempt(call, world, s, ids)
            observed[rpc][caller] = got.status
            if got.status.startswith("OK") or caller == "admin" or not kinds:
                continue
            # The same call on absent ids must read the same: nothing says it exists.
            absent = {**world.ids, **{k: ABSENT[k] for k in kinds}}
            again = attempt(call, world, s, dict(absent))
            if _normalised(got, ids) != _normalised(again, absent):
                leaks.append((rpc, caller, got, again))
    (tmp_path / "access-matrix.json").write_text(json.dumps(observed, indent=1))
    if os.environ.get("SYNTH_WRITE_ACCESS_MATRIX"):
        DOC.write_text(render(observed))
    assert not leaks, leaks
    assert observed == EXPECTED
    assert DOC.read_text() == render(observed), (
        "docs/access-matrix.md is not what the tests observe; regenerate it with "
        "SYNTH_WRITE_ACCESS_MATRIX=1 pytest tests/service/test_access_matrix.py"
    )
