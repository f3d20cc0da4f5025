"""Technical quality: sharpness, exposure clipping, flicker, frozen and black frames,
resolution / fps / duration conformance."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..registry import SCORERS
from .base import QCContext, QCScore, Scorer


def luma(frames: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of uint8 RGB frames, float 0..255."""
    f = frames.astype(np.float32)
    return 0.2126 * f[..., 0] + 0.7152 * f[..., 1] + 0.0722 * f[..., 2]


# ``y``: the frames' luma when the caller has it already (the scorer computes it once per
# shot for all four measures: it is the costly part).
def sharpness(frames: np.ndarray, y: np.ndarray | None = None) -> float:
    """Median over frames of the variance of the Laplacian of luma (0..1 scale)."""
    y = (luma(frames) if y is None else y) / 255.0
    return float(np.median([ndimage.laplace(f).var() for f in y]))


def clipping(frames: np.ndarray, y: np.ndarray | None = None) -> float:
    y = luma(frames) if y is None else y
    return float(((y <= 1.0) | (y >= 254.0)).mean())


def flicker(frames: np.ndarray, y: np.ndarray | None = None) -> float:
    """Largest jump of mean luma off a 5-frame running median (camera moves and fades are
    smooth, flicker is not)."""
    m = (luma(frames) if y is None else y).mean(axis=(1, 2))
    if len(m) < 3:
        return 0.0
    trend = ndimage.median_filter(m, size=5, mode="nearest")
    return float(np.abs(m - trend).max())


def frozen_seconds(frames: np.ndarray, fps: float, tol: float = 0.25) -> float:
    """Longest run of (near-)identical consecutive frames, in seconds."""
    if len(frames) < 2:
        return len(frames) / fps
    diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
    longest = run = 0
    for d in diffs:
        run = run + 1 if d < tol else 0
        longest = max(longest, run)
    return (longest + 1) / fps if longest else 0.0


def black_fraction(frames: np.ndarray, y: np.ndarray | None = None) -> float:
    return float(((luma(frames) if y is None else y).mean(axis=(1, 2)) < 12.0).mean())


@SCORERS.register("technical")
class TechnicalScorer(Scorer):
    name = "technical"

    def score(self, ctx: QCContext) -> list[QCScore]:
        fr = ctx.media.frames
        y = luma(fr)
        out = [
            self.make(ctx, "technical.sharpness", sharpness(fr, y)),
            self.make(ctx, "technical.clipping", clipping(fr, y)),
            self.make(ctx, "technical.flicker", flicker(fr, y)),
            self.make(ctx, "technical.black", black_fraction(fr, y)),
        ]
        shot = ctx.spec.shot
        expects_motion = bool(shot.dialogue) or shot.camera.movement.type.value != "static" \
            or ctx.options.get("expect_motion", False)
        if expects_motion:
            out.append(self.make(ctx, "technical.frozen",
                                 frozen_seconds(fr, ctx.media.fps)))
        else:
            out.append(self.skip("technical.frozen", "static shot without dialogue: a still "
                                 "picture is legitimate"))
        out.append(self._conformance(ctx))
        return out

    def _conformance(self, ctx: QCContext) -> QCScore:
        m = ctx.media
        if ctx.request is None:
            want_w = want_h = None
            want_fps = None
            want_d = ctx.spec.shot.duration_s
        else:
            want_w, want_h = ctx.request.format.width, ctx.request.format.height
            want_fps = ctx.request.format.fps
            want_d = ctx.request.duration
        wrong = []
        if want_w is not None and (m.width, m.height) != (want_w, want_h):
            wrong.append(f"size {m.width}x{m.height}, expected {want_w}x{want_h}")
        if want_fps is not None and abs(m.fps - want_fps) > 0.01:
            wrong.append(f"{m.fps:g} fps, expected {want_fps:g}")
        if abs(m.duration_s - want_d) > 1.5 / m.fps:
            wrong.append(f"{m.duration_s:.3f} s, expected {want_d:.3f} s")
        return self.make(ctx, "technical.conformance", 0.0 if wrong else 1.0, problems=wrong)
