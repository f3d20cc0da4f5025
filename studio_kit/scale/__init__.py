"""Scale-out: a season's work on Dask, the vault on object storage, one ledger.

- :mod:`.executor` - in process (default) or ``dask.distributed`` (LocalCluster / a scheduler).
- :mod:`.season` - ``render_season``: the coordinator pays and records, workers render.
- :mod:`.bucket` - `studio vault verify` / `gc` on the vault's bucket (the layout on any fsspec
  URL with atomic publish is :mod:`studio_kit.store.objectstore`).
"""

from __future__ import annotations

from .executor import DaskExecutor, InProcessExecutor, make_executor, task_overhead_ms
from .season import SeasonResult, parse_episodes, render_season

__all__ = ["DaskExecutor", "InProcessExecutor", "SeasonResult", "make_executor",
           "parse_episodes", "render_season", "task_overhead_ms"]
