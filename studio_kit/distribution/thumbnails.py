"""Thumbnail candidates from a master: frames scored, the best few written as PNGs.

Candidates are frames of *shots* (not title/act/hook cards) sampled a few times a second,
never inside a transition region of the timeline (an overlap between two items, an opening
or closing fade) and never within a few frames of a cut. Each is scored on sharpness
(variance of the Laplacian), faces present (the QC detector, ``qc.detect.detect_faces``)
and exposure; a near-black frame is rejected outright. One thumbnail per shot at most, so
the few offered differ.

A title can be drawn on a thumbnail (``title=`` / ``draw_title``): white text with a dark
outline and a soft drop shadow (readable on any picture: the outline gives the contrast
the background may not), wrapped to the frame, in the band - bottom, top, or middle - that
keeps clear of every face box (the QC detector on the thumbnail itself, plus any boxes
given); if every band would touch a face, the one touching least, marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from ..qc.detect import detect_faces
from .reframe import Box, CropPath

#: mean luma (0-255) under which a frame counts as black
BLACK_LUMA = 24.0
#: candidate frames per second
SAMPLES_PER_S = 4.0
#: frames kept clear of a cut
CUT_GUARD = 3


class TitleStyle(BaseModel):
    """How a thumbnail title looks (fractions of the thumbnail)."""

    text_height: float = Field(0.085, gt=0, description="Font size / min(width, height).")
    max_width: float = Field(0.9, gt=0, le=1, description="Widest line / width.")
    max_lines: int = Field(3, ge=1)
    margin: float = Field(0.05, ge=0, lt=0.5, description="Band distance from the edge / height.")
    face_pad: float = Field(0.03, ge=0, description="Clearance around a face / height.")
    fg: tuple[int, int, int] = (255, 255, 255)
    outline: tuple[int, int, int] = (0, 0, 0)
    shadow: tuple[int, int, int, int] = (0, 0, 0, 170)


class TitlePlacement(BaseModel):
    text: str
    lines: list[str]
    position: Literal["bottom", "top", "middle"]
    box: tuple[int, int, int, int] = Field(description="x0, y0, x1, y1 of the drawn text.")
    font_px: int
    overlaps_face: bool = False
    faces: list[Box] = Field(default_factory=list, description="The boxes kept clear.")


class Thumbnail(BaseModel):
    path: str
    frame: int
    time_s: float
    shot_id: str
    score: float
    sharpness: float
    faces: int
    luma: float
    title: TitlePlacement | None = None


def _title_metrics(size: int) -> tuple[int, int]:
    return max(1, size // 9), max(1, size // 5)  # outline width, line gap (pixels)


def place_title(title: str, width: int, height: int, faces: Sequence[Box],
                style: TitleStyle | None = None) -> TitlePlacement:
    """Where ``title`` goes on a ``width`` x ``height`` thumbnail, clear of ``faces``
    (pixel boxes): bottom, else top, else middle; the font shrinks (to 4 steps) until the
    wrapped title fits ``max_lines``."""
    from PIL import Image, ImageDraw

    from .captions_burn import _font, _touches, _wrap

    style = style or TitleStyle()
    text = " ".join(title.split())
    if not text:
        raise ValueError("the title is empty")
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    for shrink in range(5):
        size = max(8, int(round(min(width, height) * style.text_height * 0.85 ** shrink)))
        stroke, gap = _title_metrics(size)
        font = _font(size)
        lines = _wrap([text], font, style.max_width * width - 2 * stroke)
        if len(lines) <= style.max_lines:
            break
    boxes = [draw.textbbox((0, 0), ln, font=font, stroke_width=stroke) for ln in lines]
    w = int(min(width, max(b[2] - b[0] for b in boxes)))
    h = int(sum(b[3] - b[1] for b in boxes) + gap * (len(lines) - 1))
    x0 = (width - w) // 2
    m = int(round(style.margin * height))
    bands = {"bottom": (x0, height - m - h, x0 + w, height - m),
             "top": (x0, m, x0 + w, m + h),
             "middle": (x0, (height - h) // 2, x0 + w, (height - h) // 2 + h)}
    pad = style.face_pad * height
    hits = {k: sum(_touches(b, f, pad) for f in faces) for k, b in bands.items()}
    pos = next((k for k in bands if hits[k] == 0), None)
    if pos is None:
        pos = min(bands, key=lambda k: hits[k])
    return TitlePlacement(text=text, lines=lines, position=pos, box=bands[pos], font_px=size,
                          overlaps_face=hits[pos] > 0,
                          faces=[tuple(float(v) for v in f) for f in faces])


def draw_title(img, title: str, *, faces: Sequence[Box] | None = None,
               style: TitleStyle | None = None):
    """``img`` (PIL) with ``title`` drawn clear of the faces: the faces the QC detector
    finds on ``img`` plus ``faces``. Returns (new RGB image, ``TitlePlacement``)."""
    from PIL import Image, ImageDraw, ImageFilter

    from .captions_burn import _font

    style = style or TitleStyle()
    base = img.convert("RGB")
    found = detect_faces(np.asarray(base), min_size=8)
    boxes = [*found, *(faces or [])]
    place = place_title(title, base.width, base.height, boxes, style)
    size = place.font_px
    stroke, gap = _title_metrics(size)
    font = _font(size)
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    spots = []
    y = place.box[1]
    for ln in place.lines:
        b = draw.textbbox((0, 0), ln, font=font, stroke_width=stroke)
        spots.append((((base.width - (b[2] - b[0])) / 2 - b[0], y - b[1]), ln))
        y += b[3] - b[1] + gap
    off = max(1, size // 14)
    shadow = Image.new("RGBA", base.size, (0, 0, 0, 0))
    sd = ImageDraw.Draw(shadow)
    for (x, yy), ln in spots:
        sd.text((x + off, yy + off), ln, font=font, fill=style.shadow, stroke_width=stroke,
                stroke_fill=style.shadow)
    shadow = shadow.filter(ImageFilter.GaussianBlur(max(1, size // 16)))
    out = Image.alpha_composite(base.convert("RGBA"), shadow)
    d = ImageDraw.Draw(out)
    for (x, yy), ln in spots:
        d.text((x, yy), ln, font=font, fill=style.fg, stroke_width=stroke,
               stroke_fill=style.outline)
    return out.convert("RGB"), place


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
                      stem: str = "thumb", title: str | None = None,
                      title_style: TitleStyle | None = None) -> list[Thumbnail]:
    """The ``n`` best candidate frames (one per shot), written as PNGs (cropped to the
    deliverable's framing when ``crop`` is given, scaled to ``size``; with ``title``
    drawn on, clear of the faces: ``draw_title``)."""
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
        place = None
        if title and title.strip():
            img, place = draw_title(img, title, style=title_style)
        path = out_dir / f"{stem}-{len(chosen) + 1}.png"
        import io

        buf = io.BytesIO()
        img.save(buf, format="PNG")
        atomic_write_bytes(path, buf.getvalue())
        chosen.append(Thumbnail(path=str(path), frame=i, time_s=round(i / float(timeline.fps), 4),
                                shot_id=sid, score=round(score, 4), sharpness=round(sharp, 2),
                                faces=faces, luma=round(luma, 2), title=place))
        if len(chosen) >= n:
            break
    return chosen
