"""One rule for an episode's music mood in a feature (assemble.episode_mood): the mood of the
episode act that runs longest in the frames the feature keeps. The Feature Bay's arc shows
the mood the export scores, also when a drop changes which act runs longest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from studio_kit.feature import bay
from studio_kit.feature.assemble import episode_mood, kept_ranges, resolve_sources
from studio_kit.models.feature import Feature
from studio_kit.pipeline import RenderOptions, render_episode

ROOT = Path(__file__).resolve().parents[1]
OPTS = RenderOptions(engine="local", width=64, height=36, sign=False, prores=False)
#: seconds per shot of each act of episode 01: the cold open runs longest, but once it is
#: dropped the act runs longest (the end hook is one short shot)
SHOTS = {"cold_open": [1.5, 1.5], "act": [1.0, 1.0], "hook": [0.5]}


@pytest.fixture(scope="module")
def coast(tmp_path_factory):
    """samples/lighthouse, episode 01 cut to SHOTS (its acts keep their moods: the cold
    open mysterious, act one tense, the tag ominous), rendered at 64x36."""
    base = tmp_path_factory.mktemp("moodrule")
    dest = base / "lighthouse"
    shutil.copytree(ROOT / "samples" / "lighthouse", dest,
                    ignore=shutil.ignore_patterns(".studio", "out"))
    for ep in {p.name for p in (dest / "episodes").iterdir()} - {"01"}:
        shutil.rmtree(dest / "episodes" / ep)
    path = dest / "episodes" / "01" / "storyboard.yaml"
    sb = yaml.safe_load(path.read_text())
    for act in sb["acts"]:
        lengths = SHOTS[act["kind"]]
        act["shots"] = act["shots"][:len(lengths)]
        for shot, d in zip(act["shots"], lengths, strict=True):
            shot["duration_s"] = d
    path.write_text(yaml.safe_dump(sb, allow_unicode=True, sort_keys=False))
    render_episode(dest, "01", options=OPTS)
    return base


def _feature(drop: list[str]) -> Feature:
    return Feature.model_validate({
        "id": "moods", "title": "Moods", "format": "short", "allow_short": True,
        "sources": [{"series": "lighthouse", "episode": "01", "drop": drop}]})


def _export_mood(f: Feature, base: Path) -> str | None:
    """The mood the export scores the source with (assemble_feature's own steps)."""
    (src,) = resolve_sources(f, base)
    frames = int(round(src.duration_s * src.fps))
    return episode_mood(src, kept_ranges(src, f.sources[0].drop, frames))


def _arc_mood(f: Feature, base: Path) -> str:
    (seg,) = [s for s in bay.arc(f, base) if s.kind == "episode"]
    return seg.mood


def test_arc_shows_the_mood_the_export_scores_after_a_drop(coast):
    base = coast
    whole, trimmed = _feature([]), _feature(["cold_open"])
    # the fixture does what it says: the drop changes the longest act, and so the mood
    assert _export_mood(whole, base) == "mysterious"
    assert _export_mood(trimmed, base) == "tense"
    for f in (whole, trimmed):
        assert _arc_mood(f, base) == bay.mood_of(_export_mood(f, base))[0]
    # the bay's episode_mood is the same rule: over all the master, or over kept ranges
    assert bay.episode_mood(base / "lighthouse", "01") == "mysterious"
    rs = bay.timing(trimmed, base).ranges[0]
    assert bay.episode_mood(base / "lighthouse", "01", rs) == "tense"
    assert bay.episode_mood(base / "lighthouse", "02") is None  # not rendered


def test_one_timing_serves_a_refresh(coast):
    base = coast
    f = _feature(["cold_open"])
    tm = bay.timing(f, base)
    assert bay.arc(f, base, timing=tm) == bay.arc(f, base)
    assert bay.running_time(f, base, timing=tm) == bay.running_time(f, base)
    assert bay.missing_sources(f, base, timing=tm) == []
    with pytest.raises(ValueError, match="not that of feature"):
        bay.arc(_feature([]), base, timing=tm)
