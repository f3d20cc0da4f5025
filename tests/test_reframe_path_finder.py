"""The reframe's crop path on the chroma grid under the speed bound, the face finder that
searches around the subject first, cards left centred, and the encode that skips the
Python decode when every subject is known (studio_kit/distribution/reframe*.py)."""

from __future__ import annotations

import numpy as np

from bench.distribution_bench import clip_timeline, person_patch
from studio_kit.distribution import reframe as rf
from studio_kit.distribution.platforms import platform
from studio_kit.edit.timeline import ItemKind, Timeline, TimelineItem

W, H, FPS = 640, 360, 24


def test_crop_path_is_on_the_chroma_grid_and_never_steps_past_the_bound() -> None:
    """A subject jumping across the frame: the follower runs at the bound, whose 9.33 px a
    frame rounded could step 10 px (240 px/s over 224); every x is even (where a 4:2:0
    crop sits) and every step at most the bound's whole even pixels."""
    tl = clip_timeline(96, W, H)
    spec = platform("shorts")
    cw, ch = rf.crop_size(W, H, spec.width, spec.height)
    track = [(20.0, 40.0, 80.0, 100.0)] * 24 + [(560.0, 40.0, 620.0, 100.0)] * 72
    path = rf.crop_path(track, tl, cw, ch, spec.max_pan)
    assert all(x % 2 == 0 for x in path.x)
    steps = np.abs(np.diff(path.x))
    vmax = spec.max_pan * W / FPS
    assert vmax % 1 > 0.3 and steps.max() == int(vmax) // 2 * 2  # 8: it ran at the bound
    assert path.speeds_px_s().max() <= path.max_pan_px_s
    assert path.x[-1] == W - cw  # and got there: the subject at the right edge


def _frames_with_people(n: int, xs, extra_at: int | None = None) -> list[np.ndarray]:
    """Luma at the detector's size (320x180): the engine's person (a ~40 px face) at x per
    sample, and from sample ``extra_at`` a bigger copy (a ~57 px face) on the left."""
    import cv2

    patch = cv2.cvtColor(person_patch(), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(patch, (108, 120), interpolation=cv2.INTER_AREA)
    big = cv2.resize(patch, (160, 178), interpolation=cv2.INTER_AREA)
    out = []
    for i in range(n):
        f = np.full((180, 320), 90, np.uint8)
        f[0:120, xs[i]:xs[i] + 108] = small
        if extra_at is not None and i >= extra_at:
            f[2:180, 0:160] = big
        out.append(f)
    return out


def test_face_finder_searches_around_the_subject_and_keeps_it(monkeypatch) -> None:
    calls = {"whole": 0, "around": 0}
    real = rf.faces_in

    def counting(eq, min_size=16, max_size=None):
        calls["around" if max_size else "whole"] += 1
        return real(eq, min_size, max_size)

    monkeypatch.setattr(rf, "faces_in", counting)
    xs = [170 + 3 * i for i in range(12)]  # walking right
    frames = _frames_with_people(12, xs, extra_at=4)
    finder = rf.FaceFinder(samples_per_s=6.0)  # a whole-frame search every 2 s = 12 samples
    boxes = [finder.find(f) for f in frames]
    assert all(b is not None for b in boxes)
    # the walking subject is kept: the bigger face entering at sample 4 does not take over
    for x, b in zip(xs, boxes, strict=True):
        assert x <= (b[0] + b[2]) / 2 <= x + 108
    # the first sample and a window's rare miss search the whole frame; the rest a window
    assert calls["around"] == 11 and calls["whole"] <= 3
    # a reset (a cut) searches the whole frame again, and the bigger face is the subject
    whole = calls["whole"]
    b = finder.find(frames[-1], reset=True)
    assert calls["whole"] == whole + 1 and (b[0] + b[2]) / 2 < 160
    # the whole frame alone would have taken the bigger face
    assert real(rf.face_contrast(frames[5]), 8)[0][0] < 160


def test_face_finder_falls_back_to_the_whole_frame_when_the_subject_jumps() -> None:
    frames = _frames_with_people(2, [10, 200])
    finder = rf.FaceFinder(samples_per_s=6.0)
    a, b = finder.find(frames[0]), finder.find(frames[1])
    assert a[2] < 118 and b[0] > 200


def test_cards_are_not_searched_and_engine_shots_leave_nothing_to_detect() -> None:
    items = [TimelineItem(kind=ItemKind.title_card, id="card", frames=24, record_start=0,
                          record_end=24, audio_end=24, text="Title"),
             TimelineItem(kind=ItemKind.shot, id="s1", frames=48, record_start=24,
                          record_end=72, audio_end=72)]
    tl = Timeline(episode="01", fps_num=FPS, width=W, height=H, items=items)
    track, to_detect = rf.planned_track({"shots": []}, tl, None)
    assert [s.item.id for s in to_detect] == ["s1"]  # footage no engine drew: detected
    assert track[:24] == [None] * 24  # the card: no subject, the crop centred


def test_an_engine_episode_is_reframed_without_decoding_in_python(monkeypatch,
                                                                    tmp_path) -> None:
    """Every subject known (no span for the detector): ``reframe_encode`` hands the path
    to ffmpeg's sendcmd pass (``deliver.encode``) and never opens the master in PyAV."""
    import av

    from bench.distribution_bench import moving_face_clip
    from studio_kit.distribution import reframe_stream

    clip = tmp_path / "c.mp4"
    moving_face_clip(clip, seconds=1.0, audio=False)
    tl = clip_timeline(24, W, H)
    box = (300.0, 60.0, 360.0, 120.0)
    monkeypatch.setattr(reframe_stream, "planned_track", lambda *a: ([box] * 24, []))
    opened = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    spec = platform("shorts")
    cw, ch = rf.crop_size(W, H, spec.width, spec.height)
    path = reframe_stream.reframe_encode(clip, tl, {"shots": []}, None, spec,
                                         tmp_path / "out.mp4", crop_w=cw, crop_h=ch,
                                         gain_db=0, duration_s=1.0)
    assert path == rf.crop_path([box] * 24, tl, cw, ch, spec.max_pan)
    assert not [a for a in opened if str(a[0]) == str(clip)]
    with real_open(str(tmp_path / "out.mp4")) as c:
        s = c.streams.video[0]
        assert (s.width, s.height) == (spec.width, spec.height)
