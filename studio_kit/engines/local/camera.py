"""The world and the camera: world coordinates, the 12 angles' framing, the 8 movements.

World coordinates (metres): X across the set (set x 0..1 -> -4..4 m), Y up from the
ground, Z away from the camera's base position (set depth 0..1 -> 2..12 m; the back wall
of an interior stands at 12 m). A pinhole camera at (cx, cy, cz) with focal ``f`` (px)
and pan/tilt offsets (tangent units) projects a point to

    sx = W/2 + f * ((X - cx) / (Z - cz) - pan)
    sy = H/2 - f * ((Y - cy) / (Z - cz) - tilt)

so trucking and craning move near layers more than far ones (parallax), pans and tilts
move every layer alike, a dolly changes near layers' size more than far ones and a zoom
scales everything about the frame centre. The 12 angles set the camera's distance,
height and aim from the subject's height; the 8 movements change these over the shot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...models import CameraAngle, Direction, Movement
from .script import camera_offsets

SET_WIDTH = 8.0
Z_NEAR = 2.0
Z_FAR = 12.0
EYE_HEIGHT = 1.55
Box = tuple[int, int, int, int]

# angle -> (visible metres over the frame height / subject height, top of head at this
# fraction of the frame height, camera height in m or None for eye level, wide framing)
FRAMING: dict[CameraAngle, tuple[float, float, float | None, bool]] = {
    CameraAngle.extreme_wide: (7.0, 0.6, None, True),
    CameraAngle.wide: (3.0, 0.42, None, True),
    CameraAngle.full: (1.25, 0.08, None, False),
    CameraAngle.medium_wide: (0.85, 0.07, None, False),
    CameraAngle.medium: (0.6, 0.07, None, False),
    CameraAngle.medium_close_up: (0.42, 0.08, None, False),
    CameraAngle.close_up: (0.26, 0.06, None, False),
    CameraAngle.extreme_close_up: (0.12, -0.22, None, False),
    CameraAngle.over_the_shoulder: (0.42, 0.1, None, False),
    CameraAngle.point_of_view: (0.6, 0.07, 1.62, False),
    CameraAngle.high_angle: (0.85, 0.12, 3.6, False),
    CameraAngle.low_angle: (0.85, 0.05, 0.45, False),
}


@dataclass
class Cam:
    cx: float
    cy: float
    cz: float
    f: float
    pan: float
    tilt: float

    def key(self) -> tuple[float, ...]:
        return (round(self.cx, 6), round(self.cy, 6), round(self.cz, 6), round(self.f, 4),
                round(self.pan, 7), round(self.tilt, 7))


class CameraRig:
    """The renderer's camera (a part of :class:`.render.Renderer`; reads its ``W``, ``H``,
    ``angle``, ``move``, ``subject``, ``base``, ``duration`` and ``request``)."""

    def _base_camera(self) -> Cam:
        vf, top, cam_h, wide = FRAMING[self.angle]
        s = self.subject
        Xs, Zs, h = (s.X, s.Z, s.height) if s else (0.0, Z_NEAR + 0.5 * (Z_FAR - Z_NEAR), 1.7)
        V = vf * h
        d = max(0.9, 1.3 * V)
        cz = Zs - d
        f = self.H * d / V
        cy = cam_h if cam_h is not None else (EYE_HEIGHT if not wide else 1.6)
        if cam_h is None and not wide:
            cy = min(cy, h * 0.92)
        tilt = (top * self.H - self.H / 2) / f + (h - cy) / d
        if wide:
            cx, pan = 0.0, 0.0
        else:
            cx = Xs
            target = 0.62 if self.angle == CameraAngle.over_the_shoulder else 0.5
            pan = (Xs - cx) / d - (target * self.W - self.W / 2) / f
        # the action's own framing details (none for an empty action)
        dx, dy, fscale = camera_offsets(self.request.spec.shot.action)
        f *= fscale
        return Cam(cx, cy, cz, f, pan + dx * self.W / f, tilt + dy * self.H / f)

    def camera_at(self, t: float) -> Cam:
        b = self.base
        cam = Cam(b.cx, b.cy, b.cz, b.f, b.pan, b.tilt)
        mv = self.move
        u = float(np.clip(t / self.duration, 0.0, 1.0)) if self.duration > 0 else 0.0
        sp = mv.speed
        sign = 1.0 if mv.direction in (Direction.right, Direction.up, Direction.in_) else -1.0
        d0 = (self.subject.Z if self.subject else Z_NEAR + 5) - b.cz
        if mv.type == Movement.pan:
            cam.pan += sign * sp * 0.35 * u
        elif mv.type == Movement.tilt:
            cam.tilt += sign * sp * 0.25 * u
        elif mv.type == Movement.truck:
            cam.cx += sign * sp * 1.5 * u
        elif mv.type == Movement.crane:
            cam.cy += sign * sp * 1.5 * u
        elif mv.type == Movement.dolly:
            cam.cz += sign * sp * 0.5 * d0 * u
        elif mv.type == Movement.zoom:
            cam.f *= (1.0 + sp * u) if sign > 0 else 1.0 / (1.0 + sp * u)
        elif mv.type == Movement.handheld:
            amp = 0.003 + 0.012 * sp
            p = self._hand
            cam.pan += amp * (np.sin(2.1 * t + p[0]) + 0.5 * np.sin(5.3 * t + p[1])
                              + 0.25 * np.sin(11.7 * t + p[2]))
            cam.tilt += amp * (np.sin(1.7 * t + p[3]) + 0.5 * np.sin(4.1 * t + p[4])
                               + 0.25 * np.sin(9.3 * t + p[5]))
        return cam

    def project(self, cam: Cam, X: float, Y: float, Z: float) -> tuple[float, float, float]:
        """(sx, sy, px per metre) of a world point; px per metre <= 0 when behind."""
        D = Z - cam.cz
        if D <= 0.05:
            return 0.0, 0.0, 0.0
        return (self.W / 2 + cam.f * ((X - cam.cx) / D - cam.pan),
                self.H / 2 - cam.f * ((Y - cam.cy) / D - cam.tilt), cam.f / D)
