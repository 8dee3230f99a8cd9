"""The SDK turns every failed call back into the typed exception the server raised.

No server here: fake failed calls carry statuses built by hand and by the
server's own interceptor code, so the two ends are checked against each other.
"""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from hypothesis import given
from hypothesis import strategies as st

import synth.base.errors as E
from synth.client.errors import from_rpc_error, iter_translated, translated
from synth.client.handles import job_failure
from synth.client.resources import Job, JobError, JobKind, JobState
from synth.server.errors import to_status

DETAILS_KEY = "grpc-status-details-bin"


class FakeCall(grpc.RpcError, grpc.Call):
    """A failed call as grpc hands it to a client: code, details, trailing metadata."""

    def __init__(self, code: grpc.StatusCode, details: str, status: status_pb2.Status | None = None):
        self._code = code
        self._details = details
        self._trailing = ((DETAILS_KEY, status.SerializeToString()),) if status is not None else ()

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self):  # type: ignore[no-untyped-def]
        return self._trailing

    def initial_metadata(self):  # type: ignore[no-untyped-def]
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback) -> bool:  # type: ignore[no-untyped-def]
        return False


def _from_exception(exc: E.SynthError) -> FakeCall:
    status = to_status(exc)
    return FakeCall(grpc.StatusCode[exc.code], exc.message, status)


def _all_error_classes() -> list[type[E.SynthError]]:
    out: list[type[E.SynthError]] = [E.SynthError]
    todo = [E.SynthError]
    while todo:
        for sub in todo.pop().__subclasses__():
            out.append(sub)
            todo.append(sub)
    return out


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_survives_the_wire(cls: type[E.SynthError]) -> None:
    sent = cls(
        f"a {cls.__name__} happened",
        violations=[E.FieldViolation("columns.age.kind", "unknown kind")],
        metadata={"source": "sources/adult", "remaining_epsilon": "0.5"},
    )
    got = from_rpc_error(_from_exception(sent))
    # The root is sent as INTERNAL, like `Internal`; the SDK gives the more specific class.
    assert type(got) is (E.Internal if cls is E.SynthError else cls)
    assert got.message == sent.message
    assert got.metadata == sent.metadata
    assert E.FieldViolation("columns.age.kind", "unknown kind") in got.violations


def test_budget_exhausted_built_by_hand_keeps_metadata_and_quota() -> None:
    message = "training would spend ε=5 but only ε=2 is left"
    status = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message=message)
    info = error_details_pb2.ErrorInfo(
        reason="BUDGET_EXHAUSTED",
        domain="synth.dev",
        metadata={"remaining_epsilon": "2.0", "remaining_delta": "7e-06"},
    )
    status.details.add().Pack(info)
    quota = error_details_pb2.QuotaFailure(
        violations=[error_details_pb2.QuotaFailure.Violation(subject="sources/adult", description="ε cap")]
    )
    status.details.add().Pack(quota)
    got = from_rpc_error(FakeCall(grpc.StatusCode.RESOURCE_EXHAUSTED, message, status))
    assert isinstance(got, E.BudgetExhausted)
    assert not isinstance(got, E.ResourceLimit)
    assert got.metadata == {"remaining_epsilon": "2.0", "remaining_delta": "7e-06"}
    assert got.violations == [E.FieldViolation("sources/adult", "ε cap")]
    assert str(got) == message


def test_same_code_different_reason_gives_a_different_class() -> None:
    status = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message="too big")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason="RESOURCE_LIMIT", domain="synth.dev"))
    got = from_rpc_error(FakeCall(grpc.StatusCode.RESOURCE_EXHAUSTED, "too big", status))
    assert type(got) is E.ResourceLimit


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.NOT_FOUND, E.NotFound),
        (grpc.StatusCode.INVALID_ARGUMENT, E.InvalidArgument),
        (grpc.StatusCode.ALREADY_EXISTS, E.AlreadyExists),
        (grpc.StatusCode.FAILED_PRECONDITION, E.FailedPrecondition),
        (grpc.StatusCode.CANCELLED, E.Cancelled),
        (grpc.StatusCode.DEADLINE_EXCEEDED, E.DeadlineExceeded),
        (grpc.StatusCode.UNAVAILABLE, E.Unavailable),
        (grpc.StatusCode.INTERNAL, E.Internal),
        (grpc.StatusCode.UNKNOWN, E.SynthError),
        (grpc.StatusCode.UNIMPLEMENTED, E.SynthError),
    ],
)
def test_errors_without_details_map_by_code(code: grpc.StatusCode, cls: type[E.SynthError]) -> None:
    got = from_rpc_error(FakeCall(code, "plain failure"))
    assert type(got) is cls
    assert got.message == "plain failure"
    assert got.violations == [] and got.metadata == {}


