"""The Dask worker plugin that shares a machine's cores between a LocalCluster's workers
(a module of its own: it imports ``distributed``, which the in-process executor never
needs)."""

from __future__ import annotations

import os

from distributed.diagnostics.plugin import WorkerPlugin

from .executor import cores_for, pin_process


class ShareCores(WorkerPlugin):
    """A Dask worker plugin: worker ``name`` of a LocalCluster of ``workers`` is pinned to
    its share of the machine's cores (``executor.pin_process``), so the workers do not
    oversubscribe the machine (each render's threads and ffmpeg processes would otherwise
    size themselves for every core)."""

    idempotent = True

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def setup(self, worker) -> None:
        try:
            index = int(worker.name)
        except (TypeError, ValueError):
            index = abs(hash(str(worker.name)))
        if not hasattr(os, "sched_setaffinity"):  # pragma: no cover - not Linux
            return
        pin_process(cores_for(index, self.workers, sorted(os.sched_getaffinity(0))))

    def teardown(self, worker) -> None:
        pass
