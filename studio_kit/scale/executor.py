"""Where the render's independent work runs: in this process (the default) or on Dask.

``make_executor()`` gives the in-process executor (nothing changes: no cluster is needed for
``make demo``); ``make_executor(workers=N)`` starts a ``distributed.LocalCluster`` of N worker
processes (one thread each); ``make_executor(scheduler="tcp://host:8786")`` - or the
``DASK_SCHEDULER_ADDRESS`` environment variable, Dask's own convention - connects to an
existing cluster. Both give the same small interface: ``submit`` a function with its
arguments (it must be importable on the workers, and its arguments picklable), ``wait`` for
futures in completion order, ``close``.

Work submitted here never pays an engine and never writes the ledger: callers (the season
coordinator, :mod:`studio_kit.scale.season`) decide every paid call from the ledger before
submitting and record what the tasks return.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any, Protocol

from ..errors import StudioError

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


class TaskFuture(Protocol):
    key: Any

    def result(self, timeout: float | None = None) -> Any: ...

    def done(self) -> bool: ...


class Executor(Protocol):
    name: str
    workers: int

    def submit(self, fn: Callable[..., Any], *args: Any, key: str | None = None,
               **kwargs: Any) -> TaskFuture: ...

    def as_completed(self, futures: Iterable[TaskFuture]) -> Iterator[TaskFuture]: ...

    def close(self) -> None: ...


class _DoneFuture(Future):
    def __init__(self, key: str | None) -> None:
        super().__init__()
        self.key = key


class InProcessExecutor:
    """Runs each task when it is submitted, in this process (today's behaviour)."""

    name = "in-process"
    workers = 1

    def submit(self, fn: Callable[..., Any], *args: Any, key: str | None = None,
               **kwargs: Any) -> Future:
        fut = _DoneFuture(key)
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            fut.set_exception(exc)
        return fut

    def as_completed(self, futures: Iterable[Future]) -> Iterator[Future]:
        return iter(list(futures))

    def close(self) -> None:
        pass

    def __enter__(self) -> InProcessExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskExecutor:
    """Tasks on a ``dask.distributed`` cluster: a LocalCluster this process starts (``workers``)
    or an existing scheduler (``scheduler``)."""

    name = "dask"

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None,
                 timeout_s: float = 10.0) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - a dependency of the project
            raise StudioError("dask.distributed is not installed", field="--workers",
                              hint="pip install 'dask[distributed]'") from None
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=timeout_s, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise StudioError(
                    f"the Dask scheduler at {scheduler} is not reachable: {exc}",
                    field="--scheduler", hint="start one ('dask scheduler' and 'dask worker "
                    "ADDRESS' on each machine), check the address and port, or use "
                    "'--workers N' for a cluster on this machine") from None
        else:
            n = int(workers or 1)
            if n < 1:
                raise StudioError(f"--workers {n}: a cluster needs at least one worker",
                                  field="--workers", hint="use --workers 1 or more")
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=None, host="127.0.0.1",
                                        silence_logs=40)
            self.client = Client(self.cluster, set_as_default=False)
        self.address = self.client.scheduler.address

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def submit(self, fn: Callable[..., Any], *args: Any, key: str | None = None,
               **kwargs: Any):
        extra = {"key": key} if key else {}
        # pure=False: a task is run again if asked again (the vault makes it cheap)
        # no retries of a failed task (a user error fails the same way again); a task whose
        # worker died is rescheduled by the scheduler (its allowed-failures)
        return self.client.submit(fn, *args, pure=False, **extra, **kwargs)

    def map(self, fn: Callable[..., Any], items: list[Any], *, key: str) -> list[Any]:
        """One task per item, submitted in one batch (one scheduler message)."""
        return self.client.map(fn, items, key=[f"{key}-{i}" for i in range(len(items))],
                               pure=False)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed

        return iter(as_completed(list(futures), loop=self.client.loop))

    def worker_pids(self) -> dict[str, int]:
        """Each worker's process id (for tests and diagnostics)."""
        return self.client.run(os.getpid)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(*, workers: int | None = None, scheduler: str | None = None):
    """In process unless ``workers`` (LocalCluster), ``scheduler`` or ``DASK_SCHEDULER_ADDRESS``
    (an existing cluster) say otherwise."""
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler and workers:
        raise StudioError("--workers and --scheduler both given", field="--workers",
                          hint="--workers N starts a cluster here; --scheduler ADDR uses one "
                               "that runs (give one of them)")
    if scheduler or workers:
        return DaskExecutor(workers=workers, scheduler=scheduler)
    return InProcessExecutor()


def _noop(i: int) -> int:
    return i


def task_overhead_ms(executor, n: int = 200, *, batch: bool = False) -> float:
    """Mean wall time per no-op task submitted and gathered (milliseconds): the scheduling
    cost a task pays on this executor, measured. ``batch``: the tasks go in one ``map``
    (one message to the scheduler), else one ``submit`` each."""
    t0 = time.perf_counter()
    tag = time.time_ns()
    if batch and hasattr(executor, "map"):
        futures = executor.map(_noop, list(range(n)), key=f"noop-{tag}")
    else:
        futures = [executor.submit(_noop, i, key=f"noop-{i}-{tag}") for i in range(n)]
    for f in futures:
        f.result()
    return (time.perf_counter() - t0) * 1000.0 / n
