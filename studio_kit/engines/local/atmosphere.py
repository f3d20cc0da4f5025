"""Weather in front of the set: rain, snow and dust particles, drifting smoke."""

from __future__ import annotations

import numpy as np

from ...models import AtmosphereKind
from . import draw


class AtmosphereDrawing:
    """Particles and smoke (a part of :class:`.render.Renderer`; reads its ``atm_kind``,
    ``atm_density``, ``_particles``, ``_smoke``, ``level``, ``scale`` and ``fog_s``)."""

    def _atmosphere(self, canvas: np.ndarray, t: float) -> None:
        kind, dens = self.atm_kind, self.atm_density
        if dens <= 0:
            return
        H, W = self.H, self.W
        p = self._particles
        if kind in (AtmosphereKind.rain, AtmosphereKind.snow, AtmosphereKind.dust):
            if kind == AtmosphereKind.rain:
                speed, length, drift, col, a = 1.6, max(3, H // 25), 0.08, 0.85, 0.35
            elif kind == AtmosphereKind.snow:
                speed, length, drift, col, a = 0.18, max(1, H // 180), 0.03, 0.97, 0.8
            else:
                speed, length, drift, col, a = 0.03, 1, 0.02, 0.8, 0.5
            y = ((p[:, 1] + speed * (0.6 + 0.4 * p[:, 2]) * t) % 1.0) * H
            x = ((p[:, 0] + drift * np.sin(t * 1.3 + 6.28 * p[:, 2])) % 1.0) * W
            xi = x.astype(np.int64)
            yi = (y[:, None] + np.arange(length)[None, :]).astype(np.int64)
            xi = np.broadcast_to(xi[:, None], yi.shape)
            ok = (yi >= 0) & (yi < H) & (xi >= 0) & (xi < W)
            yy, xx = yi[ok], xi[ok]
            pc = np.minimum((col * self.level) * self.scale, draw.CANVAS_MAX)
            canvas[yy, xx] += a * (pc - canvas[yy, xx])
            if kind == AtmosphereKind.snow:
                ok2 = xx + 1 < W
                canvas[yy[ok2], xx[ok2] + 1] += a * (pc - canvas[yy[ok2], xx[ok2] + 1])
        elif self._smoke is not None and kind == AtmosphereKind.smoke:
            g = self._smoke
            gh, gw = g.shape
            shift = t * 0.35
            ys = ((np.arange(H, dtype=np.float32) + 0.5) / H * (gh - 1) + shift * gh) % gh
            xs = (np.arange(W, dtype=np.float32) + 0.5) / W * (gw - 1)
            Ay = _interp_matrix(ys, gh, wrap=True)
            Ax = _interp_matrix(xs, gw, wrap=False)
            field_ = (Ay @ g @ Ax.T).astype(np.float32)
            a = np.clip((field_ - 0.35) * 1.6, 0, 1) * (0.75 * dens)
            canvas += a[:, :, None] * (self.fog_s[None, None, :] - canvas)


def _interp_matrix(pos: np.ndarray, n: int, wrap: bool) -> np.ndarray:
    """Linear interpolation weights (len(pos) x n) sampling a length-n grid at ``pos``."""
    i0 = np.floor(pos).astype(np.int64)
    frac = (pos - i0).astype(np.float32)
    i1 = i0 + 1
    if wrap:
        i0, i1 = i0 % n, i1 % n
    else:
        i0, i1 = np.clip(i0, 0, n - 1), np.clip(i1, 0, n - 1)
    m = np.zeros((len(pos), n), dtype=np.float32)
    rows = np.arange(len(pos))
    np.add.at(m, (rows, i0), 1 - frac)
    np.add.at(m, (rows, i1), frac)
    return m
