"""Title, act-break and hook cards: text on a dark ground, encoded like every shot clip so
the assembler can stream-copy them."""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path

from ..store.hashing import stable_hash
from ..video_encoding import H264_PARAMS, h264_args
from .frames import run_ffmpeg

CARD_STYLE = {
    "title_card": {"bg": (12, 14, 20), "fg": (236, 228, 210), "scale": 0.09},
    "act_card": {"bg": (0, 0, 0), "fg": (220, 220, 220), "scale": 0.07},
    "hook_card": {"bg": (8, 8, 12), "fg": (240, 236, 224), "scale": 0.06},
}


def card_image(text: str, width: int, height: int, kind: str = "title_card"):
    """A PIL image of the card (centred lines, scalable default font)."""
    from PIL import Image, ImageDraw, ImageFont

    style = CARD_STYLE.get(kind, CARD_STYLE["title_card"])
    img = Image.new("RGB", (width, height), style["bg"])
    draw = ImageDraw.Draw(img)
    size = max(8, int(height * style["scale"]))
    font = ImageFont.load_default(size=size)
    lines = text.split("\n") or [""]
    boxes = [draw.textbbox((0, 0), line, font=font) for line in lines]
    gap = size // 2
    total = sum(b[3] - b[1] for b in boxes) + gap * (len(lines) - 1)
    y = (height - total) / 2
    for line, box in zip(lines, boxes, strict=True):
        w = box[2] - box[0]
        draw.text(((width - w) / 2 - box[0], y - box[1]), line, font=font, fill=style["fg"])
        y += box[3] - box[1] + gap
    return img


def render_card(text: str, out: str | Path, *, width: int, height: int, fps: Fraction,
                frames: int, kind: str = "title_card") -> Path:
    """Encode a still card of ``frames`` frames with the canonical H.264 parameters."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        png = Path(tmp) / "card.png"
        card_image(text, width, height, kind).save(png)
        part = Path(tmp) / out.name
        run_ffmpeg(["-loop", "1", "-framerate", f"{fps.numerator}/{fps.denominator}",
                    "-i", str(png), "-frames:v", str(frames), "-an",
                    "-vf", _to_yuv_filter(), *h264_args(fps), str(part)],
                   what=f"render the card {text[:30]!r}", file=out)
        part.replace(out)
    return out


def card_key(text: str, kind: str, width: int, height: int, fps: Fraction, frames: int) -> str:
    return stable_hash("card", text, kind, width, height, str(fps), frames,
                       repr(H264_PARAMS))[:16]


def _to_yuv_filter() -> str:
    """RGB -> Y'CbCr with the BT.709 matrix and limited range (ffmpeg's default is BT.601)."""
    p = H264_PARAMS
    return f"scale=out_color_matrix={p.colorspace}:out_range={p.color_range},format={p.pix_fmt}"
