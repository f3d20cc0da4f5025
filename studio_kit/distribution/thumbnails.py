"""Thumbnail candidates from a master: frames scored, the best few written as PNGs.

Candidates are frames of *shots* (not title/act/hook cards) sampled a few times a second,
never inside a transition region of the timeline (an overlap between two items, an opening
or closing fade) and never within a few frames of a cut. Each is scored on sharpness
(variance of the Laplacian), faces present (the QC detector, ``qc.detect.detect_faces``)
and exposure; a near-black frame is rejected outright. One thumbnail per shot at most, so
the few offered differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel

from ..qc.detect import detect_faces
from .reframe import CropPath

#: mean luma (0-255) under which a frame counts as black
BLACK_LUMA = 24.0
#: candidate frames per second
SAMPLES_PER_S = 4.0
#: frames kept clear of a cut
CUT_GUARD = 3


class Thumbnail(BaseModel):
    path: str
    frame: int
    time_s: float
    shot_id: str
    score: float
    sharpness: float
    faces: int
    luma: float


def excluded_frames(timeline) -> set[int]:
    """Frames inside transition regions (overlaps, fades) or close to a cut."""
    items = sorted(timeline.items, key=lambda it: it.record_start)
    out: set[int] = set()
    for i, it in enumerate(items):
        out.update(range(it.record_start, it.record_start + CUT_GUARD))
        out.update(range(it.record_end - CUT_GUARD, it.record_end))
        if i + 1 < len(items) and items[i + 1].record_start < it.record_end:
            out.update(range(items[i + 1].record_start, it.record_end))
        if it.transition.fades_out:
            out.update(range(it.record_end - it.transition.frames, it.record_end))
        if i == 0 and it.transition.kind.value == "fade":  # fade up from black at the head
            out.update(range(it.record_start, it.record_start + it.transition.frames))
    return out


def candidates(timeline) -> dict[int, str]:
    """Candidate frame -> shot id."""
    from ..edit.timeline import ItemKind

    bad = excluded_frames(timeline)
    step = max(1, int(round(float(timeline.fps) / SAMPLES_PER_S)))
    out: dict[int, str] = {}
    for it in timeline.items:
        if it.kind != ItemKind.shot:
            continue
        for n in range(it.record_start, it.record_end, step):
            if n not in bad:
                out[n] = it.id
    return out


def score_frame(rgb: np.ndarray) -> tuple[float, float, int, float]:
    """(score, sharpness, faces, mean luma); score 0 for a black frame."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    luma = float(gray.mean())
    sharp = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    faces = len(detect_faces(rgb, min_size=8))
    if luma < BLACK_LUMA:
        return 0.0, sharp, faces, luma
    exposure = 1.0 - abs(luma - 118.0) / 118.0
    score = np.log1p(sharp) + 2.0 * min(faces, 2) + 2.0 * exposure
    return float(score), sharp, faces, luma


def choose_thumbnails(master: str | Path, timeline, out_dir: str | Path, *, n: int = 3,
                      crop: CropPath | None = None, size: tuple[int, int] | None = None,
                      stem: str = "thumb") -> list[Thumbnail]:
    """The ``n`` best candidate frames (one per shot), written as PNGs (cropped to the
    deliverable's framing when ``crop`` is given, scaled to ``size``)."""
    import av
    from PIL import Image

    from ..store.yamlio import atomic_write_bytes

    cands = candidates(timeline)
    scored: list[tuple[float, int, str, np.ndarray, tuple]] = []
    if cands:
        last = max(cands)
        with av.open(str(master)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i in cands:
                    rgb = f.to_ndarray(format="rgb24")
                    if crop is not None:
                        x, y = crop.x[min(i, len(crop.x) - 1)], crop.y[min(i, len(crop.y) - 1)]
                        rgb = rgb[y:y + crop.crop_h, x:x + crop.crop_w]
                    s = score_frame(rgb)
                    if s[0] > 0:
                        scored.append((s[0], i, cands[i], rgb, s))
                if i >= last:
                    break
    scored.sort(key=lambda r: (-r[0], r[1]))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen: list[Thumbnail] = []
    used: set[str] = set()
    for score, i, sid, rgb, (_, sharp, faces, luma) in scored:
        if sid in used:
            continue
        used.add(sid)
        img = Image.fromarray(rgb)
        if size is not None:
            img = img.resize(size, Image.Resampling.LANCZOS)
        path = out_dir / f"{stem}-{len(chosen) + 1}.png"
        import io

        buf = io.BytesIO()
        img.save(buf, format="PNG")
        atomic_write_bytes(path, buf.getvalue())
        chosen.append(Thumbnail(path=str(path), frame=i, time_s=round(i / float(timeline.fps), 4),
                                shot_id=sid, score=round(score, 4), sharpness=round(sharp, 2),
                                faces=faces, luma=round(luma, 2)))
        if len(chosen) >= n:
            break
    return chosen
