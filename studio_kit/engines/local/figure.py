"""Drawing a figure: legs, shoes, torso and sleeves, neck, head, hair, hat, eyes and a
mouth shaped by the viseme at that time, with the region boxes QC reads; and the
over-the-shoulder foreground."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...models import GarmentKind, HairStyle
from ...visemes import Viseme, viseme_at
from . import draw
from .camera import Box, Cam
from .scene import REGION_KEYS, Figure

MOUTH_DARK = np.array([40, 12, 14], dtype=np.float32) / 255.0
_VISEME_WIDTH = {Viseme.wq: 0.55, Viseme.o: 0.75, Viseme.ai: 1.0, Viseme.e: 1.1}


@dataclass(frozen=True)
class Proportions:
    """Where a figure's parts sit and how big they are, as fractions of its height: heights
    up from the soles, half-widths out from the body's centre line. Those marked "x build"
    are multiplied by the character's build; the head's by the face-width and head-height
    drift. The shapes drawn between these landmarks (hair volumes, hat brim, lids) are
    offsets from them in :meth:`FigureDrawing.figure_parts`."""

    head_centre: float = 0.935
    head_half_height: float = 0.065  # x head_h
    head_half_width: float = 0.05  # x face_w
    neck_top: float = 0.88
    neck_bottom: float = 0.83
    neck_half_width: float = 0.025
    torso_top: float = 0.845
    torso_top_half_width: float = 0.13  # x build (the shoulders)
    torso_hem_half_width: float = 0.11  # x build
    torso_hem_default: float = 0.5  # where a top ends; coats, jackets, dresses below
    coat_hem: float = 0.3
    jacket_hem: float = 0.48
    dress_hem: float = 0.54
    sleeve_top: float = 0.83
    sleeve_bottom: float = 0.49
    sleeve_outer: float = 0.185  # x build
    sleeve_inner: float = 0.128  # x build
    hand_height: float = 0.47  # arms hanging
    hand_x: float = 0.157  # x build, also the shoulder joint of a posed arm
    hand_radius: float = 0.03
    shoulder_joint: float = 0.815  # where a posed arm swings from
    arm_length: float = 0.32  # shoulder to wrist
    hand_reach: float = 0.34  # shoulder to the hand's centre
    arm_half_width: float = 0.0285  # x build
    leg_top: float = 0.52
    ankle: float = 0.04
    leg_outer: float = 0.095  # x build
    leg_inner: float = 0.008
    skirt_top: float = 0.54
    skirt_hem: float = 0.3
    dress_skirt_hem: float = 0.24
    skirt_top_half_width: float = 0.11  # x build
    skirt_hem_half_width: float = 0.16  # x build
    shoe_top: float = 0.045
    shoe_outer: float = 0.105  # x build
    shoe_inner: float = 0.005
    eye_lift: float = 0.005  # eyes above the head's centre
    eye_gap: float = 0.021  # x face_w x the eye-gap drift
    eye_radius: float = 0.0115
    mouth_height: float = 0.897
    mouth_half_width: float = 0.022  # x face_w
    mouth_half_height: float = 0.0125


#: the one table every figure is drawn with (and QC's region boxes come from)
PROPORTIONS = Proportions()


class FigureDrawing:
    """Figures and their regions (a part of :class:`.render.Renderer`; reads its ``W``,
    ``H``, ``fog_k``, ``fog_s``, ``scale``, ``lx``, ``fill``, ``level``, ``ots`` and
    ``subject``, and draws with its ``project`` and ``light_fn``)."""

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

        P = PROPORTIONS
        fw = fig.face_w
        if canvas is not None:
            draw.darken_ellipse(canvas, sx - self.lx * 0.25 * h, sy, 0.22 * h * b, 0.035 * h,
                                0.55 * (1 - self.fill) * (1 - k))
        # legs / lower garment
        skirted = fig.legs_kind in (GarmentKind.skirt, GarmentKind.dress)
        leg_col = fig.skin if skirted else fig.legs
        l1 = pt.rect(X(-P.leg_outer * b), Y(P.leg_top), X(-P.leg_inner), Y(P.ankle), leg_col,
                     light)
        l2 = pt.rect(X(P.leg_inner), Y(P.leg_top), X(P.leg_outer * b), Y(P.ankle), leg_col,
                     light)
        legs_box = _union(l1, l2)
        if skirted:
            bottom = P.skirt_hem if fig.legs_kind == GarmentKind.skirt else P.dress_skirt_hem
            legs_box = pt.trapezoid(Y(P.skirt_top), Y(bottom),
                                    (X(-P.skirt_top_half_width * b), X(P.skirt_top_half_width * b)),
                                    (X(-P.skirt_hem_half_width * b), X(P.skirt_hem_half_width * b)),
                                    fig.legs, light)
        s1 = pt.rect(X(-P.shoe_outer * b), Y(P.shoe_top), X(-P.shoe_inner), Y(0.0), fig.shoes, light)
        s2 = pt.rect(X(P.shoe_inner), Y(P.shoe_top), X(P.shoe_outer * b), Y(0.0), fig.shoes, light)
        boxes["shoes"] = _union(s1, s2)
        boxes["legs"] = legs_box
        # back hair (behind the head)
        hs = fig.hair_style
        hcol = fig.hair
        hy = P.head_centre
        hry = P.head_half_height * fig.head_h
        hrx = P.head_half_width * fw
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
            a1 = pt.rect(X(-P.sleeve_outer * b), Y(P.sleeve_top), X(-P.sleeve_inner * b),
                         Y(P.sleeve_bottom), tc, light)
            a2 = pt.rect(X(P.sleeve_inner * b), Y(P.sleeve_top), X(P.sleeve_outer * b),
                         Y(P.sleeve_bottom), tc, light)
            pt.ellipse(X(-P.hand_x * b), Y(P.hand_height), P.hand_radius * h, P.hand_radius * h,
                       fig.skin, light)
            pt.ellipse(X(P.hand_x * b), Y(P.hand_height), P.hand_radius * h, P.hand_radius * h,
                       fig.skin, light)
        else:  # posed by the action: each arm swung out (or up) from the shoulder
            arm_boxes = []
            for side, angle in ((-1.0, fig.arms[0]), (1.0, fig.arms[1])):
                x0, y0 = side * P.hand_x * b, P.shoulder_joint
                x1 = x0 + side * P.arm_length * float(np.sin(angle))
                y1 = y0 - P.arm_length * float(np.cos(angle))
                arm_boxes.append(_limb(pt, X(x0), Y(y0), X(x1), Y(y1), P.arm_half_width * b * h, tc,
                                       light))
                hx, hy_ = x0 + side * P.hand_reach * float(np.sin(angle)), \
                    y0 - P.hand_reach * float(np.cos(angle))
                pt.ellipse(X(hx), Y(hy_), P.hand_radius * h, P.hand_radius * h, fig.skin, light)
            a1, a2 = arm_boxes
        low = {GarmentKind.coat: P.coat_hem, GarmentKind.jacket: P.jacket_hem,
               GarmentKind.dress: P.dress_hem}.get(fig.torso_kind, P.torso_hem_default)
        tb = pt.trapezoid(Y(P.torso_top), Y(low),
                          (X(-P.torso_top_half_width * b), X(P.torso_top_half_width * b)),
                          (X(-P.torso_hem_half_width * b), X(P.torso_hem_half_width * b)),
                          tc, light)
        if fig.inner is not None:
            pt.rect(X(-0.018 * b), Y(0.84), X(0.018 * b), Y(0.6), fig.inner, light)
        boxes["torso"] = tb
        # neck, scarf
        pt.rect(X(-P.neck_half_width), Y(P.neck_top), X(P.neck_half_width), Y(P.neck_bottom),
                fig.skin * 0.85, light)
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
        ey = Y(hy + P.eye_lift)
        gap = P.eye_gap * fw * fig.eye_gap * h
        er = P.eye_radius * h
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
        my = Y(P.mouth_height)
        mhw = P.mouth_half_width * fw * h
        mhh = P.mouth_half_height * h
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

    def _draw_figure(self, canvas: np.ndarray, cam: Cam, fig: Figure, t: float) -> None:
        self.figure_parts(cam, fig, t, canvas)


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



def _union(*boxes: Box) -> Box:
    real = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
    if not real:
        return boxes[0] if boxes else (0, 0, 0, 0)
    return (min(b[0] for b in real), min(b[1] for b in real),
            max(b[2] for b in real), max(b[3] for b in real))
