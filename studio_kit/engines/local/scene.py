"""The shot's model: the figures (where each stands, their colours, proportions, pose,
blinks and mouth track) and the props, from the request's spec and drift."""

from __future__ import annotations

import colorsys
import zlib
from dataclasses import dataclass, field

import numpy as np

from ...errors import EngineError
from ...models import GarmentKind, HairStyle, MarkKind
from ...visemes import Viseme, VisemeTrack, viseme_for_letter
from ..base import ResolvedCharacter
from .camera import FRAMING, SET_WIDTH, Z_FAR, Z_NEAR
from .light import rgbf
from .script import names_in, pose_for

HAIR_MIN_DE = 18.0  # hair at least this far (CIEDE2000) from the skin
DRIFT_KINDS = {"hair_hue", "garment_hue", "face", "light_direction", "colour_temperature"}
REGION_KEYS = ("figure", "hair", "face", "eyes", "mouth", "torso", "legs", "shoes")


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



class SceneModel:
    """Building the shot's figures and props (a part of :class:`.render.Renderer`; reads
    its ``request``, ``scene``, ``seed``, ``kinds``, ``wall``, ``ground``, ``W``, ``H``,
    ``duration`` and ``figures``)."""

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
            vf = FRAMING[shot.camera.angle][0]  # visible height / subject height
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
