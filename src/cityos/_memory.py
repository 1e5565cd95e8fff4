"""Keep the server's resident memory small: cap glibc's malloc arenas.

glibc gives each thread that allocates concurrently an arena of its own (up to 8 per core),
and freed memory in one arena is not reused by another. The server's worker threads (the
hub's SQLite/PostgreSQL calls, the jobs, the live twin) each grow an arena, so RSS kept
climbing under load: with 100,000 entities the hub held 374 MB with glibc's default and
318 MB with two arenas (benchmarks/hub_bench.py, docs/benchmarks.md), at no measurable cost
in throughput — the GIL already serialises the Python allocations.

``MALLOC_ARENA_MAX`` in the environment wins (glibc reads it at start); otherwise ``cityos up``
calls ``mallopt(M_ARENA_MAX, 2)`` before it starts any thread. Other C libraries (musl,
macOS) are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_ARENA_MAX = -8  # glibc's malloc.h
DEFAULT_ARENAS = 2


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` unless MALLOC_ARENA_MAX is set; True if done."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
