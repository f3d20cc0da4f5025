"""Captions burned into a deliverable, placed clear of the reframed subject's face.

Each caption (one language, the render's SRT) is drawn once as an RGBA image: white text
with a dark outline on a translucent rounded box, wrapped to the frame's safe width, sized
from the output frame. Its place is chosen per cue from where the subject's face is in the
*deliverable's* frame (the crop path's subject boxes mapped through the crop and scale):
the lower band by default; the upper band when, on any frame of the cue, the face is in
the lower third or would touch the lower band. If both bands would touch the face (a face
filling the frame), the band touching it on fewer frames is kept and the cue is marked.

The images are overlaid in the deliverable's one ffmpeg pass (``deliver.encode``:
``overlay ... enable='between(t, start, end)'`` per cue, after the crop and scale).

    plan = plan_burn(captions, 1080, 1920, faces, fps=24)  # where each cue goes
    burn_images(plan, tmp_dir)                             # the PNGs encode() overlays
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..edit.captions import Caption
from .reframe import Box, CropPath


class CaptionStyle(BaseModel):
    """How burned captions look (fractions of the output frame)."""

    text_height: float = Field(0.052, gt=0, description="Font size / min(width, height).")
    max_width: float = Field(0.88, gt=0, le=1, description="Widest line / frame width.")
    margin: float = Field(0.06, ge=0, lt=0.5, description="Band distance from the edge / height.")
    face_pad: float = Field(0.02, ge=0, description="Clearance around the face / height.")
    fg: tuple[int, int, int, int] = (255, 255, 255, 255)
    outline: tuple[int, int, int, int] = (0, 0, 0, 255)
    box: tuple[int, int, int, int] = (0, 0, 0, 150)


class BurnedCue(BaseModel):
    start_s: float
    end_s: float
    lines: list[str]
    position: Literal["bottom", "top"]
    box: tuple[int, int, int, int] = Field(description="x0, y0, x1, y1 in output pixels.")
    overlaps_face: bool = False
    image: str | None = None


class BurnPlan(BaseModel):
    language: str
    width: int
    height: int
    cues: list[BurnedCue] = Field(default_factory=list)


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _wrap(text_lines: list[str], font, max_w: float) -> list[str]:
    from PIL import Image, ImageDraw

    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    out: list[str] = []
    for line in text_lines:
        words = line.split()
        cur = ""
        for w in words:
            trial = f"{cur} {w}".strip()
            if cur and draw.textlength(trial, font=font) > max_w:
                out.append(cur)
                cur = w
            else:
                cur = trial
        if cur:
            out.append(cur)
    return out or [""]


def _metrics(width: int, height: int, style: CaptionStyle) -> tuple[int, int, int, int]:
    size = max(8, int(round(min(width, height) * style.text_height)))
    stroke = max(1, size // 12)
    pad = max(2, size // 3)
    gap = max(1, size // 4)
    return size, stroke, pad, gap


def cue_size(lines: list[str], width: int, height: int, style: CaptionStyle
             ) -> tuple[list[str], int, int]:
    """(wrapped lines, image width, image height) of one caption."""
    from PIL import Image, ImageDraw

    size, stroke, pad, gap = _metrics(width, height, style)
    font = _font(size)
    wrapped = _wrap(lines, font, style.max_width * width - 2 * pad)
    draw = ImageDraw.Draw(Image.new("L", (1, 1)))
    boxes = [draw.textbbox((0, 0), ln, font=font, stroke_width=stroke) for ln in wrapped]
    w = max(b[2] - b[0] for b in boxes) + 2 * pad
    h = sum(b[3] - b[1] for b in boxes) + gap * (len(wrapped) - 1) + 2 * pad
    return wrapped, min(int(w), width) // 2 * 2 + 2, int(h) // 2 * 2 + 2


def cue_image(cue: BurnedCue, width: int, height: int, style: CaptionStyle | None = None):
    """The caption as an RGBA PIL image of its box's size."""
    from PIL import Image, ImageDraw

    style = style or CaptionStyle()
    size, stroke, pad, gap = _metrics(width, height, style)
    font = _font(size)
    w, h = cue.box[2] - cue.box[0], cue.box[3] - cue.box[1]
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=pad, fill=style.box)
    y = pad
    for ln in cue.lines:
        b = draw.textbbox((0, 0), ln, font=font, stroke_width=stroke)
        draw.text(((w - (b[2] - b[0])) / 2 - b[0], y - b[1]), ln, font=font, fill=style.fg,
                  stroke_width=stroke, stroke_fill=style.outline)
        y += b[3] - b[1] + gap
    return img


