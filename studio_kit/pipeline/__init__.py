"""The render pipeline: cached stages from storyboard to certified master.

- :mod:`.runner` - the stage runner (cache keys, vault lookups, ledger records, progress).
- :mod:`.context` - :class:`RenderContext`, what one episode render's stages share.
- :mod:`.stages` - the episode's stages, one small object each.
- :mod:`.graph` - :data:`EPISODE_GRAPH`, the stages declared in run order with what each
  requires (the seam an executor schedules: one stage, or one stage for one shot).
- :mod:`.episode` - :func:`render_episode` (builds the context, runs the graph).
- :mod:`.notebook` - the same render through the papermill notebook.
- :mod:`.plots` - summary plots (HoloViews, imported lazily).

Progress: :class:`ProgressEvent` / :data:`ProgressCallback` (from :mod:`studio_kit.progress`).
"""

from __future__ import annotations

from .context import RenderContext
from .episode import RenderOptions, RenderResult, ShotRecord, render_episode
from .graph import EPISODE_GRAPH, StageGraph
from .notebook import NOTEBOOK, run_notebook
from .runner import (
    ProgressCallback,
    ProgressEvent,
    StageContext,
    StageOutput,
    StageProduct,
    StageRunner,
    stage_key,
)
from .stages import Stage

__all__ = [
    "EPISODE_GRAPH", "NOTEBOOK", "ProgressCallback", "ProgressEvent", "RenderContext",
    "RenderOptions", "RenderResult", "ShotRecord", "Stage", "StageContext", "StageGraph",
    "StageOutput", "StageProduct", "StageRunner", "render_episode", "run_notebook",
    "stage_key",
]
