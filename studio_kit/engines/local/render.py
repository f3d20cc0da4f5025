"""The 2.5D layered renderer: a shot spec + time -> an RGB frame (and figure geometry).

One :class:`Renderer` per request, composed of its parts, one module each: the world and
the camera (:mod:`.camera`), the shot's model of figures and props (:mod:`.scene`), the
set and its light (:mod:`.background`), the figures (:mod:`.figure`, with the named
proportions table) and the weather (:mod:`.atmosphere`). This module precomputes what does
not change over the shot and composes a frame: set, props and figures back to front,
atmosphere, the over-the-shoulder foreground.
"""

from __future__ import annotations

import numpy as np

from ...errors import EngineError
from ...models import AtmosphereKind, CameraAngle, MarkKind, Movement
from ..base import EngineRequest
from . import draw
from .atmosphere import AtmosphereDrawing
from .background import SetDrawing
from .camera import SET_WIDTH, Z_FAR, Z_NEAR, Box, CameraRig
from .figure import FigureDrawing
from .light import (
    atmosphere_colour,
    fog_per_metre,
    kelvin_gains,
    light_level,
    rgbf,
    sky_colours,
    tod_tint,
)
from .scene import DRIFT_KINDS, REGION_KEYS, Figure, Prop, SceneModel
from .script import set_dressing, shot_atmosphere, shot_time_of_day


