"""The episode render as a declared stage graph.

Each stage (:mod:`.stages`) is a small object: a ``name``, the stages it ``requires``
(whose products it reads from ``RenderContext.products``), the cached runner stages it
runs (``runner_stages``: the vault records and ledger rows, keyed exactly as before) and
``run(ctx)`` returning its products. :data:`EPISODE_GRAPH` declares them in the order a
render runs them (every stage after the ones it requires; checked when the graph is
built)::

    dialogue -> timing -> mix (worker thread) -> prompt -> generate -> sign -> grade
      -> deliver_shots -> assemble -> conform (joins mix) -> captions -> deliver_sound
      -> masters (mux + prores) -> certify -> summary -> report

``render_episode`` builds a :class:`~.context.RenderContext` and runs the whole graph
through its :class:`~.runner.StageRunner`.

**The seam for executors.** A scheduler (e.g. a distributed executor running per-shot
tasks) reads the graph instead of the render's code:

- ``EPISODE_GRAPH.names()`` and ``EPISODE_GRAPH.dependencies()`` (name -> required names)
  give the DAG; ``EPISODE_GRAPH.per_shot()`` the stages that can run for one shot
  (``dialogue``, ``prompt``, ``generate``, ``grade``);
- ``EPISODE_GRAPH.run_stage(name, ctx)`` runs one stage against a context whose required
  products are present (``ctx.products``), storing its products there;
- ``EPISODE_GRAPH.run_stage(name, ctx, shot=ID)`` runs a per-shot stage for one shot and
  returns that shot's product (not stored: the caller gathers the shots' products);
- ``EPISODE_GRAPH.run(ctx, until=NAME)`` runs the stages up to and including ``NAME``.

Cache keys do not depend on where a stage runs: a stage run for one shot on a worker with
the same vault is a cache hit for the whole render afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import StudioError
from .context import RenderContext
from .stages import (
    AssembleStage,
    CaptionsStage,
    CertifyStage,
    ConformStage,
    DeliverShotsStage,
    DeliverSoundStage,
    DialogueStage,
    GenerateStage,
    GradeStage,
    MastersStage,
    MixStage,
    PromptStage,
    ReportStage,
    SignStage,
    Stage,
    SummaryStage,
    TimingStage,
)


class StageGraph:
    """Stages in run order; each one's ``requires`` name stages declared before it."""

    def __init__(self, stages: Iterable[Stage]) -> None:
        self.stages: list[Stage] = list(stages)
        seen: set[str] = set()
        for st in self.stages:
            if not st.name or st.name in seen:
                raise ValueError(f"stage {st!r}: a missing or repeated name")
            missing = [n for n in st.requires if n not in seen]
            if missing:
                raise ValueError(f"stage {st.name!r} requires {missing}, not declared before it")
            seen.add(st.name)
        self._by_name = {st.name: st for st in self.stages}

    def names(self) -> list[str]:
        return [st.name for st in self.stages]

    def dependencies(self) -> dict[str, tuple[str, ...]]:
        return {st.name: tuple(st.requires) for st in self.stages}

    def per_shot(self) -> list[str]:
        return [st.name for st in self.stages if st.per_shot]

    def stage(self, name: str) -> Stage:
        try:
            return self._by_name[name]
        except KeyError:
            raise StudioError(f"no stage {name!r} in the episode graph", field="stage",
                              hint="one of: " + ", ".join(self.names())) from None

    def upstream(self, name: str) -> list[str]:
        """Every stage ``name`` needs, directly or not, in run order."""
        need: set[str] = set()
        todo = list(self.stage(name).requires)
        while todo:
            n = todo.pop()
            if n not in need:
                need.add(n)
                todo.extend(self._by_name[n].requires)
        return [n for n in self.names() if n in need]

    def run_stage(self, name: str, ctx: RenderContext, *, shot: str | None = None) -> Any:
        """Run one stage (or, with ``shot``, a per-shot stage for that shot)."""
        st = self.stage(name)
        absent = [n for n in st.requires if n not in ctx.products]
        if absent:
            raise StudioError(f"stage {name!r} needs the products of {absent} first",
                              field="stage", hint="run_stage them (in graph order) first, or "
                              f"run(ctx, until={name!r})")
        if shot is not None:
            return st.run_shot(ctx, shot)
        products = st.run(ctx)
        ctx.products[name] = products
        return products

    def run(self, ctx: RenderContext, *, until: str | None = None) -> RenderContext:
        """Run the stages in order (all of them, or up to and including ``until``)."""
        if until is not None:
            self.stage(until)
        for st in self.stages:
            self.run_stage(st.name, ctx)
            if st.name == until:
                break
        return ctx


#: the episode render, stage by stage (see the module docstring)
EPISODE_GRAPH = StageGraph([
    DialogueStage(), TimingStage(), MixStage(), PromptStage(), GenerateStage(), SignStage(),
    GradeStage(), DeliverShotsStage(), AssembleStage(), ConformStage(), CaptionsStage(),
    DeliverSoundStage(), MastersStage(), CertifyStage(), SummaryStage(), ReportStage(),
])
