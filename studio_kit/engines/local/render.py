"""The 2.5D layered renderer: a shot spec + time -> an RGB frame (and figure geometry).

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

import colorsys
import zlib
from dataclasses import dataclass, field

import numpy as np

from ...errors import EngineError
from ...models import (
    AtmosphereKind,
    CameraAngle,
    Direction,
    GarmentKind,
    HairStyle,
    MarkKind,
    Movement,
)
from ...visemes import Viseme, VisemeTrack, viseme_at, viseme_for_letter
from ..base import EngineRequest, ResolvedCharacter
from . import draw
from .light import (
    atmosphere_colour,
    fog_per_metre,
    kelvin_gains,
    light_level,
    rgbf,
    sky_colours,
    tod_tint,
)
from .script import (
    camera_offsets,
    names_in,
    pose_for,
    set_dressing,
    shot_atmosphere,
    shot_time_of_day,
)

SET_WIDTH = 8.0
Z_NEAR = 2.0
Z_FAR = 12.0
EYE_HEIGHT = 1.55
MOUTH_DARK = np.array([40, 12, 14], dtype=np.float32) / 255.0
HAIR_MIN_DE = 18.0  # hair at least this far (CIEDE2000) from the skin
LIGHT_LUT_SIZE = 2049  # samples of the cylinder shading across -1..1 (see light_fn)

Box = tuple[int, int, int, int]
DRIFT_KINDS = {"hair_hue", "garment_hue", "face", "light_direction", "colour_temperature"}
REGION_KEYS = ("figure", "hair", "face", "eyes", "mouth", "torso", "legs", "shoes")

# angle -> (visible metres over the frame height / subject height, top of head at this
# fraction of the frame height, camera height in m or None for eye level, wide framing)
_FRAMING: dict[CameraAngle, tuple[float, float, float | None, bool]] = {
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

_VISEME_WIDTH = {Viseme.wq: 0.55, Viseme.o: 0.75, Viseme.ai: 1.0, Viseme.e: 1.1}


def text_visemes(text: str, start: float, chars_per_s: float) -> VisemeTrack:
    """A viseme track from text, one letter per 1/chars_per_s seconds.

    Used only until the audio stage supplies phoneme timing (``request.visemes``).
    """
    track: VisemeTrack = []
    t = start
    low = text.lower()
    i = 0
    while i < len(low):
        ch = low[i]
        if low.startswith("th", i):
            vis, step = Viseme.th, 2
        else:  # a letter (studio_kit.visemes' table) or rest
            vis, step = viseme_for_letter(ch), 1
        if not track or track[-1][1] != vis:
            track.append((round(t, 4), vis))
        t += step / chars_per_s
        i += step
    track.append((round(t, 4), Viseme.rest))
    return track


def _rot_hue(colour: np.ndarray, degrees: float, min_sat: float = 0.0) -> np.ndarray:
    h, s, v = colorsys.rgb_to_hsv(*(float(c) for c in colour))
    s = max(s, min_sat)
    v = max(v, min_sat * 0.6)
    r, g, b = colorsys.hsv_to_rgb((h + degrees / 360.0) % 1.0, s, v)
    return np.array([r, g, b], dtype=np.float32)


def _seed_of(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


@dataclass
class Figure:
    id: str
    X: float
    Z: float
    height: float
    build: float
    face_w: float
    head_h: float
    eye_gap: float
    skin: np.ndarray
    hair: np.ndarray
    hair_style: HairStyle
    eyes: np.ndarray
    torso: np.ndarray
    torso_kind: GarmentKind | None
    inner: np.ndarray | None
    legs: np.ndarray
    legs_kind: GarmentKind | None
    shoes: np.ndarray
    hat: np.ndarray | None
    scarf: np.ndarray | None
    glasses: np.ndarray | None
    blinks: np.ndarray
    visemes: VisemeTrack = field(default_factory=list)
    offset: float = 0.0  # seeded placement variation on the mark (m)
    sway_phase: float = 0.0  # seeded phase of the idle sway
    arms: tuple[float, float] = (0.0, 0.0)  # left/right arm angle out from hanging (rad)
    walk: float = 0.0  # m/s across the set (the action: walks, runs)
    still: bool = False  # the action froze them: no idle sway

    def x_at(self, t: float) -> float:
        """Where the figure stands at time t: the mark, the seed's offset, a walk from the
        action, an idle sway (none when the action freezes them)."""
        x = self.X + self.offset + self.walk * t
        if self.still:
            return x
        return x + 0.006 * self.height * float(np.sin(2 * np.pi * t / 4.3 + self.sway_phase))

    def blinking(self, t: float) -> bool:
        i = np.searchsorted(self.blinks, t, side="right") - 1
        return bool(i >= 0 and t - self.blinks[i] < 0.13)


@dataclass
class Prop:
    kind: str
    X: float
    Z: float
    size: float
    colour: np.ndarray


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


class Renderer:
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

    # -- model ----------------------------------------------------------------------
    def _prop(self, m) -> Prop:
        colour = rgbf(m.colour) if m.colour else (0.7 * self.wall + 0.3 * self.ground)
        return Prop(kind=(m.prop or "box").lower(), X=(m.x - 0.5) * SET_WIDTH,
                    Z=Z_NEAR + m.depth * (Z_FAR - Z_NEAR), size=m.size, colour=colour)

    def _figures(self, chars: list[ResolvedCharacter]) -> list[Figure]:
        scene = self.scene
        shot = self.request.spec.shot
        known = {rc.character.id for rc in chars}
        for member in shot.characters:
            if member.character not in known:
                raise EngineError(f"shot {shot.id}: unknown character {member.character!r}",
                                  field="characters",
                                  hint="resolve the shot with Project.resolve_shot")
        person_marks = [m for m in scene.set_layout if m.kind == MarkKind.person]
        used = {rc.mark for rc in chars if rc.mark}
        free = [m for m in person_marks if m.name not in used]
        amt = self.request.drift.amount
        kinds = self.kinds
        tracks = self._text_tracks()
        named = {rc.character.id: names_in(shot.action, [rc.character.id, rc.character.name,
                                                         *rc.character.aliases])
                 for rc in chars}
        out = []
        for i, rc in enumerate(chars):
            ch = rc.character
            if rc.mark:
                mark = scene.mark(rc.mark)
                if mark is None:
                    raise EngineError(f"shot {shot.id}: scene {scene.id} has no mark {rc.mark!r}",
                                      field="characters.mark",
                                      hint=f"marks: {', '.join(m.name for m in scene.set_layout)}")
                x, depth = mark.x, mark.depth
            elif free:
                m = free.pop(0)
                x, depth = m.x, m.depth
            else:
                x, depth = (i + 1) / (len(chars) + 1), 0.5
            vf = _FRAMING[shot.camera.angle][0]  # visible height / subject height
            pose = pose_for(shot.action, ch.id, i, self.duration,
                            vf * ch.appearance.height_cm / 100.0 * self.W / self.H,
                            acts=named[ch.id] or not any(named.values()))
            if not rc.mark:  # unmarked: the action's staging places them
                x = float(np.clip(x + pose.dx / SET_WIDTH, 0.05, 0.95))
                depth = float(np.clip(depth + pose.dz / (Z_FAR - Z_NEAR), 0.05, 0.95))
            app = ch.appearance
            skin = rgbf(app.skin)
            hair = rgbf(app.hair_colour)
            if "hair_hue" in kinds:
                hair = _rot_hue(hair, 120 * amt, 0.6 * amt)
            hair = _apart_from(hair, skin)
            garments = {}
            for g in rc.garments:
                col = rgbf(g.colours[0])
                if "garment_hue" in kinds:
                    col = _rot_hue(col, 120 * amt, 0.6 * amt)
                garments.setdefault(g.kind, col)
            outer_kind = next((k for k in (GarmentKind.coat, GarmentKind.jacket,
                                           GarmentKind.dress, GarmentKind.top)
                               if k in garments), None)
            torso = garments[outer_kind] if outer_kind else rgbf("#6b6b6b")
            inner = garments.get(GarmentKind.top) if outer_kind in (
                GarmentKind.coat, GarmentKind.jacket) else None
            legs_kind = next((k for k in (GarmentKind.trousers, GarmentKind.skirt,
                                          GarmentKind.dress) if k in garments), None)
            legs = garments[legs_kind] if legs_kind else rgbf("#3a3a3a")
            face = "face" in kinds
            rng = np.random.default_rng([self.seed, _seed_of(ch.id)])
            blinks = np.cumsum(np.concatenate([[rng.uniform(0.5, 2.0)],
                                               rng.uniform(2.2, 4.5, 64)]))
            offset, phase = rng.uniform(-0.04, 0.04), rng.uniform(0, 2 * np.pi)
            out.append(Figure(
                id=ch.id, X=(x - 0.5) * SET_WIDTH, Z=Z_NEAR + depth * (Z_FAR - Z_NEAR),
                height=app.height_cm / 100.0, build=app.build,
                face_w=app.face_width * (1 + 0.35 * amt if face else 1.0),
                head_h=1 - 0.15 * amt if face else 1.0,
                eye_gap=1 + 0.4 * amt if face else 1.0,
                skin=skin, hair=hair, hair_style=app.hair_style,
                eyes=rgbf(app.eye_colour), torso=torso, torso_kind=outer_kind, inner=inner,
                legs=legs, legs_kind=legs_kind,
                shoes=garments.get(GarmentKind.shoes, rgbf("#222222")),
                hat=garments.get(GarmentKind.hat), scarf=garments.get(GarmentKind.scarf),
                glasses=garments.get(GarmentKind.glasses), blinks=blinks,
                visemes=tracks.get(ch.id, []), offset=float(offset), sway_phase=float(phase),
                arms=(pose.arm_left, pose.arm_right), walk=pose.walk, still=pose.still,
            ))
        return out

    def _text_tracks(self) -> dict[str, VisemeTrack]:
        """Mouth tracks: the audio stage's visemes, else derived from the dialogue text."""
        req = self.request
        shot = req.spec.shot
        if req.visemes is not None:
            who = req.options.get("viseme_character") or (
                shot.dialogue[0].character if shot.dialogue else
                shot.camera.subject or (shot.characters[0].character if shot.characters
                                        else None))
            try:
                track = [(float(t), Viseme(v)) for t, v in req.visemes]
            except ValueError as exc:
                raise EngineError(f"shot {shot.id}: bad viseme track: {exc}", field="visemes",
                                  hint=f"visemes: {', '.join(v.value for v in Viseme)}"
                                  ) from None
            return {who: sorted(track, key=lambda p: p[0])} if who else {}
        voices = {rc.character.id: rc.character.voice for rc in req.spec.characters}
        lines = list(shot.dialogue)
        if not lines:
            return {}
        rates = [voices[d.character].rate * 5.5 / 60.0 if d.character in voices else 15.0
                 for d in lines]
        need = 0.25 + sum(len(d.text) / r + 0.3 for d, r in zip(lines, rates, strict=True))
        squeeze = max(1.0, need / max(req.duration, 0.1))
        tracks: dict[str, VisemeTrack] = {}
        t = start = 0.25 / squeeze
        for d, r in zip(lines, rates, strict=True):
            if not d.dual:  # dual dialogue is spoken over the previous line
                start = t
            tr = text_visemes(d.text, start, r * squeeze)
            own = tracks.setdefault(d.character, [])
            own.extend(p for p in tr if not own or p[0] >= own[-1][0])
            t = max(t, tr[-1][0] + 0.3 / squeeze)
        return tracks

    def _subject(self) -> Figure | None:
        shot = self.request.spec.shot
        want = shot.camera.subject
        if want:
            for f in self.figures:
                if f.id == want:
                    return f
            raise EngineError(f"shot {shot.id}: camera subject {want!r} is not in the shot",
                              field="camera.subject",
                              hint=f"characters: {', '.join(f.id for f in self.figures)}")
        return self.figures[0] if self.figures else None

    # -- camera ---------------------------------------------------------------------
    def _base_camera(self) -> Cam:
        vf, top, cam_h, wide = _FRAMING[self.angle]
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

    # -- light ----------------------------------------------------------------------
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

    # -- figures --------------------------------------------------------------------
    def figure_parts(self, cam: Cam, fig: Figure, t: float,
                     canvas: np.ndarray | None) -> dict[str, Box]:
        """Draw a figure (when ``canvas`` is given) and return its region boxes."""
        W, H = self.W, self.H
        sx, sy, s = self.project(cam, fig.x_at(t), 0.0, fig.Z)
        if s <= 0:
            return {k: (0, 0, 0, 0) for k in REGION_KEYS}
        h = fig.height * s  # px
        b = fig.build
        k = 1.0 - float(np.exp(-self.fog_k * (fig.Z - cam.cz)))
        pt = draw.Painter(canvas, W, H, k, self.fog_s, self.scale)
        light = self.light_fn(1.0)
        boxes: dict[str, Box] = {}

        def Y(frac: float) -> float:
            return sy - frac * h

        def X(frac: float) -> float:
            return sx + frac * h

        fw = fig.face_w
        if canvas is not None:
            draw.darken_ellipse(canvas, sx - self.lx * 0.25 * h, sy, 0.22 * h * b, 0.035 * h,
                                0.55 * (1 - self.fill) * (1 - k))
        # legs / lower garment
        skirted = fig.legs_kind in (GarmentKind.skirt, GarmentKind.dress)
        leg_col = fig.skin if skirted else fig.legs
        l1 = pt.rect(X(-0.095 * b), Y(0.52), X(-0.008), Y(0.04), leg_col, light)
        l2 = pt.rect(X(0.008), Y(0.52), X(0.095 * b), Y(0.04), leg_col, light)
        legs_box = _union(l1, l2)
        if skirted:
            bottom = 0.3 if fig.legs_kind == GarmentKind.skirt else 0.24
            legs_box = pt.trapezoid(Y(0.54), Y(bottom), (X(-0.11 * b), X(0.11 * b)),
                                    (X(-0.16 * b), X(0.16 * b)), fig.legs, light)
        s1 = pt.rect(X(-0.105 * b), Y(0.045), X(-0.005), Y(0.0), fig.shoes, light)
        s2 = pt.rect(X(0.005), Y(0.045), X(0.105 * b), Y(0.0), fig.shoes, light)
        boxes["shoes"] = _union(s1, s2)
        boxes["legs"] = legs_box
        # back hair (behind the head)
        hs = fig.hair_style
        hcol = fig.hair
        hy = 0.935  # head centre (fraction of height)
        hry = 0.065 * fig.head_h
        hrx = 0.05 * fw
        hair_boxes = []
        if hs == HairStyle.long:
            hair_boxes.append(pt.rect(X(-hrx - 0.012), Y(hy + 0.02), X(hrx + 0.012), Y(0.79),
                                      hcol, light))
        elif hs == HairStyle.bob:
            hair_boxes.append(pt.ellipse(X(0), Y(hy - 0.005), (hrx + 0.014) * h,
                                         (hry + 0.012) * h, hcol, light))
        elif hs == HairStyle.ponytail:
            hair_boxes.append(pt.ellipse(X(hrx + 0.012), Y(hy - 0.025), 0.018 * h, 0.05 * h,
                                         hcol, light))
        # arms (sleeves) and torso
        tc = fig.torso
        if fig.arms == (0.0, 0.0):
            a1 = pt.rect(X(-0.185 * b), Y(0.83), X(-0.128 * b), Y(0.49), tc, light)
            a2 = pt.rect(X(0.128 * b), Y(0.83), X(0.185 * b), Y(0.49), tc, light)
            pt.ellipse(X(-0.157 * b), Y(0.47), 0.03 * h, 0.03 * h, fig.skin, light)
            pt.ellipse(X(0.157 * b), Y(0.47), 0.03 * h, 0.03 * h, fig.skin, light)
        else:  # posed by the action: each arm swung out (or up) from the shoulder
            arm_boxes = []
            for side, angle in ((-1.0, fig.arms[0]), (1.0, fig.arms[1])):
                x0, y0 = side * 0.157 * b, 0.815
                x1 = x0 + side * 0.32 * float(np.sin(angle))
                y1 = y0 - 0.32 * float(np.cos(angle))
                arm_boxes.append(_limb(pt, X(x0), Y(y0), X(x1), Y(y1), 0.0285 * b * h, tc,
                                       light))
                hx, hy_ = x0 + side * 0.34 * float(np.sin(angle)), \
                    y0 - 0.34 * float(np.cos(angle))
                pt.ellipse(X(hx), Y(hy_), 0.03 * h, 0.03 * h, fig.skin, light)
            a1, a2 = arm_boxes
        low = {GarmentKind.coat: 0.3, GarmentKind.jacket: 0.48,
               GarmentKind.dress: 0.54}.get(fig.torso_kind, 0.5)
        tb = pt.trapezoid(Y(0.845), Y(low), (X(-0.13 * b), X(0.13 * b)),
                          (X(-0.11 * b), X(0.11 * b)), tc, light)
        if fig.inner is not None:
            pt.rect(X(-0.018 * b), Y(0.84), X(0.018 * b), Y(0.6), fig.inner, light)
        boxes["torso"] = tb
        # neck, scarf
        pt.rect(X(-0.025), Y(0.88), X(0.025), Y(0.83), fig.skin * 0.85, light)
        if fig.scarf is not None:
            pt.rect(X(-0.055), Y(0.86), X(0.055), Y(0.815), fig.scarf, light)
            pt.rect(X(0.012), Y(0.83), X(0.05), Y(0.68), fig.scarf, light)
        # head, then the hair on top of it
        face = pt.ellipse(X(0), Y(hy), hrx * h, hry * h, fig.skin, light)
        boxes["face"] = face
        cap_cut = Y(hy + 0.3 * hry)
        if hs == HairStyle.curly:
            hair_boxes.append(pt.ellipse(X(0), Y(hy + 0.02), (hrx + 0.018) * h,
                                         (hry + 0.008) * h, hcol, light, y_max=cap_cut))
        elif hs != HairStyle.bald:
            hair_boxes.append(pt.ellipse(X(0), Y(hy + 0.012), (hrx + 0.006) * h,
                                         (hry + 0.002) * h, hcol, light, y_max=cap_cut))
        if hs == HairStyle.bun:
            hair_boxes.append(pt.ellipse(X(0), Y(hy + hry + 0.018), 0.026 * h, 0.024 * h,
                                         hcol, light))
        boxes["hair"] = _union(*hair_boxes) if hair_boxes else (face[0], face[1],
                                                                face[0], face[1])
        if fig.hat is not None:
            pt.rect(X(-0.085), Y(hy + hry - 0.01), X(0.085), Y(hy + hry - 0.02), fig.hat, light)
            pt.rect(X(-0.052), Y(hy + hry + 0.045), X(0.052), Y(hy + hry - 0.015), fig.hat,
                    light)
        # eyes
        ey = Y(hy + 0.005)
        gap = 0.021 * fw * fig.eye_gap * h
        er = 0.0115 * h
        detail = hry * h >= 4
        if detail:
            if fig.blinking(t):
                lid = fig.skin * 0.45
                e1 = pt.rect(X(0) - gap - er, ey - 0.1 * er, X(0) - gap + er, ey + 0.25 * er, lid)
                e2 = pt.rect(X(0) + gap - er, ey - 0.1 * er, X(0) + gap + er, ey + 0.25 * er, lid)
            else:
                white = np.array([0.93, 0.92, 0.9], np.float32) * self.level
                e1 = pt.ellipse(X(0) - gap, ey, er, 0.62 * er, white)
                e2 = pt.ellipse(X(0) + gap, ey, er, 0.62 * er, white)
                pt.ellipse(X(0) - gap, ey, 0.5 * er, 0.5 * er, fig.eyes * 0.8)
                pt.ellipse(X(0) + gap, ey, 0.5 * er, 0.5 * er, fig.eyes * 0.8)
            boxes["eyes"] = _union(e1, e2)
            if fig.glasses is not None:
                pt.ellipse(X(0) - gap, ey, 1.6 * er, 1.2 * er, fig.glasses, inner=0.8)
                pt.ellipse(X(0) + gap, ey, 1.6 * er, 1.2 * er, fig.glasses, inner=0.8)
        else:
            boxes["eyes"] = draw.clip_box(X(0) - gap, ey, X(0) + gap, ey, W, H)
        # mouth: a fixed box; the dark interior's height grows with the openness
        my = Y(0.897)
        mhw = 0.022 * fw * h
        mhh = 0.0125 * h
        boxes["mouth"] = draw.clip_box(X(0) - mhw, my - mhh, X(0) + mhw, my + mhh, W, H)
        if detail:
            vis = viseme_at(fig.visemes, t)
            op = vis.openness
            rx = 0.9 * mhw * _VISEME_WIDTH.get(vis, 0.9)
            lip = fig.skin * np.array([0.62, 0.38, 0.38], np.float32)
            if op <= 0.02:
                th = max(0.6, 0.1 * mhh)
                pt.rect(X(0) - rx, my - th, X(0) + rx, my + th, lip)
            else:
                ry = max(0.6, 0.8 * mhh * op)
                pt.ellipse(X(0), my, rx + 0.6, ry + 0.6, lip)
                pt.ellipse(X(0), my, rx, ry, MOUTH_DARK)
        boxes["figure"] = _union(legs_box, boxes["shoes"], tb, face, boxes["hair"], a1, a2)
        return boxes

    def _draw_ots(self, canvas: np.ndarray | None, fig: Figure) -> dict[str, Box]:
        """Over-the-shoulder foreground: the back of the other character's head and
        shoulder, large and in shadow, on the frame's left."""
        W, H = self.W, self.H
        pt = draw.Painter(canvas, W, H, scale=self.scale)
        dim = self.fill * 0.5 + 0.25
        light = self.light_fn(0.6)

        def shade(nx: np.ndarray) -> np.ndarray:
            return light(nx) * dim

        tb = pt.trapezoid(0.62 * H, 1.02 * H, (-0.05 * W, 0.3 * W), (-0.12 * W, 0.44 * W),
                          fig.torso, shade)
        hb = pt.ellipse(0.13 * W, 0.4 * H, 0.12 * W, 0.27 * H, fig.hair, shade)
        e = (0, 0, 0, 0)
        return {"figure": _union(tb, hb), "hair": hb, "face": e, "eyes": e, "mouth": e,
                "torso": tb, "legs": e, "shoes": e}

    def _visible(self, cam: Cam, fig: Figure) -> bool:
        if fig is self.ots:
            return False
        D = fig.Z - cam.cz
        if D <= 0.3:
            return False
        if self.subject is not None and fig is not self.subject:
            ds = self.subject.Z - cam.cz
            if D < 0.6 * ds:
                return False  # would fill the frame in front of the subject
        return True

    # -- frames ---------------------------------------------------------------------
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

    def _draw_figure(self, canvas: np.ndarray, cam: Cam, fig: Figure, t: float) -> None:
        self.figure_parts(cam, fig, t, canvas)

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


