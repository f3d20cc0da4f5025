"""Cut-downs (studio_kit/distribution/cutdowns.py): a trailer of a target length from the
strongest shots (QC from the ledger + dialogue hooks) and a vertical clip, checked on
decoded durations. The same tiny render as tests/test_distribution.py (3 shots, 160x90)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from studio_kit.distribution import cutdowns as cd
from studio_kit.distribution.platforms import platform
from studio_kit.distribution.thumbnails import excluded_frames
from studio_kit.edit.timeline import Timeline
from studio_kit.errors import StudioError
from tests.test_distribution import approved, rendered  # noqa: F401 - module fixtures


def _decoded(path: str) -> tuple[int, float, float, tuple[int, int]]:
    """(video frames, video seconds, audio seconds, size) from decoding the file."""
    with av.open(path) as c:
        v = c.streams.video[0]
        rate = float(v.average_rate)
        frames = sum(1 for _ in c.decode(video=0))
        size = (v.codec_context.width, v.codec_context.height)
    with av.open(path) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
        sr = c.streams.audio[0].rate
    return frames, frames / rate, samples / sr, size


def _timeline(result) -> Timeline:
    return Timeline.model_validate_json(Path(result.timeline).read_text())


def _render_json(result) -> dict:
    return json.loads((Path(result.out_dir) / "render.json").read_text())


def test_shot_strength_reads_the_ledger_qc_and_dialogue_hooks(approved) -> None:  # noqa: F811
    project, result = approved
    render = _render_json(result)
    sb = project.storyboard("01")
    with project.ledger() as led:
        before = {s.shot_id: s for s in cd.shot_strengths(project, "01", render, led)}
        assert set(before) == {s["shot_id"] for s in render["shots"]}
        for sid, s in before.items():
            shot = sb.shot(sid)
            assert (s.hook >= cd.LINE_W) == bool(shot.dialogue)
            assert ("hook line" in s.why) == any(d.text.rstrip()[-1:] in "?!"
                                                 for d in shot.dialogue)
            assert 0 <= s.qc <= 1 and s.score == pytest.approx(s.qc + s.hook)
        # a failed scorer recorded for the kept take lowers that shot's QC strength
        sid = "s07-cafe-wide"
        rec = next(r for r in render["shots"] if r["shot_id"] == sid)
        led.qc_score(shot_id=sid, scorer="zz-test-scorer", score=0.0, passed=False,
                     episode="01", asset=rec["asset"])
        after = {s.shot_id: s for s in cd.shot_strengths(project, "01", render, led)}
    assert after[sid].qc < before[sid].qc
    assert "of scorers passed" in after[sid].why[0]
    assert all(after[k].qc == before[k].qc for k in before if k != sid)


def test_trailer_is_the_target_length_from_the_strongest_shots(approved, tmp_path  # noqa: F811
                                                               ) -> None:
    project, result = approved
    tl = _timeline(result)
    fps = float(tl.fps)
    cut = cd.trailer(project, "01", tmp_path, target_s=3.0, platform_name="web")
    frames, vsec, asec, size = _decoded(cut.video)
    spec = platform("web")
    assert size == (spec.width, spec.height)
    assert frames == round(3.0 * fps) and cut.duration_s == pytest.approx(3.0)
    assert abs(asec - 3.0) < 0.05, asec
    # pieces: in story order, from clean frames only (no transition, not next to a cut)
    bad = excluded_frames(tl)
    starts = [p.start for p in cut.pieces]
    assert starts == sorted(starts) and len(cut.pieces) >= 2
    for p in cut.pieces:
        assert not bad.intersection(range(p.start, p.end)), p
    # the strongest shot is in it, and no piece is longer than a third (1 s) unless needed
    best = max(cut.strengths, key=lambda s: s.score)
    assert best.shot_id in {p.shot_id for p in cut.pieces}
    assert json.loads(Path(cut.record).read_text())["duration_s"] == pytest.approx(3.0)
    text = Path(cut.captions["en"]).read_text()
    assert text.startswith("WEBVTT")


def test_trailer_longer_than_the_shots_is_every_clean_frame(approved, tmp_path  # noqa: F811
                                                            ) -> None:
    project, result = approved
    tl = _timeline(result)
    clean = sum(b - a for a, b in cd.clean_ranges(tl).values())
    cut = cd.trailer(project, "01", tmp_path, target_s=30.0)
    frames, _vsec, asec, _ = _decoded(cut.video)
    assert frames == clean < 30 * float(tl.fps)
    assert abs(asec - frames / float(tl.fps)) < 0.05
    with pytest.raises(StudioError, match="trailer of -1 s"):
        cd.trailer(project, "01", tmp_path, target_s=-1)


def test_vertical_clip_is_60s_or_the_whole_short_episode(approved, tmp_path  # noqa: F811
                                                         ) -> None:
    project, result = approved
    tl = _timeline(result)
    spec = platform("shorts")
    whole = cd.vertical_clip(project, "01", tmp_path)  # the episode is under 60 s
    frames, vsec, asec, size = _decoded(whole.video)
    assert size == (spec.width, spec.height)
    assert frames == tl.total_frames and vsec <= 60
    assert abs(asec - vsec) < 0.1
    short = cd.vertical_clip(project, "01", tmp_path / "short", length_s=2.5,
                             burn_captions="en")
    frames, vsec, asec, size = _decoded(short.video)
    assert frames == round(2.5 * float(tl.fps)) and size == (spec.width, spec.height)
    cuts = {it.record_start for it in tl.items} | {
        min(it.record_start, tl.total_frames - frames) for it in tl.items}
    assert short.pieces[0].start in cuts
    assert short.burned_captions == "en"