class Renderer(SceneModel, CameraRig, SetDrawing, FigureDrawing, AtmosphereDrawing):
    """Everything about one request that does not change over the shot, precomputed."""

    def __init__(self, request: EngineRequest) -> None:
        self.request = request
        spec = request.spec
        fmt = request.format
        self.W, self.H, self.fps = fmt.width, fmt.height, fmt.fps
        self.duration = request.duration
        self.n_frames = max(1, int(round(self.duration * self.fps)))
        self.seed = request.seed
        scene = spec.scene
        self.scene = scene
        drift = request.drift
        amt = drift.amount
        unknown = set(drift.kinds) - DRIFT_KINDS
        if unknown:
            raise EngineError(f"unknown drift kind(s) {sorted(unknown)}", field="drift.kinds",
                              hint=f"drift kinds: {', '.join(sorted(DRIFT_KINDS))}")
        kinds = set(drift.kinds) if amt > 0 else set()
        self.kinds = kinds
        lt = scene.lighting
        az = lt.key.azimuth_deg + (90.0 * amt if "light_direction" in kinds else 0.0)
        self.azimuth = az
        rad = np.deg2rad(az)
        self.lx, self.lz = float(np.sin(rad)), float(np.cos(rad))
        self.fill = 1.0 / lt.fill_ratio
        kelvin = lt.colour_temperature_k
        if "colour_temperature" in kinds:
            kelvin = kelvin * (1.0 + 0.5 * amt)
        self.kelvin = int(round(min(25000, kelvin)))
        shot = spec.shot
        # the shot's heading says when (one location is lit for day or night)
        self.tod = tod = shot_time_of_day(shot, scene)
        self.gains = np.asarray(kelvin_gains(self.kelvin), dtype=np.float32) * tod_tint(tod)
        # the canvas holds white-balanced 0..255 values: colours are scaled when drawn
        self.scale = (self.gains * 255.0).astype(np.float32)
        self.level = light_level(tod, scene.interior)
        self.sky_top, self.sky_horizon = sky_colours(tod)
        pal = [rgbf(c) for c in scene.palette] or [rgbf("#8a7f72")]
        self.wall = pal[0]
        self.ground = pal[1] if len(pal) > 1 else pal[0] * 0.6
        if not scene.interior:
            self.sky_top = 0.75 * self.sky_top + 0.25 * self.wall
            self.sky_horizon = 0.6 * self.sky_horizon + 0.4 * self.wall
        atm = shot_atmosphere(shot, scene)
        self.atmosphere = atm
        self.atm_kind = atm.kind
        self.atm_density = atm.density
        self.fog_k = fog_per_metre(atm.kind, atm.density)
        self.fog_col = atmosphere_colour(atm.kind, tod, self.level)
        self.fog_s = np.minimum(self.fog_col * self.scale, draw.CANVAS_MAX).astype(np.float32)
        self.props = [self._prop(m) for m in scene.set_layout if m.kind == MarkKind.prop]
        if not self.props:  # never a bare set: dress it from its location and description
            self.props = [Prop(kind=d.kind, X=(d.x - 0.5) * SET_WIDTH,
                               Z=Z_NEAR + d.depth * (Z_FAR - Z_NEAR), size=d.size,
                               colour=rgbf(d.colour)) for d in set_dressing(scene)]
        self.figures = self._figures(spec.characters)
        self.subject = self._subject()
        self.angle = spec.shot.camera.angle
        self.move = spec.shot.camera.movement
        self.base = self._base_camera()
        self.ots: Figure | None = None
        if self.angle == CameraAngle.over_the_shoulder:
            others = [f for f in self.figures if self.subject is None or f.id != self.subject.id]
            self.ots = others[0] if others else None
        self._bg_key: tuple | None = None
        self._light_luts: dict[float, np.ndarray] = {}
        self._canvas: np.ndarray | None = None
        self._bg: np.ndarray | None = None
        rng = np.random.default_rng([self.seed, 17])
        self._hand = rng.uniform(0, 2 * np.pi, 6)
        n = int(600 * atm.density * (self.W * self.H / (640 * 360)) ** 0.5) + 1
        self._particles = rng.random((n, 3)).astype(np.float32)
        self._smoke = rng.random((12, 20)).astype(np.float32) \
            if atm.kind == AtmosphereKind.smoke else None

    def frame_float(self, t: float, out: np.ndarray | None = None) -> np.ndarray:
        """The float32 canvas (0..255) at time t, drawn into ``out`` when given."""
        cam = self.camera_at(t)
        figs = sorted((f for f in self.figures if self._visible(cam, f)),
                      key=lambda f: -f.Z)
        zmax_fig = max((f.Z for f in figs), default=-1e9)
        far = [p for p in self.props if p.Z > zmax_fig]
        near = [p for p in self.props if p.Z <= zmax_fig]
        key = (cam.key(), tuple(id(p) for p in far))
        if self._bg_key == key and self._bg is not None:
            if out is None:
                canvas = self._bg.copy()
            else:
                canvas = out
                np.copyto(canvas, self._bg)
        else:
            canvas = self._background(cam, out)
            for p in sorted(far, key=lambda p: -p.Z):
                self._draw_prop(canvas, cam, p)
            if self.move.type == Movement.static:  # the set will look the same next frame
                self._bg, self._bg_key = canvas.copy(), key
        items: list[tuple[float, object]] = [(p.Z, p) for p in near] + [(f.Z, f) for f in figs]
        items.sort(key=lambda it: -it[0])
        for _, it in items:
            if isinstance(it, Prop):
                self._draw_prop(canvas, cam, it)
            else:
                self._draw_figure(canvas, cam, it, t)
        self._atmosphere(canvas, t)
        if self.ots is not None:
            self._draw_ots(canvas, self.ots)
        return canvas

    def frame(self, t: float) -> np.ndarray:
        """The uint8 frame at time t (white balance is applied as colours are drawn)."""
        # every drawing step keeps the canvas within 0..255 (see draw.CANVAS_MAX).
        # The float canvas is reused from frame to frame: a fresh 11 MB (720p) array
        # per frame costs thousands of page faults; the returned uint8 frame is new.
        # So a Renderer draws one frame at a time: use one per thread.
        if self._canvas is None:
            self._canvas = np.empty((self.H, self.W, 3), dtype=np.float32)
        return self.frame_float(t, out=self._canvas).astype(np.uint8)

    def regions(self, character_id: str, t: float) -> dict[str, Box]:
        for f in self.figures:
            if f.id == character_id:
                break
        else:
            raise EngineError(
                f"character {character_id!r} is not in shot {self.request.spec.shot.id}",
                field="character_id",
                hint=f"characters: {', '.join(f.id for f in self.figures) or 'none'}")
        if f is self.ots:
            return self._draw_ots(None, f)
        cam = self.camera_at(t)
        if not self._visible(cam, f):
            return {k: (0, 0, 0, 0) for k in REGION_KEYS}
        return self.figure_parts(cam, f, t, None)
