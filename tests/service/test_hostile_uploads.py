"""Hostile uploads: idle and silent streams, more streams than slots, bad headers.

Each attack runs against a server of its own; while it runs, a second client
of its own channel checks that health and ListSources still answer (a
generous deadline, no timing assertion), and afterwards nothing is stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest

from synth.server import RunningServer, uploads
from synth.v1 import common_pb2, sources_pb2
from tests.service.fixtures import distinct_csv
from tests.service.hostile import (
    Stall,
    assert_nothing_stored,
    calls_carry_identities,
    connect,
    header,
    honest_calls_answer,
    hostile_server,
    owner_token,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def running(folder: Path) -> Iterator[RunningServer]:
    server = hostile_server(folder, upload_idle_timeout_s=60)
    yield server
    server.stop(grace=0)


def _until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for the server to reach a state; the test asserts it afterwards."""
    for _ in range(300):
        if condition():
            return
        time.sleep(0.1)


def test_forty_idle_uploads_leave_health_and_lists_answering(
    running: RunningServer, folder: Path
) -> None:
    """32 streams that send only the header and 8 that send nothing: before the limits,
    they held every server thread and health timed out for everyone."""
    stubs = connect(running)
    stalls = [Stall(header(f"idle-{i}")) for i in range(32)] + [Stall() for _ in range(8)]
    calls = [stubs.sources.RegisterSource.future(iter(s), timeout=90) for s in stalls]
    slots = running.upload_slots
    assert slots is not None
    try:
        # The caller's share, whatever it sends (without identities, the global cap).
        held = 2 if calls_carry_identities(running) else running.service.config.max_concurrent_uploads
        _until(lambda: sum(c.done() for c in calls) >= len(calls) - held)
        assert slots.in_use() == held
        for _ in range(3):
            honest_calls_answer(running)
    finally:
        for s in stalls:
            s.release.set()
    codes = [c.exception().code() if c.exception() else grpc.StatusCode.OK for c in calls]
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= len(calls) - held
    assert grpc.StatusCode.OK not in codes  # a header alone registers nothing
    refused = next(c.exception() for c in calls if c.exception().code().name == "RESOURCE_EXHAUSTED")
    assert f"at most {held} uploads at once" in refused.details()
    assert_nothing_stored(stubs, folder, *(f"idle-{i}" for i in range(32)))
    honest_calls_answer(running)


def test_many_callers_share_the_upload_slots_and_one_caller_holds_two(
    running: RunningServer, folder: Path, adult: pa.Table
) -> None:
    """A caller's third stalled upload is refused by its share; ten callers stalling two
    each take the eight slots and the rest are refused; when they let go, an honest
    upload passes."""
    if not calls_carry_identities(running):
        pytest.skip("a caller's share needs calls that carry an identity (the auth interceptor)")
    slots = running.upload_slots
    assert slots is not None
    callers = [connect(running, owner_token(running, f"mallory-{i}")) for i in range(10)]
    stalls = [(s, Stall(header(f"m{i}-{j}"))) for i, s in enumerate(callers) for j in range(2)]
    calls = [s.sources.RegisterSource.future(iter(st), timeout=90) for s, st in stalls[:2]]
    _until(lambda: slots.in_use() == 2)
    with pytest.raises(grpc.RpcError) as share:
        callers[0].register("third", None, timeout=30)
    assert share.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "at most 2 uploads at once from one caller" in share.value.details()
    calls += [s.sources.RegisterSource.future(iter(st), timeout=90) for s, st in stalls[2:]]
    _until(lambda: slots.in_use() == 8)
    assert slots.in_use() == 8
    with pytest.raises(grpc.RpcError) as full:
        connect(running, owner_token(running, "late")).register("late", None, timeout=30)
    assert "at most 8 uploads at once and" in full.value.details()
    try:
        honest_calls_answer(running)
    finally:
        for _, st in stalls:
            st.release.set()
    codes = [c.exception().code() for c in calls]  # every call failed: a header stores nothing
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    _until(lambda: slots.in_use() == 0)
    honest = connect(running, owner_token(running, "honest"))
    assert honest.register("honest", distinct_csv(adult, 3, rows=100)).name == "sources/honest"
    assert_nothing_stored(honest, folder, "third", "late", *(f"m{i}-{j}" for i in range(10) for j in range(2)))


