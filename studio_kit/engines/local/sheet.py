"""Contact sheets: a grid of frames (or of frames taken from clips) as one PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import StudioError
from .preview import png_bytes


def clip_frames(path: str | Path, count: int = 1) -> list[np.ndarray]:
    """``count`` frames spread evenly over a clip (count 1: the middle frame)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise StudioError("clip not found", file=path, hint="render the shot first")
    with av.open(str(path)) as box:
        stream = box.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in box.decode(stream)]
    if not frames:
        raise StudioError("clip has no video frames", file=path,
                          hint="re-generate the shot: the file holds no picture")
    if count == 1:
        return [frames[len(frames) // 2]]
    idx = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [frames[i] for i in idx]


def contact_sheet(frames: Sequence[np.ndarray] | str | Path | Sequence[str | Path],
                  cols: int = 4, *, thumb_width: int = 320,
                  labels: Sequence[str] | None = None, per_clip: int | None = None) -> bytes:
    """A PNG grid of frames.

    ``frames`` may be arrays, one clip path (``per_clip`` frames from it, default
    ``cols * 2``), or several clip paths (``per_clip`` frames from each, default 1: one
    frame per shot). ``labels`` are written under each thumbnail.
    """
    from PIL import Image, ImageDraw

    if isinstance(frames, (str, Path)):
        frames = clip_frames(frames, per_clip or cols * 2)
    elif frames and isinstance(frames[0], (str, Path)):
        paths = list(frames)
        frames = [f for p in paths for f in clip_frames(p, per_clip or 1)]
        if labels is None:
            labels = [Path(p).stem for p in paths for _ in range(per_clip or 1)]
    frames = list(frames)
    if not frames:
        raise StudioError("no frames for the contact sheet",
                          hint="pass at least one frame (or a clip with frames)")
    cols = max(1, min(cols, len(frames)))
    rows = (len(frames) + cols - 1) // cols
    h0, w0 = frames[0].shape[:2]
    tw = thumb_width
    th = max(1, round(h0 * tw / w0))
    label_h = 16 if labels else 0
    pad = 4
    sheet = Image.new("RGB", (cols * (tw + pad) + pad, rows * (th + label_h + pad) + pad),
                      (24, 24, 24))
    pen = ImageDraw.Draw(sheet)
    for i, fr in enumerate(frames):
        r, c = divmod(i, cols)
        x, y = pad + c * (tw + pad), pad + r * (th + label_h + pad)
        sheet.paste(Image.fromarray(fr).resize((tw, th), Image.Resampling.BILINEAR), (x, y))
        if labels and i < len(labels):
            pen.text((x + 2, y + th + 2), str(labels[i])[:48], fill=(220, 220, 220))
    return png_bytes(np.asarray(sheet))
