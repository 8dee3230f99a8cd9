"""The side of a job's process that runs in the child: its entry point and the pipe protocol.

Child → parent, tuples: ("progress", Progress), ("touched",) (answered by
"ack" before the job reads a row), ("note", text), then one outcome: ("ok",
resource name), ("cancelled", text), ("interrupted", text) or ("error", code,
reason, message). Parent → child, strings: "cancel", "shutdown", "ack".
Nothing but these small values crosses the pipe. `child_main` is what the
process executor (`synth.jobs.process`) starts; the forkserver finds it by
this module's path.
"""

from __future__ import annotations

import signal
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from synth.base.errors import Cancelled, Interrupted, ResourceLimit, SynthError
from synth.base.progress import Progress
from synth.jobs.context import JobContext
from synth.jobs.limits import cap_memory


class PipeUpdates:
    """The child's `JobUpdates`: forwards what a running job reports to the parent."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self.acked = threading.Event()

    def send(self, *msg: Any) -> None:
        with self._send_lock:
            self._conn.send(msg)

    def progress(self, job_id: str, p: Progress) -> None:
        self.send("progress", p)

    def mark_touched(self, job_id: str) -> None:
        """Synchronous: the parent has recorded it before the job reads a row."""
        self.acked.clear()
        self.send("touched")
        if not self.acked.wait(timeout=60):
            raise Interrupted("the server did not answer the job's process")

    def note(self, job_id: str, message: str) -> None:
        self.send("note", message)

    def _not_here(self, *_: Any, **__: Any) -> bool:
        raise RuntimeError("a job's state is moved by the parent, not by its process")

    start = succeed = fail = cancel = interrupt = _not_here


def _listen(conn: Connection, ctx: JobContext, updates: PipeUpdates) -> None:
    """The child's reader: the parent's cancel, shutdown and acknowledgements."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone: stop as at a shutdown
            ctx.shutdown_event.set()
            return
        if msg == "cancel":
            ctx.cancel_event.set()
        elif msg == "shutdown":
            ctx.shutdown_event.set()
        elif msg == "ack":
            updates.acked.set()


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    # torch's allocators raise RuntimeError ("DefaultCPUAllocator: can't allocate memory").
    return isinstance(exc, RuntimeError) and "allocate memory" in str(exc)


def child_main(
    conn: Connection,
    job_id: str,
    target: Callable[..., str],
    args: tuple[Any, ...],
    memory_mb: int | None,
) -> None:
    """The entry point of a job's process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server's Ctrl-C is the parent's to handle
    updates = PipeUpdates(conn)
    ctx = JobContext(job_id=job_id, jobs=updates)
    threading.Thread(target=_listen, args=(conn, ctx, updates), daemon=True).start()
    try:
        cap_memory(memory_mb)
        updates.send("ok", target(ctx, *args))
    except Interrupted as exc:
        updates.send("interrupted", str(exc))
    except Cancelled as exc:
        updates.send("cancelled", str(exc))
    except BaseException as exc:
        if _is_out_of_memory(exc):
            updates.send(
                "error",
                ResourceLimit.code,
                ResourceLimit.reason,
                f"the job ran out of memory: it passed its cap of {memory_mb:,} MiB "
                f"({type(exc).__name__}); lower what its plan names, or ask the operator to "
                "raise max_job_memory_mb",
            )
        elif isinstance(exc, SynthError):
            updates.send("error", exc.code, exc.reason, exc.message)
        else:
            traceback.print_exc()
            updates.send("error", "INTERNAL", "INTERNAL", f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
