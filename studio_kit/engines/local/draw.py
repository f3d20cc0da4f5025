"""Vectorised raster primitives on a float32 (H, W, 3) canvas.

Hand-written because each primitive needs a per-column shading vector (the key light
across a cylinder) and an atmosphere blend applied in the same pass; PIL's ImageDraw
fills flat colours only. Every primitive touches only its clipped bounding box, with
numpy broadcasting inside it (no per-pixel Python loops).
"""

from __future__ import annotations

import math

import numpy as np

Box = tuple[int, int, int, int]

#: Canvas values are 0..255 (8-bit code values as floats); every primitive clamps its
#: colour to this, and blends are convex, so the canvas stays in range.
CANVAS_MAX = 255.0


def clip_box(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> Box:
    """Round a float box to pixels and clip it to the frame (x1, y1 exclusive)."""
    a = min(max(math.floor(x0 + 0.5), 0), w)
    b = min(max(math.floor(y0 + 0.5), 0), h)
    c = min(max(math.floor(x1 + 0.5), a), w)
    d = min(max(math.floor(y1 + 0.5), b), h)
    return a, b, c, d


def _colour_block(colour: np.ndarray, shade: np.ndarray | None, ncols: int,
                  add: np.ndarray | None = None) -> np.ndarray:
    """(1, ncols, 3) or (1, 1, 3) colour, optionally x a per-column shade, + ``add``."""
    if shade is None:
        out = colour[None, None, :]
    else:
        out = shade[None, :ncols, None] * colour[None, None, :]
    if add is not None:
        out = out + add[None, None, :]
    # the canvas never exceeds CANVAS_MAX, so the final frame needs no clip pass
    return np.minimum(out, CANVAS_MAX)


def shade_columns(x0: int, x1: int, cx: float, half: float, light) -> np.ndarray | None:
    """Per-column light level for a cylinder of centre ``cx``, half-width ``half`` px."""
    if light is None or x1 <= x0:
        return None
    nx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx) / max(half, 0.5)
    return light(np.clip(nx, -1.0, 1.0))


def rect(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour: np.ndarray,
         light=None, alpha: float = 1.0, add: np.ndarray | None = None) -> Box:
    h, w = canvas.shape[:2]
    a, b, c, d = clip_box(x0, y0, x1, y1, w, h)
    if c > a and d > b and isinstance(canvas, np.ndarray):
        col = _colour_block(colour, shade_columns(a, c, (x0 + x1) / 2, (x1 - x0) / 2, light),
                            c - a, add)
        if alpha >= 1.0:
            canvas[b:d, a:c] = np.ascontiguousarray(np.broadcast_to(col[0], (c - a, 3)))
        else:
            sub = canvas[b:d, a:c]
            sub += alpha * (col - sub)
    return a, b, c, d


def ellipse(canvas: np.ndarray, cx: float, cy: float, rx: float, ry: float,
            colour: np.ndarray, light=None, alpha: float = 1.0, y_max: float | None = None,
            y_min: float | None = None, inner: float = 0.0,
            add: np.ndarray | None = None) -> Box:
    """Filled ellipse (``inner`` > 0: a ring, the inner radii being that fraction)."""
    h, w = canvas.shape[:2]
    top = cy - ry if y_min is None else max(cy - ry, y_min)
    bot = cy + ry if y_max is None else min(cy + ry, y_max)
    a, b, c, d = clip_box(cx - rx, top, cx + rx, bot, w, h)
    if c <= a or d <= b or rx <= 0 or ry <= 0:
        return a, b, a, b
    if not isinstance(canvas, np.ndarray):
        return a, b, c, d
    col = _colour_block(colour, shade_columns(a, c, cx, rx, light), c - a, add)
    sub = canvas[b:d, a:c]
    yy = (np.arange(b, d, dtype=np.float32) + 0.5 - cy) / ry
    if inner <= 0:
        dx = rx * np.sqrt(np.clip(1.0 - yy * yy, 0.0, None))
        lo = np.ceil(cx - dx - 0.5) - a
        hi = np.floor(cx + dx - 0.5) + 1 - a
        _fill_spans(sub, lo, hi, col, alpha)
        return a, b, c, d
    xx = (np.arange(a, c, dtype=np.float32) + 0.5 - cx)[None, :] / rx
    r2 = xx * xx + yy[:, None] ** 2
    mask = (r2 <= 1.0) & (r2 >= inner * inner)
    m = mask[:, :, None]
    if alpha >= 1.0:
        np.copyto(sub, np.broadcast_to(col, sub.shape), where=m)
    else:
        sub += (alpha * m) * (col - sub)
    return a, b, c, d


