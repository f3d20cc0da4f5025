"""Every TransitionKind as the assembler renders it, checked on DECODED frames (picture) or
on the conformed sound (J/L-cuts): a storyboard with the transition -> timeline ->
assembled MP4 decoded with PyAV; audio through the audio plan and the conform."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from studio_kit.audio.timing import plan_timing
from studio_kit.edit.assemble import assemble
from studio_kit.edit.synth import make_clip
from studio_kit.edit.timeline import timeline_from_storyboard
from studio_kit.models import Act, Shot, Storyboard, Transition
from studio_kit.models import TransitionKind as K
from studio_kit.pipeline.conform import conform

W, H, FPS = 160, 90, Fraction(24)
RED, BLUE = np.array([200, 30, 30]), np.array([30, 40, 200])


@pytest.fixture(scope="module")
def clips(artifacts_dir: Path) -> dict[str, Path]:
    d = artifacts_dir / "transitions" / "clips"
    return {"a": make_clip(d / "red.mp4", seconds=2, width=W, height=H, source="color",
                           colour="#c81e1e"),
            "b": make_clip(d / "blue.mp4", seconds=2, width=W, height=H, source="color",
                           colour="#1e28c8")}


def board(kind: K, seconds: float | None = None, a_s: float = 2.0, b_s: float = 2.0,
          lines: bool = False) -> Storyboard:
    from studio_kit.models import DialogueLine

    said = [DialogueLine(character="ana", text="hello there")] if lines else []
    return Storyboard(episode="01", title_card=False, acts=[Act(id="a1", shots=[
        Shot(id="a", scene="s", duration_s=a_s, dialogue=said,
             transition=Transition(kind=kind, duration_s=seconds)),
        Shot(id="b", scene="s", duration_s=b_s, dialogue=said)])])


def render(kind: K, clips, artifacts_dir: Path, seconds: float | None = None):
    tl = timeline_from_storyboard(board(kind, seconds), clips, fps=FPS, width=W, height=H)
    res = assemble(tl, artifacts_dir / "transitions" / f"{kind.value}.mp4")
    with av.open(res.path) as c:
        frames = np.stack([f.reformat(format="rgb24", src_colorspace="ITU709",
                                      dst_colorspace="ITU709", src_color_range="MPEG",
                                      dst_color_range="JPEG").to_ndarray()
                           for f in c.decode(video=0)]).astype(float)
    assert len(frames) == res.frames
    return res, frames


def mean(frame: np.ndarray) -> np.ndarray:
    return frame.reshape(-1, 3).mean(axis=0)


def near(frame: np.ndarray, rgb: np.ndarray, tol: float = 14) -> bool:
    return bool(np.all(np.abs(mean(frame) - rgb) < tol))


@pytest.mark.parametrize("kind", [K.cut, K.match_cut])
def test_cut_and_match_cut_change_picture_on_one_frame(kind, clips, artifacts_dir):
    res, frames = render(kind, clips, artifacts_dir)
    cut = res.shot_times["b"].start_frame
    assert cut == 48 and len(frames) == 96  # no overlap: the shots end to end
    assert near(frames[cut - 1], RED) and near(frames[cut], BLUE)
    # every frame is one shot or the other: nothing in between
    assert all(near(f, RED) or near(f, BLUE) for f in frames)


def test_dissolve_middle_frame_is_the_blend(clips, artifacts_dir):
    res, frames = render(K.dissolve, clips, artifacts_dir, 1.0)  # 24 frames of overlap
    start = res.shot_times["b"].start_frame
    assert len(frames) == 96 - 24 and start == 48 - 24
    mid = mean(frames[start + 12])
    assert np.allclose(mid, (RED + BLUE) / 2, atol=14), mid
    quarter = mean(frames[start + 5])  # t = 6/25: still mostly red
    assert quarter[0] > mid[0] + 30 and quarter[2] < mid[2] - 30


def test_fade_goes_through_black(clips, artifacts_dir):
    res, frames = render(K.fade, clips, artifacts_dir, 1.0)
    start = res.shot_times["b"].start_frame
    luma = frames.mean(axis=(1, 2, 3))
    darkest = int(np.argmin(luma))
    assert start + 10 <= darkest <= start + 13  # the middle of the 24-frame overlap
    assert mean(frames[darkest]).max() < 12  # black
    assert near(frames[start - 1], RED) and near(frames[start + 24], BLUE)


def test_dip_to_white_peaks_white(clips, artifacts_dir):
    # 13 frames: the middle one (t = 7/14) is the dip's peak (an even count peaks between
    # two frames, each 1/(n+1) short of full white)
    res, frames = render(K.dip_to_white, clips, artifacts_dir, 13 / 24)
    start = res.shot_times["b"].start_frame
    luma = frames.mean(axis=(1, 2, 3))
    brightest = int(np.argmax(luma))
    assert brightest == start + 6
    assert mean(frames[brightest]).min() > 243  # white
    assert near(frames[start - 1], RED) and near(frames[start + 13], BLUE)


def test_wipe_edge_is_at_the_transition_fraction(clips, artifacts_dir):
    res, frames = render(K.wipe, clips, artifacts_dir, 1.0)
    start, n = res.shot_times["b"].start_frame, 24
    for j in (5, 11, 17):
        f = frames[start + j]
        blue_cols = f[:, :, 2].mean(axis=0) > 115  # columns already showing shot b
        expected = (j + 1) / (n + 1)
        assert abs(blue_cols.mean() - expected) <= 2 / W + 0.01, (j, blue_cols.mean())
        # b comes in from the left: every blue column is left of every red one
        assert blue_cols[: int(blue_cols.sum())].all()


def _sound(kind: K, seconds: float, a_s: float, lines_of: dict[str, float]):
    """The audio plan and conform of two shots with one line each: shot a's line on the
    left channel, b's on the right, through plan_timing (J/L offsets) and conform."""
    sb = board(kind, seconds, a_s=a_s, b_s=2.0, lines=True)
    timings, starts = plan_timing(sb, {k: [(v, False)] for k, v in lines_of.items()},
                                  fps=24)
    sr = 8000
    total = timings[-1].end_s
    x = np.zeros((int(round(total * sr)) + sr, 2), np.float32)
    for ch, sid in enumerate(("a", "b")):
        a0 = int(round(starts[(sid, 0)] * sr))
        x[a0:a0 + int(lines_of[sid] * sr), ch] = 0.5
    spans = [(t.shot_id, t.start_s, t.end_s) for t in timings]
    tl = timeline_from_storyboard(sb, {}, durations={t.shot_id: t.duration_s for t in timings},
                                  fps=FPS, width=W, height=H)
    times = tl.shot_times()
    y = conform(x, spans, {k: v.start_s for k, v in times.items()}, tl.duration_s, sr)
    return y, sr, times


