"""A job's memory cap: its process's address space (RLIMIT_AS), above what start-up mapped.

The child caps itself before running the job, so an allocation past the cap
fails in the child (MemoryError) rather than taking the host's memory. No cap
is set on a host with an NVIDIA driver (see `nvidia_driver_present`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource

MIB = 2**20


def _mapped_bytes() -> int:
    """The address space this process has mapped now (VmSize), 0 where it cannot be read."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _few_malloc_arenas() -> None:
    """Ask glibc for at most 4 malloc arenas: each thread's own arena reserves 64 MiB of
    address space it may never use, which would count against the cap (best effort)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to ask
        ctypes.CDLL("libc.so.6").mallopt(-8, 4)  # M_ARENA_MAX


def nvidia_driver_present() -> bool:
    """Whether this host has an NVIDIA driver: then no address-space cap is set.

    CUDA reserves host address space of about twice the device memory when it
    initialises (hundreds of GiB on a large GPU) and fails with "out of memory"
    under an RLIMIT_AS far below that. On such a host a job's memory is bounded
    by its admission estimate, and cancel still kills it.
    """
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")


def cap_memory(memory_mb: int | None) -> None:
    """Cap this process's address space at `memory_mb` above what it has mapped now.

    Above what is mapped, because shared libraries and thread stacks reserve
    address space they never touch: the cap bounds what the job adds.
    """
    if not memory_mb or nvidia_driver_present():
        return
    _few_malloc_arenas()
    limit = _mapped_bytes() + memory_mb * MIB
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