def test_unavailable_names_the_address() -> None:
    got = from_rpc_error(FakeCall(grpc.StatusCode.UNAVAILABLE, "connection refused"), address="db:1")
    assert isinstance(got, E.Unavailable)
    assert "db:1" in got.message and "connection refused" in got.message


def test_a_status_that_disagrees_with_the_call_is_ignored() -> None:
    status = status_pb2.Status(code=grpc.StatusCode.NOT_FOUND.value[0], message="other text")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason="BUDGET_EXHAUSTED", domain="synth.dev"))
    got = from_rpc_error(FakeCall(grpc.StatusCode.INVALID_ARGUMENT, "the real message", status))
    assert type(got) is E.InvalidArgument
    assert got.message == "the real message"


def test_a_foreign_domains_reason_is_not_trusted() -> None:
    status = status_pb2.Status(code=grpc.StatusCode.NOT_FOUND.value[0], message="gone")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason="INVALID_TABLE", domain="example.com"))
    got = from_rpc_error(FakeCall(grpc.StatusCode.NOT_FOUND, "gone", status))
    assert type(got) is E.NotFound


@given(
    message=st.text(min_size=1, max_size=200),
    metadata=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=5),
    fields=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=4),
)
def test_message_metadata_and_violations_round_trip(
    message: str, metadata: dict[str, str], fields: list[tuple[str, str]]
) -> None:
    violations = [E.FieldViolation(f, d) for f, d in fields]
    sent = E.InvalidTable(message, violations=violations, metadata=metadata)
    got = from_rpc_error(_from_exception(sent))
    assert type(got) is E.InvalidTable
    assert (got.message, got.metadata, got.violations) == (message, metadata, violations)


def test_translated_raises_the_typed_error_from_the_rpc_error() -> None:
    call = FakeCall(grpc.StatusCode.NOT_FOUND, "no source 'sources/x'")
    with pytest.raises(E.NotFound, match="no source") as info, translated():
        raise call
    assert info.value.__cause__ is call


def test_a_stream_failing_midway_raises_the_typed_error() -> None:
    def stream():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise FakeCall(grpc.StatusCode.CANCELLED, "stopped")

    seen = []
    with pytest.raises(E.Cancelled):
        for item in iter_translated(stream()):
            seen.append(item)
    assert seen == [1, 2]


def _job(state: JobState, error: JobError | None = None) -> Job:
    return Job(name="jobs/j1", kind=JobKind.TRAIN, state=state, error=error, target="sources/a")


@pytest.mark.parametrize(
    ("job", "cls"),
    [
        (_job(JobState.CANCELLED), E.Cancelled),
        (_job(JobState.INTERRUPTED), E.Interrupted),
        (_job(JobState.FAILED, JobError("FAILED_PRECONDITION", "PRIVACY_RULE", "no bounds")), E.PrivacyError),
        (_job(JobState.FAILED, JobError("NOT_FOUND", "", "model gone")), E.NotFound),
        (_job(JobState.FAILED, JobError("NOT_A_CODE", "", "odd")), E.SynthError),
        (_job(JobState.FAILED), E.SynthError),
    ],
)
def test_a_finished_job_maps_to_its_exception(job: Job, cls: type[E.SynthError]) -> None:
    err = job_failure(job)
    assert type(err) is cls
    assert "jobs/j1" in err.message
    if job.error is not None and job.error.message:
        assert job.error.message in err.message
