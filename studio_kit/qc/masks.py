"""Where a character's hair is visible, pixel by pixel, from the bible's proxy of the shot.

The hair box of a figure holds much more than hair: the face, background between locks,
and whatever the character wears on the head (Theo's beanie covers most of his hair box).
Averaging the box, or clustering it and guessing which cluster is hair, reads the hat or
the background as hair (or finds no hair at all: dark hair in a dark room is one cluster
with the room). So the hair is segmented where the segmentation is known: the shot as
intended is drawn from the bible by the embedded engine twice, once as it is and once
with that character's hair (only) in the opposite hue; the pixels that change are exactly
the visible hair - without the hat (drawn over it), the face, the background, another
figure in front or another figure's hair.

That mask is in the intended frame. For a clip the engine drew, it is the clip's hair;
for any other footage the figure locator maps it through the placement it measured for
that character (``FigureLocator.hair_mask_at``), like the figure's boxes. Reference stills
get the mask of their own (reference) request, so shot and reference compare the same
kind of pixels at any figure size: a 5 px face in an extreme wide shot has a few dozen hair
pixels, enough for a mean colour, where the 12 x 12 hair cells need a 40 px face.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engines.base import EngineRequest

#: an 8-bit channel change larger than this between the two proxy drawings is hair
HAIR_DIFF = 6
#: fewer visible hair pixels than this (analysis px) give no hair colour
MIN_HAIR_PX = 8


class HairMasks:
    """Visible-hair masks of a request's characters, in analysis pixels (``shape``)."""

    def __init__(self, request: EngineRequest, shape: tuple[int, int]) -> None:
        from ..engines.local.engine import validate_request
        from .runner import nominal

        self._base = nominal(request)
        self._a = validate_request(self._base)
        self._b: dict[str, Any] = {}
        self.shape = (int(shape[0]), int(shape[1]))
        self._cache: dict[tuple[str, float], np.ndarray | None] = {}

    def _other_hair(self, cid: str):
        """The proxy with this character's hair (only) drawn in the opposite hue."""
        if cid not in self._b:
            from ..engines.local.engine import validate_request

            chars = []
            for rc in self._base.spec.characters:
                if rc.character.id == cid:
                    app = rc.character.appearance
                    app = app.model_copy(update={"hair_colour": _opposite(app.hair_colour)})
                    rc = rc.model_copy(update={"character": rc.character.model_copy(
                        update={"appearance": app})})
                chars.append(rc)
            spec = self._base.spec.model_copy(update={"characters": chars})
            self._b[cid] = validate_request(self._base.model_copy(update={"spec": spec}))
        return self._b[cid]

    def figures(self, t: float) -> np.ndarray | None:
        """Every figure's silhouette in the intended frame at ``t`` (analysis px): where
        the proxy changes when every character is drawn in opposite colours (skin, hair,
        eyes, garments: the same camera, staging and pose), closed and dilated by 3 px
        (eyes, mouths, soft edges)."""
        import cv2

        key = ("<figures>", round(float(t), 6))
        if key in self._cache:
            return self._cache[key]
        a = self._a.frame(t).astype(np.int16)
        fg = np.abs(a - self._opposite_all().frame(t).astype(np.int16)).max(axis=-1) > 2
        fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        fg = cv2.dilate(fg, np.ones((7, 7), np.uint8))
        if fg.shape != self.shape:
            fg = cv2.resize(fg.astype(np.float32), (self.shape[1], self.shape[0]),
                            interpolation=cv2.INTER_AREA)
        out = fg > 0.25
        self._cache[key] = out
        return out

    def _opposite_all(self):
        if not hasattr(self, "_all"):
            from ..engines.local.engine import validate_request

            chars = []
            for rc in self._base.spec.characters:
                app = rc.character.appearance
                app = app.model_copy(update={k: _opposite(getattr(app, k))
                                             for k in ("skin", "hair_colour", "eye_colour")})
                garments = [g.model_copy(update={"colours": [_opposite(c) for c in g.colours]})
                            for g in rc.garments]
                chars.append(rc.model_copy(update={
                    "character": rc.character.model_copy(update={"appearance": app}),
                    "garments": garments}))
            spec = self._base.spec.model_copy(update={"characters": chars})
            self._all = validate_request(self._base.model_copy(update={"spec": spec}))
        return self._all

    def _diff(self, cid: str, t: float) -> np.ndarray:
        a = self._a.frame(t).astype(np.int16)
        b = self._other_hair(cid).frame(t).astype(np.int16)
        return np.abs(a - b).max(axis=-1) > HAIR_DIFF

    def intended(self, cid: str, t: float) -> np.ndarray | None:
        """The character's visible hair in the intended frame at ``t`` (None: no hair in
        view, e.g. bald, covered, off screen)."""
        key = (cid, round(float(t), 6))
        if key in self._cache:
            return self._cache[key]
        import cv2

        diff = self._diff(cid, t)
        out = None
        box = self._a.regions(cid, t).get("hair")
        if box is not None and box[2] > box[0] and box[3] > box[1]:
            H, W = diff.shape
            m = np.zeros_like(diff)
            x0, y0 = max(int(box[0]) - 1, 0), max(int(box[1]) - 1, 0)
            x1, y1 = min(int(np.ceil(box[2])) + 1, W), min(int(np.ceil(box[3])) + 1, H)
            m[y0:y1, x0:x1] = diff[y0:y1, x0:x1]
            if m.shape != self.shape:
                m = cv2.resize(m.astype(np.float32), (self.shape[1], self.shape[0]),
                               interpolation=cv2.INTER_AREA) > 0.5
            if m.sum() >= MIN_HAIR_PX:
                out = m
        self._cache[key] = out
        return out


