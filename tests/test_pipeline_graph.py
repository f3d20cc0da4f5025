"""The episode render as a declared stage graph: its order, its seams (one stage, one shot)
and the one progress event type, on a real small render (local engine, eSpeak, ffmpeg)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_pipeline_episode import small_sample

from studio_kit import progress as progress_mod
from studio_kit.engines import base as engine_base
from studio_kit.errors import StudioError
from studio_kit.pipeline import ProgressEvent, RenderOptions, render_episode, runner
from studio_kit.pipeline.context import RenderContext
from studio_kit.pipeline.graph import EPISODE_GRAPH, StageGraph
from studio_kit.pipeline.stages import Stage
from studio_kit.project.series_folder import Project

OPTS = RenderOptions(engine="local", width=64, height=36, sign=False, prores=False)


def test_the_graph_is_declared_in_dependency_order() -> None:
    names = EPISODE_GRAPH.names()
    assert names[:3] == ["dialogue", "timing", "mix"] and names[-1] == "report"
    for name, needs in EPISODE_GRAPH.dependencies().items():
        assert all(names.index(n) < names.index(name) for n in needs), name
    assert set(EPISODE_GRAPH.per_shot()) == {"dialogue", "prompt", "generate", "grade"}
    assert EPISODE_GRAPH.upstream("conform")[-1] == "assemble"
    assert "mix" in EPISODE_GRAPH.upstream("conform")


def test_a_graph_refuses_a_stage_needing_one_declared_after_it() -> None:
    class Late(Stage):
        name = "late"
        requires = ("later",)

    class Later(Stage):
        name = "later"

    with pytest.raises(ValueError, match="requires \\['later'\\]"):
        StageGraph([Late(), Later()])
    with pytest.raises(StudioError, match="no stage 'nope'"):
        EPISODE_GRAPH.stage("nope")


@pytest.fixture()
def sample(tmp_path: Path) -> Path:
    return small_sample(tmp_path / "lighthouse")


def test_one_stage_for_one_shot_then_the_render_reuses_it(sample: Path) -> None:
    """The executor seam: stages run one by one (and one for one shot) against a
    RenderContext; the whole render afterwards finds that shot's take in the cache."""
    proj = Project.load(sample)
    ctx = RenderContext(proj, "01", OPTS, sample / "out", None)
    try:
        with pytest.raises(StudioError, match="needs the products of \\['dialogue'\\]"):
            EPISODE_GRAPH.run_stage("timing", ctx)
        EPISODE_GRAPH.run_stage("dialogue", ctx)
        first = ctx.sb.shots[0].id
        again = EPISODE_GRAPH.run_stage("dialogue", ctx, shot=first)  # a cache hit now
        assert again == json.loads(json.dumps(ctx.products["dialogue"]["dialogue"][first]))
        EPISODE_GRAPH.run_stage("timing", ctx)
        EPISODE_GRAPH.run_stage("prompt", ctx)
        job = EPISODE_GRAPH.run_stage("prompt", ctx, shot=first)
        assert job.shot.id == first and job.prompts == ctx.products["prompt"]["jobs"][0].prompts
        take = EPISODE_GRAPH.run_stage("generate", ctx, shot=first)
        assert ctx.vault.has(take.result.asset)
        with pytest.raises(StudioError, match="not a per-shot one"):
            EPISODE_GRAPH.run_stage("timing", ctx, shot=first)
    finally:
        ctx.shutdown()
        ctx.ledger.close()
    events: list[ProgressEvent] = []
    result = render_episode(sample, "01", options=OPTS, out_dir=sample / "out",
                            progress=events.append)
    hits = {(s.stage, s.subject): s.cache_hit for s in result.stages}
    assert hits[("generate", first)] is True
    assert hits[("dialogue", first)] is True  # spoken by the stage above
    assert not any(hit for (stage, sid), hit in hits.items()
                   if stage == "generate" and sid != first)
    assert Path(result.master).is_file()
    # every runner stage of the render belongs to a graph stage that declares it
    declared = {n for st in EPISODE_GRAPH.stages for n in st.runner_stages}
    assert {s.stage for s in result.stages} <= declared | {"regeneration"}
    # one event type: each runner stage starts, then hits or finishes
    assert all(type(e) is progress_mod.ProgressEvent for e in events)
    started = {e.label for e in events if e.status == "start"}
    ended = {e.label for e in events if e.status in ("hit", "done")}
    assert started == ended and f"generate[{first}]" in started


def test_one_progress_event_type_and_its_fraction_view() -> None:
    assert ProgressEvent is progress_mod.ProgressEvent is runner.ProgressEvent
    assert engine_base.ProgressFn is progress_mod.FractionFn
    got: list[ProgressEvent] = []
    report = progress_mod.fraction_reporter(got.append, "generate", "s01")
    report(0.5)
    report(1.7, "encoding")
    assert [(e.stage, e.subject, e.status, e.fraction, e.message) for e in got] == [
        ("generate", "s01", "progress", 0.5, ""), ("generate", "s01", "progress", 1.0,
                                                   "encoding")]
    assert got[0].label == "generate[s01]"
    progress_mod.fraction_reporter(None, "x")(0.3)  # no callback: nothing to do