def trapezoid(canvas: np.ndarray, y0: float, y1: float, top: tuple[float, float],
              bottom: tuple[float, float], colour: np.ndarray, light=None,
              alpha: float = 1.0, add: np.ndarray | None = None) -> Box:
    """Rows y0..y1; left/right edges go linearly from ``top`` (x0, x1) to ``bottom``."""
    h, w = canvas.shape[:2]
    xl = min(top[0], bottom[0])
    xr = max(top[1], bottom[1])
    a, b, c, d = clip_box(xl, y0, xr, y1, w, h)
    if c <= a or d <= b or y1 <= y0:
        return a, b, a, b
    if not isinstance(canvas, np.ndarray):
        return a, b, c, d
    f = (np.arange(b, d, dtype=np.float32) + 0.5 - y0) / (y1 - y0)
    left = top[0] + (bottom[0] - top[0]) * f
    right = top[1] + (bottom[1] - top[1]) * f
    col = _colour_block(colour, shade_columns(a, c, (xl + xr) / 2, (xr - xl) / 2, light),
                        c - a, add)
    _fill_spans(canvas[b:d, a:c], np.ceil(left - 0.5) - a, np.floor(right - 0.5) + 1 - a,
                col, alpha)
    return a, b, c, d


def _fill_spans(sub: np.ndarray, lo: np.ndarray, hi: np.ndarray, col: np.ndarray,
                alpha: float) -> None:
    """Fill each row i of ``sub`` from column lo[i] to hi[i] (exclusive).

    A loop over rows, each a contiguous slice copy: several times faster than a masked
    copy of 3-channel pixels (numpy's inner loop over 3 values is slow), and still no
    per-pixel Python work.
    """
    n, ncols = sub.shape[:2]
    row = np.ascontiguousarray(np.broadcast_to(col[0], (ncols, 3)))
    los = np.clip(lo, 0, ncols).astype(np.int64).tolist()
    his = np.clip(hi, 0, ncols).astype(np.int64).tolist()
    if alpha >= 1.0:
        for i in range(n):
            lo_i, hi_i = los[i], his[i]
            if hi_i > lo_i:
                sub[i, lo_i:hi_i] = row[lo_i:hi_i]
    else:
        for i in range(n):
            lo_i, hi_i = los[i], his[i]
            if hi_i > lo_i:
                seg = sub[i, lo_i:hi_i]
                seg += alpha * (row[lo_i:hi_i] - seg)


def darken_ellipse(canvas: np.ndarray, cx: float, cy: float, rx: float, ry: float,
                   amount: float) -> None:
    """Multiply an ellipse by (1 - amount x falloff): soft contact shadows."""
    h, w = canvas.shape[:2]
    a, b, c, d = clip_box(cx - rx, cy - ry, cx + rx, cy + ry, w, h)
    if c <= a or d <= b or rx <= 0 or ry <= 0 or not isinstance(canvas, np.ndarray):
        return
    yy = (np.arange(b, d, dtype=np.float32) + 0.5 - cy)[:, None] / ry
    xx = (np.arange(a, c, dtype=np.float32) + 0.5 - cx)[None, :] / rx
    k = np.clip(1.0 - (xx * xx + yy * yy), 0.0, 1.0) * amount
    canvas[b:d, a:c] *= (1.0 - k)[:, :, None]


class Painter:
    """Draws onto a canvas through an atmosphere: colour x (1 - k) + k x fog colour.

    With ``canvas=None`` nothing is drawn but every call still returns its pixel box,
    which is how figure geometry is computed without rendering.
    """

    def __init__(self, canvas: np.ndarray | None, w: int, h: int, k: float = 0.0,
                 fog: np.ndarray | None = None, scale: np.ndarray | float = 1.0) -> None:
        self.canvas = canvas if canvas is not None else _Shape(w, h)
        # colours are given in 0..1 and stored x scale (white balance x 255), so the final
        # frame needs only a clip and a cast
        self.keep = np.asarray((1.0 - k) * scale, dtype=np.float32)
        self.add = (k * fog).astype(np.float32) if fog is not None and k > 0 else None

    def rect(self, x0, y0, x1, y1, colour, light=None, alpha=1.0) -> Box:
        return rect(self.canvas, x0, y0, x1, y1, colour * self.keep, light, alpha, self.add)

    def ellipse(self, cx, cy, rx, ry, colour, light=None, alpha=1.0, **kw) -> Box:
        return ellipse(self.canvas, cx, cy, rx, ry, colour * self.keep, light, alpha,
                       add=self.add, **kw)

    def trapezoid(self, y0, y1, top, bottom, colour, light=None, alpha=1.0) -> Box:
        return trapezoid(self.canvas, y0, y1, top, bottom, colour * self.keep, light, alpha,
                         self.add)


class _Shape:
    def __init__(self, w: int, h: int) -> None:
        self.shape = (h, w, 3)
