"""The Feature Bay's running time is the feature's real length: the drops (cold opens, end
hooks, recaps) subtracted and the recaps added, as the export cuts them; checked against the
assembled feature. The export's progress: every stage, in order, with its fractions."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from feature_bay_helpers import one_shot_per_act

from studio_kit.feature import bay
from studio_kit.feature.assemble import assemble_feature
from studio_kit.feature.export import export_feature, stage_spans
from studio_kit.models.feature import Feature
from studio_kit.pipeline import RenderOptions, render_episode

ROOT = Path(__file__).resolve().parents[1]
OPTS = RenderOptions(engine="local", width=64, height=36, sign=False, prores=False)


def _stage(ev) -> str:
    """The export's progress event as the stage it reports ("done" for the end)."""
    return "done" if ev.status == "done" else ev.stage


@pytest.fixture(scope="module")
def coast(tmp_path_factory):
    """samples/lighthouse with one one-second shot per act: episode 01 keeps its cold open,
    its acts and its end hook; episode 02 likewise."""
    base = tmp_path_factory.mktemp("rt")
    dest = one_shot_per_act(base / "lighthouse", ["01", "02"])
    for ep in ("01", "02"):
        render_episode(dest, ep, options=OPTS)
    return base


def _feature(**over) -> Feature:
    spec = {"id": "rt", "title": "Running", "format": "anthology",
            "sources": [{"series": "lighthouse", "episode": "01"},
                        {"series": "lighthouse", "episode": "02", "act": 2}]}
    spec.update(over)
    return Feature.model_validate(spec)


def _seconds(path: str) -> float:
    with av.open(path) as c:
        return float(c.duration / av.time_base)


def test_running_time_subtracts_the_drops_and_matches_the_assembly(coast):
    base = coast
    plain = _feature()
    dropped = _feature(sources=[
        {"series": "lighthouse", "episode": "01", "drop": ["cold_open", "end_hook"]},
        {"series": "lighthouse", "episode": "02", "act": 2, "drop": ["end_hook"]}])
    rt_plain, rt_drop = bay.running_time(plain, base), bay.running_time(dropped, base)
    assert rt_plain.dropped_s == 0.0
    assert rt_drop.dropped_s >= 2.0  # a one-second cold open and two end hooks at least
    assert rt_drop.seconds == pytest.approx(rt_plain.seconds - rt_drop.dropped_s, abs=1e-3)
    res = assemble_feature(dropped, base, base / "out" / "dropped.mp4")
    kept = sum(b - a for rs in res.kept.values() for a, b in rs) / 24
    assert rt_drop.episodes_s == pytest.approx(kept, abs=1e-3)
    # the figure shown against the format is the assembled feature's length
    assert rt_drop.seconds == pytest.approx(res.duration_s, abs=0.05)
    assert rt_drop.seconds == pytest.approx(_seconds(res.out), abs=0.1)
    # the arc's timeline ends where the feature ends
    assert bay.arc(dropped, base)[-1].end_s == pytest.approx(res.duration_s, abs=0.05)


def test_recaps_are_counted_like_the_assembly_makes_them(coast):
    base = coast
    f = _feature(recaps=True, sources=[
        {"series": "lighthouse", "episode": "01", "drop": ["end_hook"]},
        {"series": "lighthouse", "episode": "02", "act": 2}])
    rt = bay.running_time(f, base)
    assert rt.recaps_s == pytest.approx(1.0, abs=1e-3)  # one earlier source, 1 s of it
    res = assemble_feature(f, base, base / "out" / "recap.mp4")
    assert rt.seconds == pytest.approx(res.duration_s, abs=0.05)
    kinds = [s.kind for s in bay.arc(f, base)]
    assert kinds == ["title", "episode", "recap", "episode", "credits"]


def test_widget_shows_the_real_length(coast):
    from widgets.feature_bay import FeatureBay

    base = coast
    f = _feature(sources=[{"series": "lighthouse", "episode": "01",
                           "drop": ["cold_open", "end_hook"]}])
    bay.save(base, f)
    fb = FeatureBay(base, "rt", chart=False)
    rt = bay.running_time(f, base)
    assert f"data-seconds='{rt.seconds}'" in fb.running.value
    assert f"data-dropped='{rt.dropped_s}'" in fb.running.value and rt.dropped_s > 0
    assert "dropped: cold opens, end hooks, recaps" in fb.running.value


def test_export_progress_reports_each_stage_with_fractions(coast, tmp_path):
    seen: list[tuple[str, float]] = []
    export_feature(_feature(), coast, tmp_path / "deliver", prores=True, sign=False,
                   progress=lambda ev: seen.append((_stage(ev), ev.fraction)))
    spans = stage_spans(prores=True, dcp=False)
    assert list(dict.fromkeys(s for s, _x in seen)) == ["pictures", "credits", "sound",
                                                         "encodes", "done"]
    assert seen[0] == ("pictures", 0.0) and seen[-1] == ("done", 1.0)
    xs = [x for _s, x in seen]
    assert xs == sorted(xs)
    for s, x in seen[:-1]:
        assert spans[s][0] - 1e-9 <= x <= spans[s][1] + 1e-9, (s, x, spans[s])
    # inside the stages, not only at their edges: pictures per source, encodes per output
    assert len({x for s, x in seen if s == "pictures"}) >= 3
    assert len({x for s, x in seen if s == "encodes"}) >= 3
    assert sum(b - a for a, b in spans.values()) == pytest.approx(1.0)
