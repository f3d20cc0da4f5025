"""The stage object: a name, the stages it needs, and ``run(ctx)`` returning its products."""

from __future__ import annotations

from typing import Any, ClassVar

from ...errors import StudioError
from ..context import RenderContext


class Stage:
    """One step of the episode graph.

    ``name`` names its products in ``RenderContext.products``; ``requires`` the stages whose
    products it reads (they run before it); ``runner_stages`` the cached
    :class:`~studio_kit.pipeline.runner.StageRunner` stages (vault records, ledger rows) it
    runs, whose names and keys are the cache's. ``per_shot`` stages can also run for one
    shot (``run_shot``), the seam a per-shot task of a distributed executor uses.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    runner_stages: ClassVar[tuple[str, ...]] = ()
    per_shot: ClassVar[bool] = False

    def run(self, ctx: RenderContext) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_shot(self, ctx: RenderContext, shot_id: str) -> Any:
        """This stage for one shot (its upstream products must be in ``ctx``)."""
        raise StudioError(f"stage {self.name!r} is an episode stage, not a per-shot one",
                          field="stage", hint="run it with run_stage(name, ctx) (no shot)")

    def __repr__(self) -> str:
        return f"<stage {self.name} <- {', '.join(self.requires) or '-'}>"
