"""A dry run for every job (AIP-163 `validate_only`), and the bounds checked before any charge.

Train, Generate and Evaluate with `validate_only` answer with the job they
would create (unnamed, no state) and its plan: the generator "auto" picks
and why, the ledger charges, the memory and time estimates. Nothing is
charged, created or written. Out-of-range hyper-parameters and estimates
past the server's limits are refused before the charge, dry run or not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import synth
from synth.cli import main
from synth.client import Client
from synth.core.config import ServiceConfig
from synth.server import RunningServer, start_server
from synth.v1 import jobs_pb2, models_pb2
from tests.service.fixtures import connect, csv_bytes, register_approved


@pytest.fixture(scope="module")
def source(client: Client, adult: pa.Table) -> synth.Source:
    return register_approved(
        client, "plans", csv_bytes(adult.slice(0, 3000)), budget=synth.Budget(epsilon=3.0)
    )


def _state(client: Client, src: synth.Source) -> tuple[int, int, float]:
    """What a dry run must not change: the jobs, the ledger's entries and the spend."""
    budget = client.budget(src)
    return len(client.list_jobs()), len(budget.entries), budget.spent.epsilon


def test_a_training_plan_names_the_generator_the_charges_and_the_estimates(
    client: Client, source: synth.Source
) -> None:
    before = _state(client, source)
    plan = client.plan_training(source, generator="auto", epsilon=1.0)
    assert plan.generator in {"aim", "dpctgan", "dp_marginals"}
    assert plan.generator_reason.startswith("auto: ")
    assert plan.charges and plan.epsilon is not None
    assert sum(c.epsilon for c in plan.charges) == pytest.approx(plan.epsilon)
    assert plan.epsilon >= 1.0 * (1 - 1e-9)  # the training's ε (and any charge of the source)
    assert 0 < plan.delta < 1 / 2400  # below 1/n of the train part
    assert 0 < plan.memory_mb < plan.memory_limit_mb
    assert 0 < plan.seconds < plan.seconds_limit
    assert "rows" in plan.basis
    assert "generator" in str(plan) and "memory" in str(plan)
    assert _state(client, source) == before


def test_a_named_generator_is_planned_as_asked(client: Client, source: synth.Source) -> None:
    plan = client.plan_training(source, generator="dpctgan", epsilon=1.0, epochs=2)
    assert plan.generator == "dpctgan" and plan.generator_reason == "asked for by the request"
    assert "network parameters" in plan.basis
    bigger = client.plan_training(
        source, generator="dpctgan", epsilon=1.0, epochs=2, batch_size=4000
    )
    assert bigger.memory_mb > plan.memory_mb


def test_the_wire_answer_is_the_job_that_would_be_made(
    client: Client, source: synth.Source
) -> None:
    request = models_pb2.TrainRequest(
        source=source.name, generator="dp_marginals", epsilon=0.5, validate_only=True
    )
    job = client._call(client._stubs.models.Train, request)  # the raw message
    assert job.name == "" and job.state == jobs_pb2.JOB_STATE_UNSPECIFIED
    assert job.kind == jobs_pb2.TRAIN and job.target == source.name
    assert job.HasField("plan") and job.plan.generator == "dp_marginals"
    assert job.plan.HasField("epsilon") and job.plan.epsilon >= 0.5 * (1 - 1e-9)


def test_a_plan_is_refused_as_the_training_would_be(client: Client, source: synth.Source) -> None:
    before = _state(client, source)
    with pytest.raises(synth.BudgetExhausted):
        client.plan_training(source, generator="dp_marginals", epsilon=5.0)
    with pytest.raises(synth.InvalidArgument, match=r"n_modes must be an integer in \[1, 100\]"):
        client.plan_training(source, generator="dpctgan", epsilon=1.0, n_modes=10**9)
    assert _state(client, source) == before


@pytest.mark.parametrize(
    ("param", "value", "shown"),
    [
        ("n_modes", 10**9, "1000000000"),
        ("batch_size", 10**9, "1000000000"),
        ("epochs", 10**9, "1000000000"),
    ],
)
def test_out_of_range_hyperparameters_are_refused_before_the_charge(
    client: Client, source: synth.Source, param: str, value: int, shown: str
) -> None:
    before = _state(client, source)
    with pytest.raises(synth.InvalidArgument) as info:
        client.train(source, generator="dpctgan", epsilon=1.0, **{param: value})
    assert param in str(info.value) and shown in str(info.value) and "[" in str(info.value)
    assert _state(client, source) == before


