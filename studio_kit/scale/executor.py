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
                 timeout_s: float = 10.0, share_cores: bool = True) -> None:
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
            if share_cores:  # each worker (and a worker that replaces it) its own cores
                from .workerplugin import ShareCores

                self.client.register_plugin(ShareCores(n), name="studio-share-cores")
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


#: the thread-count variables of the numeric libraries (OpenMP, OpenBLAS, MKL, numexpr)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS")


def cores_for(index: int, workers: int, cores: list[int]) -> list[int]:
    """The cores worker ``index`` of ``workers`` on a machine with ``cores`` gets: an equal
    contiguous share (cores/workers, at least one; more workers than cores share round
    robin)."""
    per = max(1, len(cores) // max(1, workers))
    start = (index * per) % len(cores)
    return [cores[(start + i) % len(cores)] for i in range(per)]


def pin_process(cores: list[int]) -> None:
    """Confine this process - every thread it has now and every thread and child process
    (ffmpeg) it starts later - to ``cores``, and size the numeric libraries' pools to them.
    ffmpeg sizes its automatic decoder and filter threads from this affinity (libavutil's
    ``av_cpu_count`` reads ``sched_getaffinity``), so two workers on two cores each run
    one-core ffmpegs instead of two 2-thread ones fighting; the x264 encoders' own thread
    count is fixed (``engines.local.encode.ENCODER_THREADS``), so the bytes do not change."""
    for tid in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]:
        try:
            os.sched_setaffinity(int(tid), cores)
        except OSError:  # a thread that just ended
            continue
    for var in THREAD_VARS:
        os.environ[var] = str(len(cores))
    import cv2

    cv2.setNumThreads(len(cores))


def process_cpu() -> dict[str, float]:
    """This process's CPU seconds (its own and its finished children's, e.g. ffmpeg) and a
    wall clock: run on a worker before and after a run, the difference / wall is the cores
    it used."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            "wall": time.perf_counter(),
            "cores": float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                           else os.cpu_count() or 1)}


def make_executor(*, workers: int | None = None, scheduler: str | None = None,
                  share_cores: bool = True):
    """In process unless ``workers`` (LocalCluster), ``scheduler`` or ``DASK_SCHEDULER_ADDRESS``
    (an existing cluster) say otherwise. ``share_cores``: a LocalCluster's workers each get
    cores/workers of this machine's cores (``ShareCores``), so they do not oversubscribe it
    (on by default; the masters' bytes do not depend on it, as every x264 encode has a
    fixed thread count: ``video_encoding.H264Params.threads``; docs/scale.md, "Cores")."""
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if scheduler and workers:
        raise StudioError("--workers and --scheduler both given", field="--workers",
                          hint="--workers N starts a cluster here; --scheduler ADDR uses one "
                               "that runs (give one of them)")
    if scheduler or workers:
        return DaskExecutor(workers=workers, scheduler=scheduler, share_cores=share_cores)
    return InProcessExecutor()


def _noop(i: int) -> int:
    return i


def task_overhead_ms(executor, n: int = 200, *, mode: str = "one-by-one") -> float:
    """Mean wall time per no-op task submitted and gathered (milliseconds): the scheduling
    cost a task pays on this executor, measured. ``mode``:

    - ``"one-by-one"`` (the default): ``submit`` each task, then wait for each result;
    - ``"map"``: one ``client.map`` (one message to the scheduler), then
      one ``client.gather`` - how Dask's own docs measure per-task overhead;
    - ``"submit-gather"``: ``client.submit(..., pure=False)`` per task, one ``gather``.
    """
    t0 = time.perf_counter()
    tag = time.time_ns()
    client = getattr(executor, "client", None)
    if mode == "map" and client is not None:
        futures = client.map(_noop, list(range(n)), key=[f"noop-{tag}-{i}" for i in range(n)],
                             pure=False)
        client.gather(futures)
    elif mode == "submit-gather" and client is not None:
        futures = [client.submit(_noop, i, key=f"noop-{tag}-{i}", pure=False)
                   for i in range(n)]
        client.gather(futures)
    else:
        futures = [executor.submit(_noop, i, key=f"noop-{i}-{tag}") for i in range(n)]
        for f in futures:
            f.result()
    return (time.perf_counter() - t0) * 1000.0 / n