def test_an_upload_that_goes_quiet_is_cut_off(folder: Path, adult: pa.Table) -> None:
    server = hostile_server(folder, upload_idle_timeout_s=1.0)
    stubs = connect(server)
    try:
        body = distinct_csv(adult, 0, rows=50)
        chunk = sources_pb2.RegisterSourceRequest(
            chunk=common_pb2.DataChunk(data=body[:100], offset=0)
        )
        for stall in (Stall(header("quiet")), Stall(header("quiet"), chunk)):
            call = stubs.sources.RegisterSource.future(iter(stall), timeout=60)
            honest_calls_answer(server)
            err = call.exception()
            stall.release.set()
            assert err is not None and err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "sent nothing for 1 seconds" in err.details()
            assert "nothing was stored" in err.details()
        assert_nothing_stored(stubs, folder, "quiet")
        honest_calls_answer(server)
    finally:
        server.stop(grace=0)


BAD_HEADERS = {
    "bad id": (header("Bad Id!"), grpc.StatusCode.INVALID_ARGUMENT, "is not valid"),
    "5000-character id": (header("a" * 5000), grpc.StatusCode.INVALID_ARGUMENT, "5,000 characters"),
    "negative epsilon": (header("neg", epsilon=-1.0), grpc.StatusCode.INVALID_ARGUMENT, "epsilon"),
    "epsilon 1e300": (header("huge", epsilon=1e300), grpc.StatusCode.INVALID_ARGUMENT, "epsilon"),
    "epsilon nan": (header("nan", epsilon=float("nan")), grpc.StatusCode.INVALID_ARGUMENT, "epsilon"),
    "negative split seed": (header("seed", split_seed=-1), grpc.StatusCode.INVALID_ARGUMENT, "split_seed"),
    "display name of 1 MB": (
        header("named", display_name="n" * (1 << 20)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "display_name",
    ),
    "a path with no import roots": (
        header("path", uri="/etc/os-release"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "reads no server-side paths",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_a_bad_header_is_refused_before_any_body_byte(
    case: str, running: RunningServer, folder: Path
) -> None:
    """The stream stalls after its header: only a check of the header alone can answer
    (a check after the body would wait for the 60 s idle cut-off, DEADLINE_EXCEEDED)."""
    first, code, phrase = BAD_HEADERS[case]
    stubs = connect(running)
    stall = Stall(first)
    call = stubs.sources.RegisterSource.future(iter(stall), timeout=45)
    try:
        honest_calls_answer(running)
        err = call.exception()
    finally:
        stall.release.set()
    assert err is not None and err.code() == code, err
    assert phrase in err.details()
    assert len(err.details()) < 600  # nothing oversized is echoed
    assert_nothing_stored(stubs, folder, first.header.source_id[:63])


def test_a_taken_id_is_refused_before_any_body_byte(
    running: RunningServer, folder: Path, adult: pa.Table
) -> None:
    stubs = connect(running)
    stubs.register("taken", distinct_csv(adult, 0, rows=200))
    before = stubs.budget("sources/taken")
    stall = Stall(header("taken", epsilon=100.0))
    call = stubs.sources.RegisterSource.future(iter(stall), timeout=45)
    try:
        err = call.exception()
    finally:
        stall.release.set()
    assert err is not None and err.code() == grpc.StatusCode.ALREADY_EXISTS
    after = stubs.budget("sources/taken")
    assert after == before  # the cap did not move
    assert list((folder / "artifacts" / "tmp").iterdir()) == []
    honest_calls_answer(running)


def test_an_upload_that_drips_is_cut_off(
    running: RunningServer, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten bytes every 0.1 s never trip the idle timeout; the rate floor cuts it off
    (the floor and its grace are lowered here so the test is short)."""
    monkeypatch.setattr(uploads, "RATE_GRACE_S", 0.5)
    monkeypatch.setattr(uploads, "MIN_UPLOAD_BYTES_PER_S", 1 << 20)
    stop = threading.Event()

    def drip() -> Iterator[sources_pb2.RegisterSourceRequest]:
        yield header("drip")
        offset = 0
        while not stop.wait(0.1):
            yield sources_pb2.RegisterSourceRequest(
                chunk=common_pb2.DataChunk(data=b"a,b\n1,2\n3\n"[:10], offset=offset)
            )
            offset += 10

    stubs = connect(running)
    call = stubs.sources.RegisterSource.future(drip(), timeout=60)
    try:
        honest_calls_answer(running)
        err = call.exception()
    finally:
        stop.set()
    assert err is not None and err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "under this server's floor of 1024 KiB/s" in err.details()
    assert_nothing_stored(stubs, folder, "drip")