def test_every_job_carries_its_plan_and_generation_and_evaluation_plan_too(
    client: Client, source: synth.Source, adult: pa.Table
) -> None:
    src = register_approved(
        client, "plans-run", csv_bytes(adult.slice(3000, 3000)), budget=synth.Budget(epsilon=3.0)
    )
    handle = client.train(src, generator="dp_marginals", epsilon=0.5)
    model = handle.result(timeout=120)
    job = client._call(  # the wire message: the SDK's Job has no plan field
        client._stubs.jobs.GetJob, jobs_pb2.GetJobRequest(name=handle.name)
    )
    assert job.plan.generator == "dp_marginals" and job.plan.memory_mb > 0

    jobs_before = len(client.list_jobs())
    gen_plan = client.plan_generation(model, rows=1_000_000)
    assert gen_plan.memory_mb > 0 and gen_plan.seconds > 0 and "1,000,000 rows" in gen_plan.basis
    small = client.plan_generation(model, rows=1_000)
    assert small.seconds < gen_plan.seconds
    assert len(client.list_jobs()) == jobs_before and not client.list_datasets(parent=model)

    dataset = client.generate(model, rows=2_000, seed=1).result(timeout=120)
    jobs_before = len(client.list_jobs())
    ev_plan = client.plan_evaluation(dataset, target="income")
    assert ev_plan.memory_mb > 0 and "2,000 synthetic" in ev_plan.basis
    assert len(client.list_jobs()) == jobs_before and not client.list_evaluations(parent=dataset)


# ---- a server with small limits: estimates past them are refused before the charge ----


@pytest.fixture(scope="module")
def tight_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("synth-tight")
    config = ServiceConfig(data_dir=folder, max_job_memory_mb=900, max_job_seconds=60)
    with start_server(folder, port=0, config=config) as running:
        yield running


def test_a_job_past_the_limits_is_refused_naming_estimate_limit_and_what_to_lower(
    tight_server: RunningServer, adult: pa.Table
) -> None:
    with connect(tight_server) as client:
        src = register_approved(
            client, "tight", csv_bytes(adult.slice(0, 3000)), budget=synth.Budget(epsilon=3.0)
        )
        ledger_before = client.budget(src).entries
        for call in (client.train, client.plan_training):
            with pytest.raises(synth.ResourceLimit) as info:
                call(
                    src,
                    generator="dpctgan",
                    epsilon=1.0,
                    batch_size=20_000,
                    discriminator_dim=[4096, 4096],
                )
            msg = str(info.value)
            assert "MiB" in msg and "900 MiB" in msg and "batch_size" in msg
        with pytest.raises(
            synth.ResourceLimit, match=r"would take about .* over this server.s limit"
        ):
            client.train(src, generator="dpctgan", epsilon=1.0, epochs=1000)
        assert not client.list_jobs()
        assert client.budget(src).entries == ledger_before

        model = client.train(src, generator="dp_marginals", epsilon=0.5).result(timeout=120)
        with pytest.raises(synth.ResourceLimit, match="generating 200,000,000 rows"):
            client.generate(model, rows=200_000_000)
        assert len(client.list_jobs()) == 1


