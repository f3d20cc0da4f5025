"""Reframing and burned captions on footage no engine drew: a person walking across the
frame (bench.distribution_bench.moving_face_clip, 640x360, seeded), the subject found by
OpenCV's face detector (the QC detector), the faces checked on decoded frames."""

from __future__ import annotations

import av
import numpy as np
import pytest

from bench.distribution_bench import clip_timeline, moving_face_clip
from studio_kit.distribution.captions_burn import (
    BurnPlan,
    output_faces,
    plan_burn,
)
from studio_kit.distribution.deliver import encode
from studio_kit.distribution.platforms import platform
from studio_kit.distribution.reframe import crop_path, crop_size, subject_track
from studio_kit.edit.captions import Caption
from studio_kit.qc.detect import detect_faces

W, H, FPS = 640, 360, 24


def _frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def walking(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("walk")
    clip = tmp / "walk.mp4"
    moving_face_clip(clip, seconds=6.0, width=W, height=H, top=40)
    tl = clip_timeline(6 * FPS, W, H)
    spec = platform("shorts")
    cw, ch = crop_size(W, H, spec.width, spec.height)
    track = subject_track({"shots": []}, tl, None, clip)
    path = crop_path(track, tl, cw, ch, spec.max_pan)
    return clip, tl, path, _frames(clip)


def test_vertical_crop_keeps_the_detected_face_inside(walking) -> None:
    """Each decoded frame's face, as the detector finds it, is inside the 9:16 crop on
    >= 98 % of frames; the crop pans with the walk under the speed bound and holds still
    while the person stands."""
    _clip, _tl, path, frames = walking
    assert len(frames) == 6 * FPS
    found = inside = 0
    centres = []
    for n, rgb in enumerate(frames):
        faces = detect_faces(rgb, min_size=8)
        if not faces:
            continue
        b = faces[0]
        found += 1
        centres.append((b[0] + b[2]) / 2)
        x = path.x[n]
        inside += b[0] >= x - 0.5 and b[2] <= x + path.crop_w + 0.5
    assert found >= 0.9 * len(frames), found  # the detector sees the face on the clip
    assert max(centres) - min(centres) > W / 2  # the person crosses the frame
    assert inside / found >= 0.98, inside / found
    v = path.speeds_px_s()
    assert v.max() <= path.max_pan_px_s + 1e-6
    assert max(path.x) - min(path.x) > W / 3  # it pans with the walk
    stand = path.x[int(4.6 * FPS):int(5.9 * FPS)]  # standing at the right (4 s - 6 s)
    assert max(stand) - min(stand) <= 1


def _caption_mask(burned: np.ndarray, plain: np.ndarray) -> np.ndarray:
    return np.abs(burned.astype(int) - plain.astype(int)).max(axis=-1) > 90


@pytest.mark.parametrize("top", [40, 190])
def test_burned_captions_never_overlap_the_face(walking, tmp_path, top) -> None:
    """Captions burned into the 9:16 deliverable: where text was drawn (burned frame vs the
    same encode without captions) never meets the face box the detector finds on the
    master, mapped through the crop; with the face in the lower third they go to the top."""
    clip = tmp_path / "walk.mp4"
    moving_face_clip(clip, seconds=6.0, width=W, height=H, top=top)
    tl = clip_timeline(6 * FPS, W, H)
    spec = platform("shorts").model_copy(update={"width": 270, "height": 480})
    cw, ch = crop_size(W, H, spec.width, spec.height)
    path = crop_path(subject_track({"shots": []}, tl, None, clip), tl, cw, ch, spec.max_pan)
    caps = [Caption(start_s=0.5, end_s=2.5, lines=["Where did you", "put the lamp?"]),
            Caption(start_s=3.0, end_s=5.5, lines=["Under the stairs, where it always is."])]
    faces = output_faces(path, path.subject, W, H, spec.width, spec.height)
    plan = plan_burn(caps, spec.width, spec.height, faces, FPS)
    want = "bottom" if top == 40 else "top"
    assert [c.position for c in plan.cues] == [want, want]
    assert not any(c.overlaps_face for c in plan.cues)
    BurnPlan.model_validate_json(plan.model_dump_json())
    encode(clip, spec, tmp_path / "plain.mp4", gain_db=0, path=path, duration_s=6.0)
    encode(clip, spec, tmp_path / "burned.mp4", gain_db=0, path=path, duration_s=6.0,
           burn=plan)
    master, plain, burned = _frames(clip), _frames(tmp_path / "plain.mp4"), _frames(
        tmp_path / "burned.mp4")
    assert len(plain) == len(burned) == len(master)
    sx, sy = spec.width / cw, spec.height / ch
    drawn = checked = 0
    for n in range(0, len(master), 2):
        mask = _caption_mask(burned[n], plain[n])
        t = n / FPS
        on = any(c.start_s + 0.05 < t < c.end_s - 0.05 for c in plan.cues)
        if not any(c.start_s - 0.05 < t < c.end_s + 0.05 for c in plan.cues):
            assert mask.sum() < 20, (n, int(mask.sum()))  # nothing drawn between cues
        if not on:
            continue
        drawn += mask.sum() > 100
        ys, xs = np.nonzero(mask)
        text = (xs.min(), ys.min(), xs.max(), ys.max())
        if want == "top":
            assert text[3] < spec.height / 2
        else:
            assert text[1] > spec.height / 2
        faces_found = detect_faces(master[n], min_size=8)
        if not faces_found:
            continue
        b = faces_found[0]
        fb = ((b[0] - path.x[n]) * sx, (b[1] - path.y[n]) * sy, (b[2] - path.x[n]) * sx,
              (b[3] - path.y[n]) * sy)
        checked += 1
        x0, y0, x1, y1 = (int(max(0, v)) for v in fb)
        assert not mask[y0:y1 + 1, x0:x1 + 1].any(), (n, fb, text)
    assert drawn >= 0.9 * sum(1 for n in range(0, len(master), 2)
                              if any(c.start_s + 0.05 < n / FPS < c.end_s - 0.05
                                     for c in plan.cues))
    assert checked > 20


def test_tracked_while_encoded_gives_the_same_path_and_pictures(walking, tmp_path) -> None:
    """``reframe_stream.reframe_encode`` (one decode: the subject tracked while ffmpeg
    encodes) gives the crop path ``crop_path(subject_track(...))`` gives and the pictures of
    ``deliver.encode`` along it; cut short by the platform's duration, the path still
    covers every master frame."""
    from studio_kit.distribution.reframe_stream import reframe_encode

    clip, tl, path, _frames_master = walking
    spec = platform("shorts").model_copy(update={"width": 270, "height": 480})
    cw, ch = crop_size(W, H, spec.width, spec.height)
    batch = crop_path(subject_track({"shots": []}, tl, None, clip), tl, cw, ch, spec.max_pan)
    streamed = reframe_encode(clip, tl, {"shots": []}, None, spec, tmp_path / "s.mp4",
                              crop_w=cw, crop_h=ch, gain_db=0, duration_s=6.0)
    assert streamed.model_dump() == batch.model_dump()
    encode(clip, spec, tmp_path / "e.mp4", gain_db=0, path=batch, duration_s=6.0)
    a, b = _frames(tmp_path / "s.mp4"), _frames(tmp_path / "e.mp4")
    assert len(a) == len(b) == 6 * FPS
    assert max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(a, b,
                                                                               strict=True)) <= 2
    with av.open(str(tmp_path / "s.mp4")) as c:
        assert len(c.streams.audio) == 1
    short = reframe_encode(clip, tl, {"shots": []}, None, spec, tmp_path / "short.mp4",
                           crop_w=cw, crop_h=ch, gain_db=0, duration_s=2.5)
    assert short.model_dump() == batch.model_dump()
    assert len(_frames(tmp_path / "short.mp4")) == int(2.5 * FPS)