def _limb(pt: draw.Painter, x0: float, y0: float, x1: float, y1: float, half: float,
          colour: np.ndarray, light) -> Box:
    """A bar of half-width ``half`` px from (x0, y0) to (x1, y1) (pixels)."""
    dx, dy = x1 - x0, y1 - y0
    length = float(np.hypot(dx, dy)) or 1.0
    if abs(dy) < 2 * half:  # about horizontal: a plain bar
        return pt.rect(min(x0, x1), min(y0, y1) - half, max(x0, x1), max(y0, y1) + half,
                       colour, light)
    w = min(half * length / abs(dy), 4 * half)  # horizontal half-width of a slanted bar
    (xa, ya), (xb, yb) = ((x0, y0), (x1, y1)) if y0 < y1 else ((x1, y1), (x0, y0))
    return pt.trapezoid(ya, yb, (xa - w, xa + w), (xb - w, xb + w), colour, light)


def _apart_from(hair: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Hair that reads as hair on that skin: a colour within a small CIEDE2000 distance of
    the skin (a placeholder 'brown' on a brown skin reads as bald) is darkened until it
    stands apart, keeping its hue."""
    from ...colorimetry import delta_e, srgb_to_lab

    out = hair.astype(np.float32)
    skin_lab = srgb_to_lab(skin.astype(np.float64) * 255.0)
    for _ in range(6):
        if float(delta_e(srgb_to_lab(out.astype(np.float64) * 255.0), skin_lab)) >= HAIR_MIN_DE:
            break
        out = out * np.float32(0.72)
    return out


def _union(*boxes: Box) -> Box:
    real = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
    if not real:
        return boxes[0] if boxes else (0, 0, 0, 0)
    return (min(b[0] for b in real), min(b[1] for b in real),
            max(b[2] for b in real), max(b[3] for b in real))


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
