"""The render pipeline: cached stages from storyboard to certified master.

- :mod:`.runner` - the stage runner (cache keys, vault lookups, ledger records, progress).
- :mod:`.episode` - the episode's stages and :func:`render_episode`.
- :mod:`.notebook` - the same render through the papermill notebook.
- :mod:`.plots` - summary plots (HoloViews, imported lazily).
"""

from __future__ import annotations

from .episode import RenderOptions, RenderResult, ShotRecord, render_episode
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

__all__ = [
    "NOTEBOOK", "ProgressCallback", "ProgressEvent", "RenderOptions", "RenderResult",
    "ShotRecord", "StageContext", "StageOutput", "StageProduct", "StageRunner",
    "render_episode", "run_notebook", "stage_key",
]
