"""The set behind the figures: wall and floor (interiors) or sky and ground (exteriors),
fogged by depth, the props, and the light every shaded shape is drawn with."""

from __future__ import annotations

import numpy as np

from . import draw
from .camera import SET_WIDTH, Z_FAR, Cam
from .scene import Prop

LIGHT_LUT_SIZE = 2049  # samples of the cylinder shading across -1..1 (see light_fn)


class SetDrawing:
    """The set, the props and the light (a part of :class:`.render.Renderer`; reads its
    light direction ``lx``/``lz``, ``fill``, ``level``, colours, fog and ``scene``)."""

    def light_fn(self, strength: float = 1.0):
        """Shading across a cylinder (nx -1..1 = frame left..right), key + fill + wrap.

        Tabulated once per strength (LIGHT_LUT_SIZE samples, nearest): a figure draws ~30
        shaded shapes a frame and the formula costs a dozen numpy calls per shape.
        """
        lut = self._light_luts.get(strength)
        if lut is None:
            lx, lz, fill, lvl = self.lx, self.lz, self.fill, self.level
            nx = np.linspace(-1.0, 1.0, LIGHT_LUT_SIZE, dtype=np.float32)
            nz = np.sqrt(np.clip(1.0 - nx * nx, 0.0, 1.0))
            key = np.clip((lx * nx + lz * nz + 0.25) / 1.25, 0.0, 1.0)
            rim = np.clip(-lz, 0.0, 1.0) * np.clip(lx * nx, 0.0, 1.0) ** 3 * 0.6
            val = (key + rim + fill * (0.35 + 0.65 * nz) + 0.04) / (1.0 + fill) * 1.15
            lut = (lvl * (1 - strength + strength * val)).astype(np.float32)
            self._light_luts[strength] = lut
        half = (LIGHT_LUT_SIZE - 1) / 2.0

        def light(nx: np.ndarray) -> np.ndarray:
            # nx is already clipped to -1..1 by draw.shade_columns
            return lut[((nx + 1.0) * half + 0.5).astype(np.intp)]

        return light

    # -- drawing --------------------------------------------------------------------
    def _background(self, cam: Cam, out: np.ndarray | None = None) -> np.ndarray:
        """The set (wall/floor or sky/ground) for a camera, into ``out`` when given."""
        W, H, f = self.W, self.H, cam.f
        ys = np.arange(H, dtype=np.float32) + 0.5
        xs = np.arange(W, dtype=np.float32) + 0.5
        horizon = H / 2 + f * cam.tilt
        tan_x = (xs - W / 2) / f + cam.pan  # direction of each column
        lvl = self.level
        fogc = self.fog_col
        rows = np.empty((H, 3), dtype=np.float32)
        if self.scene.interior:
            Dw = Z_FAR - cam.cz
            wall_y = horizon + f * cam.cy / max(Dw, 0.05)
            kw = 1 - np.exp(-self.fog_k * Dw)
            wall = self.wall * lvl
            wall = wall + kw * (fogc - wall)
            above = ys < wall_y
            grad = (0.92 + 0.08 * np.clip((wall_y - ys) / H, 0, 1))[:, None]
            rows[:] = wall[None, :] * grad
            # floor: depth per row from the ground-plane projection
            dy = np.maximum(ys - horizon, 1e-3)
            D = np.clip(f * cam.cy / dy, 0.05, Dw)
            kf = (1 - np.exp(-self.fog_k * D))[:, None]
            band = 0.9 + 0.1 * (np.floor((D + cam.cz) / 1.0) % 2)[:, None]
            floor = self.ground[None, :] * lvl * band
            floor = floor + kf * (fogc[None, :] - floor)
            rows = np.where(above[:, None], rows, floor).astype(np.float32)
            # wall panels anchored to the wall (they move with pan/truck; parallax)
            Xw = cam.cx + tan_x * Dw
            cols = (1.0 + 0.06 * self.lx * np.clip(Xw / (SET_WIDTH / 2), -1.5, 1.5)
                    - 0.05 * ((np.floor(Xw / 0.8) % 2) == 0)).astype(np.float32)
            line = int(above.sum())
            skirting = max(1, H // 120)
            rows[max(0, line - skirting):line] *= 0.6
            rows *= self.scale[None, :]
            cap = draw.CANVAS_MAX / float(cols.max())
            np.minimum(rows, cap, out=rows)
            frame = np.empty((H, W, 3), dtype=np.float32) if out is None else out
            # the wall is rank 1 (a row factor x one colour) unless the cap clipped it:
            # then it is one outer product on the (H, W x 3) view, contiguous, ~4x faster
            # than three per-channel passes with a 12-byte stride
            g = (grad[:line, 0] * np.where(np.arange(line) >= line - skirting, 0.6, 1.0)
                 ).astype(np.float32)
            base = (wall * self.scale).astype(np.float32)
            rank1 = (line > 0 and frame.flags.c_contiguous
                     and float(g.max()) * float(base.max()) <= cap)
            for ch in range(3):  # per channel: numpy is slow broadcasting a 3-long axis
                if not rank1:
                    np.multiply(rows[:line, ch, None], cols[None, :], out=frame[:line, :, ch])
                frame[line:, :, ch] = rows[line:, ch, None]
            if rank1:
                pattern = (cols[:, None] * base[None, :]).astype(np.float32).reshape(1, -1)
                np.multiply(g[:, None], pattern, out=frame.reshape(H, W * 3)[:line])
            return frame
        # exterior: sky above the horizon (clouds anchored to directions), ground below
        sky_f = np.clip((horizon - ys) / (0.6 * H), 0.0, 1.0)[:, None]
        sky = self.sky_horizon[None, :] + sky_f * (self.sky_top - self.sky_horizon)[None, :]
        ksky = min(0.92, 1 - np.exp(-self.fog_k * 40.0))
        sky = sky + ksky * (fogc[None, :] - sky)
        dy = np.maximum(ys - horizon, 1e-3)
        D = np.clip(f * cam.cy / dy, 0.05, 400.0)
        kf = (1 - np.exp(-self.fog_k * D))[:, None]
        band = 0.93 + 0.07 * (np.floor((D + cam.cz) / 1.5) % 2)[:, None]
        ground = self.ground[None, :] * lvl * band
        haze = np.clip(D / 200.0, 0, 0.5)[:, None]
        ground = ground + haze * (self.sky_horizon[None, :] * lvl - ground)
        ground = ground + kf * (fogc[None, :] - ground)
        above = ys < horizon
        rows = np.where(above[:, None], sky, ground).astype(np.float32) * self.scale[None, :]
        np.minimum(rows, draw.CANVAS_MAX / 1.05, out=rows)  # clouds brighten by <= 5 %
        line = int(above.sum())
        clouds = (0.05 * np.sin(tan_x * 9.0 + 1.3) * np.sin(tan_x * 3.7)).astype(np.float32)
        weight = np.clip((horizon - ys[:line]) / (0.5 * H), 0, 1).astype(np.float32)
        frame = np.empty((H, W, 3), dtype=np.float32) if out is None else out
        mod = 1.0 + clouds[None, :] * weight[:, None]
        for ch in range(3):
            np.multiply(rows[:line, ch, None], mod, out=frame[:line, :, ch])
            frame[line:, :, ch] = rows[line:, ch, None]
        return frame

    def _draw_prop(self, canvas: np.ndarray, cam: Cam, p: Prop) -> None:
        sx, sy, s = self.project(cam, p.X, 0.0, p.Z)
        if s <= 0:
            return
        k = 1.0 - float(np.exp(-self.fog_k * (p.Z - cam.cz)))
        pt = draw.Painter(canvas, self.W, self.H, k, self.fog_s, self.scale)
        light = self.light_fn(0.8)
        z = p.size * s
        c = p.colour

        def box(x0, y0, x1, y1, colour, shade=True):
            pt.rect(sx + x0 * z, sy - y1 * z, sx + x1 * z, sy - y0 * z, colour,
                    light if shade else None)

        kind = p.kind
        if kind in ("table", "desk", "counter", "bench"):
            box(-0.6, 0.7, 0.6, 0.78, c)
            box(-0.55, 0.0, -0.48, 0.7, c * 0.7)
            box(0.48, 0.0, 0.55, 0.7, c * 0.7)
        elif kind == "chair":
            box(-0.23, 0.42, 0.23, 0.48, c)
            box(0.17, 0.48, 0.23, 0.95, c * 0.85)
            box(-0.23, 0.0, -0.18, 0.42, c * 0.7)
            box(0.18, 0.0, 0.23, 0.42, c * 0.7)
        elif kind == "window":
            box(-0.55, 0.85, 0.55, 2.25, c, shade=False)
            pane = 0.5 * self.sky_top + 0.5 * self.sky_horizon
            box(-0.5, 0.9, -0.03, 2.2, pane, shade=False)
            box(0.03, 0.9, 0.5, 2.2, pane, shade=False)
        elif kind == "door":
            box(-0.45, 0.0, 0.45, 2.05, c)
            pt.ellipse(sx + 0.33 * z, sy - 1.0 * z, 0.04 * z, 0.04 * z,
                       np.array([0.8, 0.7, 0.3], np.float32))
        elif kind in ("lamp", "lens", "light"):
            box(-0.15, 0.0, 0.15, 0.6, c * 0.35)
            glow = np.minimum(c * 1.15, 1.0)
            pt.ellipse(sx, sy - 1.05 * z, 0.75 * z, 0.75 * z, glow, alpha=0.25)
            pt.ellipse(sx, sy - 1.05 * z, 0.45 * z, 0.45 * z, glow)
        elif kind in ("tower", "lighthouse"):
            pt.trapezoid(sy - 5.0 * z, sy, (sx - 0.28 * z, sx + 0.28 * z),
                         (sx - 0.45 * z, sx + 0.45 * z), c, light)
            pt.trapezoid(sy - 3.2 * z, sy - 2.4 * z, (sx - 0.34 * z, sx + 0.34 * z),
                         (sx - 0.37 * z, sx + 0.37 * z), np.array([0.7, 0.12, 0.1], np.float32),
                         light)
            pt.ellipse(sx, sy - 5.25 * z, 0.3 * z, 0.3 * z,
                       np.array([1.0, 0.95, 0.7], np.float32))
        elif kind in ("rock", "boulder", "bush"):
            pt.ellipse(sx, sy - 0.2 * z, 0.65 * z, 0.5 * z, c, light, y_max=sy)
        elif kind == "tree":
            box(-0.12, 0.0, 0.12, 1.6, np.array([0.33, 0.22, 0.14], np.float32))
            pt.ellipse(sx, sy - 2.4 * z, 1.0 * z, 1.1 * z, c, light)
            pt.ellipse(sx - 0.35 * z, sy - 2.9 * z, 0.6 * z, 0.6 * z, c * 1.12, light)
        elif kind in ("building", "house"):
            box(-1.6, 0.0, 1.6, 4.2, c)
            box(-1.75, 4.2, 1.75, 4.45, c * 0.6)
            night = self.level < 0.6
            pane = np.array([1.0, 0.85, 0.5], np.float32) if night else \
                (0.45 * self.sky_top + 0.35 * self.sky_horizon).astype(np.float32)
            for row in range(3):
                for col in range(3):
                    x0 = -1.2 + col * 0.95
                    y0 = 0.9 + row * 1.15
                    box(x0, y0, x0 + 0.5, y0 + 0.65, pane, shade=False)
        elif kind == "boat":
            pt.trapezoid(sy - 0.55 * z, sy, (sx - 1.5 * z, sx + 1.5 * z),
                         (sx - 1.1 * z, sx + 1.1 * z), c, light)
            box(-0.05, 0.55, 0.05, 2.6, c * 0.6)
            pt.trapezoid(sy - 2.5 * z, sy - 0.7 * z, (sx + 0.07 * z, sx + 0.1 * z),
                         (sx + 0.07 * z, sx + 1.0 * z), np.array([0.88, 0.86, 0.8], np.float32),
                         light)
        elif kind in ("post", "bollard"):
            box(-0.08, 0.0, 0.08, 1.1, c)
        elif kind in ("streetlamp", "lamppost"):
            box(-0.05, 0.0, 0.05, 3.2, c)
            glow = np.array([1.0, 0.9, 0.65], np.float32)
            pt.ellipse(sx, sy - 3.25 * z, 0.5 * z, 0.5 * z, glow, alpha=0.2)
            pt.ellipse(sx, sy - 3.25 * z, 0.14 * z, 0.14 * z, glow)
        elif kind == "bed":
            box(-1.0, 0.25, 1.0, 0.55, c)
            box(-1.05, 0.0, -0.85, 1.0, c * 0.55)
            box(-0.8, 0.55, -0.35, 0.68, np.array([0.92, 0.9, 0.86], np.float32))
        elif kind in ("shelf", "bookcase", "cupboard"):
            box(-0.5, 0.0, 0.5, 2.0, c)
            for k in range(4):
                box(-0.44, 0.15 + k * 0.47, 0.44, 0.2 + k * 0.47, c * 0.55, shade=False)
        else:
            box(-0.4, 0.0, 0.4, 0.8, c)
