"""One episode, end to end: :func:`render_episode` runs the declared stage graph.

Per shot (keyed by that shot's own inputs, so editing one shot redoes only that shot)::

    dialogue[shot] -> prompt[shot] -> generate[shot] -> sign[shot] -> grade[shot] -> qc[shot]

Per episode::

    mix -> assemble -> captions -> mux -> prores -> certify -> summary

``dialogue`` speaks the shot's lines (eSpeak NG by default) for their lengths and mouth
shapes; the shot's effective duration (storyboard duration, longer when the dialogue needs
it) and its viseme track go into the picture request. ``generate`` calls the idempotent,
ledger-backed ``studio_kit.production.generation.generate_shot``; ``sign`` embeds a C2PA
manifest in the generated clip; ``grade`` matches it to its scene's look.

The stages are small objects in :mod:`.stages`, declared in run order (with what each one
requires) in :mod:`.graph`; they share one :class:`~.context.RenderContext` (project,
options, vault, ledger run, stage runner, worker pools, per-render memos, products). This
module builds the context, runs :data:`~.graph.EPISODE_GRAPH` and writes the record.

Re-render cost: besides the stage cache, episode stages keep finer-grained pieces in the
vault (``audio_layer``: music/ambience/effects layers and dub masters; ``conform_track``:
each conformed track; ``aac_track``: each encoded AAC track; ``prores_piece``: ProRes
pieces; ``transition_region``: re-encoded transition regions), so an edit redoes only the
pieces whose inputs changed. Each shot tries its route's engines in order (failover).

Outputs are copied from the vault into the output folder; ``render.json`` there lists
everything the run made and the stage results (cache hits and times).
"""

from __future__ import annotations

import time
from pathlib import Path

from ..production.generation import is_paid
from ..progress import ProgressCallback
from ..project.series_folder import Project
from ..store.yamlio import atomic_write_text
from .context import RenderContext
from .graph import EPISODE_GRAPH
from .models import NOT_PAID_ON_WORKER, RenderOptions, RenderResult, ShotRecord
from .stages.pictures import produce_all

__all__ = ["NOT_PAID_ON_WORKER", "RenderOptions", "RenderResult", "ShotRecord",
           "produce_paid_takes", "render_episode"]


def render_episode(project: str | Path | Project, episode: str, *,
                   options: RenderOptions | None = None, out_dir: str | Path | None = None,
                   progress: ProgressCallback | None = None) -> RenderResult:
    """Render one episode into ``out_dir`` (default ``<project>/out``); see module doc."""
    t_start = time.perf_counter()
    options = options or RenderOptions()
    proj = project if isinstance(project, Project) else Project.load(project)
    out = Path(out_dir) if out_dir is not None else proj.root / "out"
    r = RenderContext(proj, episode, options, out, progress)
    try:
        result = _run(r)
    except BaseException:
        r.finish(ok=False)
        raise
    r.shutdown()
    result.seconds = round(time.perf_counter() - t_start, 3)
    record = Path(result.out_dir) / "render.json"
    atomic_write_text(record, result.model_dump_json(indent=2))
    r.finish(ok=True, record=str(record))
    return result


def _run(r: RenderContext) -> RenderResult:
    """The record, filled in by every stage of the graph."""
    r.ep_dir.mkdir(parents=True, exist_ok=True)
    r.result = RenderResult(project=str(r.project.root), series=r.project.series.title,
                            episode=r.episode, run_id=r.run_id, out_dir=str(r.ep_dir),
                            format=r.format, engine=r.options.engine, tier=r.tier.value)
    EPISODE_GRAPH.run(r)
    return r.result


def produce_paid_takes(project: str | Path | Project, episode: str, *,
                       options: RenderOptions | None = None) -> dict[str, str]:
    """The paid part of a render, in this process: every shot whose route has a paid
    engine goes through the one shot path (failover, QC, regeneration, Gate A), so its take
    is in the vault and its calls in the ledger before any worker renders the episode.
    Returns shot id -> kept take's asset (empty when no shot routes to a paid engine).
    (The graph's ``dialogue``, ``timing`` and ``prompt`` stages, then the shot path for
    the paid shots only.)"""
    options = options or RenderOptions()
    proj = project if isinstance(project, Project) else Project.load(project)
    r = RenderContext(proj, episode, options, proj.root / "out", None,
                      run_kind="season-pictures")
    try:
        shots = list(r.sb.shots)
        paid = {s.id for s in shots if any(is_paid(r.engine(e)) for e in r.engine_chain(s)[0])}
        for i in range(len(shots) - 1, 0, -1):  # a continued shot needs its previous take
            if shots[i].id in paid and shots[i].continue_from_previous:
                paid.add(shots[i - 1].id)
        takes: dict[str, str] = {}
        if paid:
            for name in ("dialogue", "timing", "prompt"):
                EPISODE_GRAPH.run_stage(name, r)
            jobs = [j for j in r.product("prompt", "jobs") if j.shot.id in paid]
            takes = {sid: t.result.asset for sid, t in produce_all(r, jobs).items()}
    except BaseException:
        r.finish(ok=False)
        raise
    r.finish(ok=True)
    return takes