def test_j_cut_next_shots_sound_starts_before_its_picture():
    y, sr, times = _sound(K.j_cut, 0.75, 2.0, {"a": 1.0, "b": 1.0})
    b_picture = times["b"].start_s
    b_sound = np.flatnonzero(np.abs(y[:, 1]) > 0.1)[0] / sr
    # b's line is 0.25 s (lead-in) into its sound, which leads the picture by 0.75 s
    assert b_sound == pytest.approx(b_picture - 0.5, abs=0.01)
    assert times["b"].audio_start_s == pytest.approx(b_picture - 0.75, abs=1 / 24)
    # the picture is a cut: b's picture starts where a's ends
    assert times["b"].start_frame == times["a"].end_frame
    # without the J-cut the line starts after the picture
    y0, _, t0 = _sound(K.cut, 0.0, 2.0, {"a": 1.0, "b": 1.0})
    assert np.flatnonzero(np.abs(y0[:, 1]) > 0.1)[0] / sr > t0["b"].start_s


def test_l_cut_this_shots_sound_trails_into_the_next_picture():
    y, sr, times = _sound(K.l_cut, 0.75, 1.0, {"a": 1.5, "b": 0.5})
    b_picture = times["b"].start_s
    a_sound_end = np.flatnonzero(np.abs(y[:, 0]) > 0.1)[-1] / sr
    assert a_sound_end > b_picture + 0.3  # a's line runs on under b's picture
    assert times["a"].audio_end_s == pytest.approx(times["a"].end_s + 0.75, abs=1 / 24)
    assert times["b"].start_frame == times["a"].end_frame  # a picture cut
    y0, _, t0 = _sound(K.cut, 0.0, 1.0, {"a": 1.5, "b": 0.5})
    assert np.flatnonzero(np.abs(y0[:, 0]) > 0.1)[-1] / sr < t0["b"].start_s
