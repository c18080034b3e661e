"""Where parallel work runs: a dask.distributed cluster, as a :class:`concurrent.futures.Executor`.

The one module of the package that talks to dask.distributed (the engine, training and the
reference detector never import it): long jobs (extraction chunks, ...) take any
:class:`~concurrent.futures.Executor` and submit one task per independent piece; this module
gives them a dask ``Client.get_executor()`` on an existing scheduler (``tcp://...``: a
dask-jobqueue or dask-gateway cluster of an analysis facility) or on a ``LocalCluster`` of
``workers`` single-threaded processes, and ``None`` (run in this process) for one worker.

The analyses' coffea ``DaskExecutor`` takes the :func:`client` itself.

Example:
    >>> with executor(workers=1) as ex:
    ...     print(ex)
    None
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor

#: seconds without a heartbeat after which the local scheduler restarts a worker (:func:`client`).
WORKER_TTL_S = 24 * 3600.0


@contextlib.contextmanager
def client(workers: int = 2, scheduler: str | None = None):
    """A dask.distributed ``Client`` for the duration of a ``with`` block.

    On the running scheduler at ``scheduler`` (``tcp://host:8786``: the address of a
    dask-jobqueue, dask-gateway or coffea-casa cluster, whose workers must have this package
    and its models installed), else on a ``LocalCluster`` of ``workers`` single-threaded
    processes, closed at the end. The local scheduler restarts a worker that misses its heartbeats
    only after :data:`WORKER_TTL_S` (dask's default is 5 minutes; the nanny still sees a dead worker at
    once): a task that holds the GIL in compiled code, such as a block of Pythia events, on a core
    shared with other jobs (or at low priority) missed them for 5 minutes, and the restart threw its
    work away.
    """
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as c:
            yield c
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"worker_ttl": WORKER_TTL_S}) as cluster, Client(cluster) as c:
        yield c


@contextlib.contextmanager
def executor(workers: int = 1, scheduler: str | None = None) -> Iterator[Executor | None]:
    """An executor for the duration of a ``with`` block (its cluster closed at the end).

    Arguments:
        workers: processes of a local cluster (one thread each: torch and numba run one
            thread per task); 1 means no cluster.
        scheduler: address of a running dask scheduler; ``workers`` is then ignored.
    """
    if scheduler is None and workers <= 1:
        yield None
        return
    with client(workers, scheduler) as c:
        yield c.get_executor()
