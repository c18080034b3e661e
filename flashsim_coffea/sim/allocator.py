"""glibc's allocator in dask workers: the fixed mmap threshold that halves the engine's speed there.

A dask nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (dask's
``distributed.nanny.pre-spawn-environ``, so that workers hand freed memory back to the OS). Setting
any of glibc's ``MALLOC_*`` thresholds turns off its *dynamic* mmap threshold, which otherwise rises
to the size of the blocks a program frees: the threshold stays at 128 KiB, and every array above it
(each torch activation of a flow batch: 4000 events make blocks of megabytes) is a fresh ``mmap``,
zero-filled page by page, and unmapped when freed. Measured on this 2-core machine, the three side by
side in one run (``benchmarks/thread_policy.py --only "1 thread" "1 thread, dask worker env" "1 thread, dask
worker env, fitted"``, 4000 ``zh_llbb`` events, one thread, best of 2): 880 events/s in a plain process,
391 with ``MALLOC_TRIM_THRESHOLD_=65536``, 893 with that variable and :func:`fit_for_flows`.

:func:`fit_for_flows` raises the mmap threshold to glibc's largest (32 MiB) and the trim threshold to
128 MiB with ``mallopt`` when the environment set a threshold and left the mmap one to glibc, as in
any dask worker (local, dask-jobqueue, dask-gateway); elsewhere (other C libraries, a user's own
``MALLOC_MMAP_THRESHOLD_``) it does nothing. Freed memory above 128 MiB at the top of the heap still
goes back to the OS. See mallopt(3); dask's note: https://distributed.dask.org/en/stable/worker-memory.html

Example:
    >>> fit_for_flows({"MALLOC_TRIM_THRESHOLD_": "65536"})  # as in a dask worker (on Linux with glibc)
    True
    >>> fit_for_flows({})  # the dynamic threshold is on: nothing to do
    False
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Mapping

#: mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: glibc's largest mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX: 4 * 1024 * 1024 * sizeof(long))
MMAP_THRESHOLD = 32 * 1024 * 1024
#: free memory kept at the top of the heap before it is trimmed
TRIM_THRESHOLD = 128 * 1024 * 1024
#: the variables that turn glibc's dynamic mmap threshold off
FIXING = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def fit_for_flows(environ: Mapping[str, str] | None = None) -> bool:
    """Raise glibc's mmap and trim thresholds where ``environ`` (default ``os.environ``) fixed them.

    Returns True when it changed them (glibc, a fixing variable set, ``MALLOC_MMAP_THRESHOLD_`` not set).
    """
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in env or not any(k in env for k in FIXING):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