def output_faces(path: CropPath | None, subject: Sequence[Box | None], master_w: int,
                 master_h: int, out_w: int, out_h: int) -> list[Box | None]:
    """The subject's face box per frame in the deliverable's pixels (through the crop and
    the scale); None where there is none or it is outside the crop."""
    out: list[Box | None] = []
    for n, b in enumerate(subject):
        if b is None:
            out.append(None)
            continue
        if path is not None:
            x0, y0 = path.x[min(n, len(path.x) - 1)], path.y[min(n, len(path.y) - 1)]
            sx, sy = out_w / path.crop_w, out_h / path.crop_h
        else:
            x0 = y0 = 0
            sx, sy = out_w / master_w, out_h / master_h
        box = (max(0.0, (b[0] - x0) * sx), max(0.0, (b[1] - y0) * sy),
               min(float(out_w), (b[2] - x0) * sx), min(float(out_h), (b[3] - y0) * sy))
        out.append(box if box[2] > box[0] and box[3] > box[1] else None)
    return out


def _touches(a: tuple[int, int, int, int], b: Box, pad: float) -> bool:
    return not (b[2] + pad <= a[0] or b[0] - pad >= a[2] or b[3] + pad <= a[1]
                or b[1] - pad >= a[3])


def plan_burn(captions: Sequence[Caption], width: int, height: int,
              faces: Sequence[Box | None], fps: float, *, language: str = "en",
              limit_s: float | None = None, style: CaptionStyle | None = None) -> BurnPlan:
    """Where each caption goes: the lower band unless the face (``faces``: per output
    frame, output pixels) is in the lower third or touches it during the cue."""
    style = style or CaptionStyle()
    pad = style.face_pad * height
    cues: list[BurnedCue] = []
    for cap in captions:
        end = cap.end_s if limit_s is None else min(cap.end_s, limit_s)
        if end <= cap.start_s or not any(ln.strip() for ln in cap.lines):
            continue
        lines, w, h = cue_size(cap.lines, width, height, style)
        x0 = (width - w) // 2
        m = int(round(style.margin * height))
        bands = {"bottom": (x0, height - m - h, x0 + w, height - m),
                 "top": (x0, m, x0 + w, m + h)}
        first = max(0, int(cap.start_s * fps))
        last = min(len(faces), int(end * fps) + 2)
        during = [f for f in faces[first:last] if f is not None]
        low = any((f[1] + f[3]) / 2 >= height * 2 / 3 for f in during)
        hits = {k: sum(_touches(b, f, pad) for f in during) for k, b in bands.items()}
        order = ["top", "bottom"] if low else ["bottom", "top"]
        pos = next((k for k in order if hits[k] == 0), None)
        if pos is None:
            pos = min(order, key=lambda k: hits[k])
        cues.append(BurnedCue(start_s=round(cap.start_s, 3), end_s=round(end, 3), lines=lines,
                              position=pos, box=bands[pos], overlaps_face=hits[pos] > 0))
    return BurnPlan(language=language, width=width, height=height, cues=cues)


def burn_images(plan: BurnPlan, out_dir: str | Path, style: CaptionStyle | None = None
                ) -> BurnPlan:
    """Each cue's PNG written into ``out_dir`` (the plan returned with the file names)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cues = []
    for i, cue in enumerate(plan.cues):
        dest = out_dir / f"cue-{i:04d}.png"
        buf = io.BytesIO()
        cue_image(cue, plan.width, plan.height, style).save(buf, format="PNG")
        dest.write_bytes(buf.getvalue())
        cues.append(cue.model_copy(update={"image": str(dest)}))
    return plan.model_copy(update={"cues": cues})


def overlay_graph(plan: BurnPlan, first_input: int, src: str, dst: str) -> str:
    """The filter_complex chain overlaying every cue image (inputs ``first_input``...)
    on ``[src]``, ending in ``[dst]``."""
    if not plan.cues:
        return f"[{src}]null[{dst}]"
    parts = []
    cur = src
    for i, cue in enumerate(plan.cues):
        nxt = dst if i == len(plan.cues) - 1 else f"cap{i}"
        parts.append(f"[{cur}][{first_input + i}:v]overlay=x={cue.box[0]}:y={cue.box[1]}"
                     f":eof_action=repeat:enable='between(t,{cue.start_s:.3f},"
                     f"{cue.end_s:.3f})'[{nxt}]")
        cur = nxt
    return ";".join(parts)


def srt_captions(srt_text: str) -> list[Caption]:
    """The cues of an SRT file as captions."""
    from ..edit.captions import read_srt

    return read_srt(srt_text)