def test_synth_train_plan_prints_the_plan_and_starts_nothing(
    capsys: pytest.CaptureFixture[str],
    server: RunningServer,
    client: Client,
    source: synth.Source,
) -> None:
    before = _state(client, source)
    code = main(
        [
            "train",
            source.name,
            "--epsilon",
            "1",
            "--generator",
            "dp_marginals",
            "--plan",
            "--server",
            server.address,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "dp_marginals" in out and "charge" in out and "MiB" in out
    code = main(
        [
            "train",
            source.name,
            "--epsilon",
            "1",
            "--plan",
            "--json",
            "-q",
            "--server",
            server.address,
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["generator"] and doc["charges"] and doc["memory_mb"] > 0
    assert _state(client, source) == before


def test_synth_generate_and_evaluate_plan_print_estimates_and_start_nothing(
    capsys: pytest.CaptureFixture[str], server: RunningServer, client: Client, adult: pa.Table
) -> None:
    src = register_approved(
        client, "plans-cli", csv_bytes(adult.slice(6000, 2000)), budget=synth.Budget(epsilon=3.0)
    )
    model = client.train(src, generator="dp_marginals", epsilon=0.5).result(timeout=120)
    dataset = client.generate(model, rows=500, seed=2).result(timeout=120)
    jobs = len(client.list_jobs())
    for argv in (
        ["generate", model.name, "--rows", "1000000", "--plan"],
        ["evaluate", dataset.name, "--target", "income", "--plan"],
    ):
        code = main([*argv, "--json", "-q", "--server", server.address])
        out, err = capsys.readouterr()
        assert code == 0, err
        doc = json.loads(out)
        assert doc["memory_mb"] > 0 and doc["seconds"] > 0 and doc["basis"]
    assert len(client.list_jobs()) == jobs
    assert len(client.list_datasets(parent=model)) == 1 and not client.list_evaluations(
        parent=dataset
    )


def test_a_plan_round_trips_through_its_stored_form() -> None:
    """The plan's pieces are plain data: a JobPlan round-trips through its stored form."""
    from synth.base.spend import Spend
    from synth.jobs.plan import JobPlan

    plan = JobPlan(1.0, 2.0, 3.0, 4.0, "b", "aim", "why", (Spend("x", 0.5, 1e-7, "m"),), 0.5, 1e-7)
    assert JobPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


# ---- the formulas themselves (no server) ----------------------------------------------


def test_the_estimates_grow_with_what_a_request_asks(adult: pa.Table) -> None:
    from synth.base.inference import infer_schema
    from synth.core import estimates

    schema = infer_schema(adult)
    base = estimates.training("dpctgan", {}, schema, 30_000)
    assert estimates.training("dpctgan", {"batch_size": 5_000}, schema, 30_000).memory_mb > (
        base.memory_mb
    )
    assert estimates.training("dpctgan", {"epochs": 200}, schema, 30_000).seconds > base.seconds
    assert estimates.training("dpctgan", {"n_modes": 100}, schema, 30_000).memory_mb > (
        base.memory_mb
    )
    small = estimates.generation("dp_marginals", 15, 100_000, 1_000)
    assert estimates.generation("dp_marginals", 15, 100_000, 10**8).seconds > small.seconds


def test_the_issues_one_million_row_evaluation_is_refused_at_the_default_limit(
    tmp_path: Path,
) -> None:
    """One evaluation of 1M rows took the server past 23 GB (issue 12)."""
    from synth.core import estimates

    config = ServiceConfig(data_dir=tmp_path)
    estimate = estimates.evaluation(15, 1_000_000, 26_049, 6_512)
    with pytest.raises(synth.ResourceLimit, match="over this server's limit of 16,384 MiB"):
        estimates.check(estimate, config, "evaluating 1,000,000 synthetic rows")
    estimates.check(estimates.evaluation(15, 32_561, 26_049, 6_512), config, "adult")


def test_a_process_is_capped_near_its_estimate_never_above_the_limit(tmp_path: Path) -> None:
    from synth.core.estimates import memory_cap_mb

    config = ServiceConfig(data_dir=tmp_path, max_job_memory_mb=8_000)
    assert memory_cap_mb(300, config) == 2_348  # 2 GiB of headroom
    assert memory_cap_mb(2_000, config) == 6_000  # three times the estimate
    assert memory_cap_mb(7_000, config) == 8_000  # never above the limit
    assert memory_cap_mb(None, config) == 8_000  # a job from before plans


def test_the_sdks_job_carries_its_plan(client: Client, source: synth.Source) -> None:
    """A real job's plan is on the SDK's Job too: what it was planned to charge and take."""
    handle = client.train(source, generator="dp_marginals", epsilon=0.5)
    job = client.get_job(handle.name)
    assert isinstance(job.plan, synth.JobPlan)
    assert job.plan.generator == "dp_marginals"
    assert {c.purpose for c in job.plan.charges} >= {"marginals"}
    handle.result()