def _opposite(hex_colour: str) -> str:
    """The hair colour with its hue turned half way round, saturation and value raised to
    at least 0.6 / 0.36 (dark, greyish hair changes visibly too)."""
    import colorsys

    from ..models import hex_to_rgb

    r, g, b = (c / 255.0 for c in hex_to_rgb(hex_colour))
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    r, g, b = colorsys.hsv_to_rgb((h + 0.5) % 1.0, max(s, 0.6), max(v, 0.36))
    return "#{:02x}{:02x}{:02x}".format(*(int(round(255 * c)) for c in (r, g, b)))


def warp_mask(mask: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """A mask of the intended frame mapped onto the delivered frame (``warp``: 2x3,
    intended px -> delivered px)."""
    import cv2

    h, w = mask.shape
    m = cv2.warpAffine(mask.astype(np.float32), np.asarray(warp, np.float32), (w, h),
                       flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return m > 0.5


def masked_colour(frame: np.ndarray, mask: np.ndarray | None,
                  exclude: list[tuple[float, float, float, float]] | None = None
                  ) -> np.ndarray | None:
    """Trimmed mean sRGB of the masked pixels (eroded by one pixel when the mask is large
    enough: edge pixels mix hair with what is behind it); pixels inside ``exclude`` boxes
    (other figures, which may be in front) are left out."""
    import cv2

    from .references import trimmed_mean

    if mask is None or mask.shape != frame.shape[:2]:
        return None
    m = mask.copy()
    for b in exclude or []:
        if b[2] > b[0] and b[3] > b[1]:
            m[max(int(b[1]), 0):max(int(np.ceil(b[3])), 0),
              max(int(b[0]), 0):max(int(np.ceil(b[2])), 0)] = False
    eroded = cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if eroded.sum() >= 4 * MIN_HAIR_PX:
        m = eroded
    if m.sum() < MIN_HAIR_PX:
        return None
    return trimmed_mean(frame[m])


def hair_masks_for(request: EngineRequest, shape: tuple[int, int]) -> Any:
    """``HairMasks`` for a request, or None when the bible's proxy cannot be drawn."""
    from ..engines.base import EngineError
    from ..errors import StudioError

    try:
        return HairMasks(request, shape)
    except (EngineError, StudioError, KeyError, ValueError):
        return None
