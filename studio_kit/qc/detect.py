"""Find the people in footage the embedded engine did not draw (cloud takes, altered clips).

Two parts, each recorded in the scores' details so a reader knows what found a figure:

- **A real detector** (OpenCV's Haar cascade ``haarcascade_frontalface_alt2``, whose
  trained weights ship inside ``opencv-python-headless`` as ``cv2.data``; nothing is
  downloaded): frontal faces on the contrast-equalised luma. Measured on the sample
  episode's frames (640x360, ``docs/quality.md``) it finds the lit, frontal, full-size
  faces of the stylised 2.5D figures (the cafe over-the-shoulder and medium shots) and
  misses dark, small or cut faces (close-ups of Mara at night, wide shots); OpenCV's HOG
  people detector and the body cascades found almost none of them. So it confirms a
  placed face where it can, and places a figure from its face where the locator below has
  no confident match (a real cloud take that looks nothing like the bible's proxy).
- **The figure locator** (``FigureLocator``): the shot as intended is drawn from the bible
  by the embedded engine (same camera, marks, pose, mouth, at the same instant; drift
  removed) and each character's figure in that proxy frame is registered onto the
  delivered frame: a coarse multi-scale template match of the figure's luma (OpenCV
  ``matchTemplate``, normalised correlation) then a sub-pixel ECC alignment
  (``findTransformECC``, affine, masked to the figure), both invariant to a change of
  brightness and contrast and little moved by a recoloured garment or hair (the figure's
  shape and shading still line up). The engine's figure regions for the intended shot
  (hair, face, eyes, mouth, torso, legs) are mapped through that transform: that is where
  the delivered clip's figure parts are, after a shift, crop, zoom or a different framing,
  whatever colours they now have. The ECC correlation is the match's confidence.

The scorers then measure colours, shading and mouth motion inside those regions exactly
as on the embedded engine's own regions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ..engines.base import EngineRequest
from .base import Box, RegionsFn, ShotMedia

#: ECC correlation below which the locator's placement is not trusted (a face from the
#: Haar detector is used instead when there is one)
MIN_CONFIDENCE = 0.55
#: scales tried by the coarse template match (delivered figure size / intended)
COARSE_SCALES = (0.8, 0.87, 0.94, 1.0, 1.07, 1.15, 1.25)
COARSE_WIDTH = 160


@lru_cache(maxsize=1)
def face_cascade():
    """OpenCV's frontal-face Haar cascade (the weights ship in the wheel: ``cv2.data``)."""
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml"
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():  # pragma: no cover - a broken OpenCV install
        from ..errors import StudioError

        raise StudioError(f"cannot load the face detector {path}",
                          hint="pip install 'opencv-python-headless<5' (the 4.x wheels ship "
                               "the Haar cascades)")
    return cascade


def face_contrast(gray: np.ndarray) -> np.ndarray:
    """The contrast-equalised luma the face cascade looks at (CLAHE, 8x8 tiles)."""
    import cv2

    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(
        np.ascontiguousarray(gray))


def faces_in(equalised: np.ndarray, min_size: int = 16, max_size: int | None = None
             ) -> list[Box]:
    """Frontal faces in equalised luma (``face_contrast``), sizes ``min_size`` to
    ``max_size`` pixels, as boxes x0, y0, x1, y1, largest first."""
    found = face_cascade().detectMultiScale(
        np.ascontiguousarray(equalised), scaleFactor=1.08, minNeighbors=3,
        minSize=(min_size, min_size),
        maxSize=(max_size, max_size) if max_size else (0, 0))
    boxes = [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in found]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]))


def detect_faces(frame: np.ndarray, min_size: int = 16) -> list[Box]:
    """Frontal faces in an RGB frame (pixel boxes x0, y0, x1, y1), largest first."""
    import cv2

    gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return faces_in(face_contrast(gray), min_size=min_size)


def _value(frame: np.ndarray) -> np.ndarray:
    """HSV value (max of R, G, B) as float32: what figures are registered on. A change of
    hue - the drift the character checks look for - leaves it nearly unchanged, where luma
    (mostly green) changes a lot (a yellow coat turned blue goes dark in luma)."""
    return frame.max(axis=-1).astype(np.float32)


def _luma(frame: np.ndarray) -> np.ndarray:
    f = frame.astype(np.float32)
    return 0.2126 * f[..., 0] + 0.7152 * f[..., 1] + 0.0722 * f[..., 2]


def transform_box(box: Box, warp: np.ndarray) -> Box:
    """The axis-aligned box around an affine-mapped box (``warp``: 2x3)."""
    x0, y0, x1, y1 = box
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        return (0.0, 0.0, 0.0, 0.0)
    pts = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], dtype=np.float64)
    m = pts @ np.asarray(warp, dtype=np.float64).T
    return (float(m[:, 0].min()), float(m[:, 1].min()), float(m[:, 0].max()),
            float(m[:, 1].max()))


def _iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _masked_ncc(tmpl: np.ndarray, image: np.ndarray, mask: np.ndarray, warp: np.ndarray
                ) -> float:
    """Normalised correlation of the template's masked pixels with the image under
    ``warp`` (template px -> image px)."""
    import cv2

    H, W = tmpl.shape
    img = cv2.warpAffine(image, warp.astype(np.float32), (W, H),
                         flags=cv2.INTER_LINEAR + cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    m = mask > 0
    if m.sum() < 8:
        return -1.0
    a, b = tmpl[m].astype(np.float64), img[m].astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    d = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / d) if d > 0 else -1.0


@dataclass
class Placement:
    """Where a character of the intended shot is in the delivered frame at one instant."""

    t: float
    warp: np.ndarray  # 2x3: intended (analysis px) -> delivered (analysis px)
    confidence: float
    source: str  # "locator" | "haar-face" | "not found"
    haar_confirmed: bool = False


@dataclass
class FigureLocator:
    """Registers the bible's proxy of the shot (the embedded engine's drawing of the
    intended request) onto a delivered clip, per character and sampled instant."""

    request: EngineRequest
    media: ShotMedia
    use_haar: bool = True
    _renderer: Any = None
    _cache: dict[tuple[str, int], Placement] = field(default_factory=dict)
    _frames: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from ..engines.local.engine import validate_request
        from .runner import nominal

        self._renderer = validate_request(nominal(self.request))
        fmt = self.request.format
        h, w = self.media.frames.shape[1:3]
        # intended (request px) -> analysis px of the intended proxy frame
        self.sx, self.sy = w / fmt.width, h / fmt.height
        self.ids = [f.id for f in self._renderer.figures]

    # -- the intended shot ----------------------------------------------------------------
    def _sample(self, t: float) -> int:
        return min(int(round(t * self.media.fps)), len(self.media.frames) - 1)

    def _intended(self, i: int) -> np.ndarray:
        if i not in self._frames:
            import cv2

            f = self._renderer.frame(i / self.media.fps)
            h, w = self.media.frames.shape[1:3]
            if f.shape[:2] != (h, w):
                f = cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
            self._frames[i] = f
        return self._frames[i]

    def intended_regions(self, cid: str, t: float) -> dict[str, Box]:
        """The engine's regions of the intended shot, in analysis px."""
        r = self._renderer.regions(cid, t)
        return {k: (v[0] * self.sx, v[1] * self.sy, v[2] * self.sx, v[3] * self.sy)
                for k, v in r.items()}

    # -- registration ---------------------------------------------------------------------
    def _coarse(self, tmpl: np.ndarray, image: np.ndarray, box: Box) -> tuple[np.ndarray, float]:
        """Best scale and offset of the figure patch (intended) in the delivered luma, at
        ``COARSE_WIDTH`` px wide; returns an initial 2x3 warp and its correlation."""
        import cv2

        H, W = image.shape
        # small figures (wide shots) are searched at a finer scale: >= 32 px wide
        k = min(1.0, max(COARSE_WIDTH / W, 32.0 / max(box[2] - box[0], 1.0)))
        small_t = cv2.resize(tmpl, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        small_i = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        x0, y0, x1, y1 = (int(round(v * k)) for v in box)
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, small_t.shape[1]), min(y1, small_t.shape[0])
        patch = small_t[y0:y1, x0:x1]
        best = (-2.0, np.array([[1.0, 0, 0], [0, 1.0, 0]]))
        if patch.shape[0] < 4 or patch.shape[1] < 4 or float(patch.std()) < 1.0:
            return best[1], 0.0
        pad = int(0.3 * max(small_i.shape))
        big = cv2.copyMakeBorder(small_i, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        for s in COARSE_SCALES:
            p = cv2.resize(patch, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
            if p.shape[0] >= big.shape[0] or p.shape[1] >= big.shape[1] or min(p.shape) < 4:
                continue
            res = cv2.matchTemplate(big, p, cv2.TM_CCOEFF_NORMED)
            # a prior on the intended place: the same figure rarely jumps across the frame
            ys, xs = np.mgrid[0:res.shape[0], 0:res.shape[1]]
            px = xs - pad + p.shape[1] / 2 - cx
            py = ys - pad + p.shape[0] / 2 - cy
            prior = 0.15 * np.hypot(px, py) / max(small_i.shape)
            score = res - prior
            j = np.unravel_index(int(np.nanargmax(score)), score.shape)
            if score[j] > best[0]:
                # maps patch px -> big px; compose to intended-frame px -> delivered px
                tx = (j[1] - pad) / k - s * x0 / k
                ty = (j[0] - pad) / k - s * y0 / k
                best = (float(score[j]), np.array([[s, 0, tx], [0, s, ty]]))
        return best[1], best[0]

    def _register(self, cid: str, i: int) -> Placement:
        import cv2

        t = i / self.media.fps
        regions = self.intended_regions(cid, t)
        box = regions.get("figure", (0, 0, 0, 0))
        H, W = self.media.frames.shape[1:3]
        ident = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        visible = (min(box[2], W) - max(box[0], 0)) * (min(box[3], H) - max(box[1], 0))
        if box[2] <= box[0] or box[3] <= box[1] or visible < 16:
            return Placement(t, ident, 0.0, "not in the intended frame")
        tmpl = _value(self._intended(i))
        image = _value(self.media.frames[i])
        coarse, coarse_cc = self._coarse(tmpl, image, box)
        mask = np.zeros((H, W), np.uint8)
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 1
        # the figure itself, not the background inside its box (the background can move
        # separately from the figure: pan, parallax, a different set)
        bg = self._background(i)
        if bg is not None:
            fg = np.abs(tmpl - _value(bg)) > 2.0
            fg = cv2.dilate(fg.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            if (fg & (mask > 0)).sum() >= 64:
                mask = (mask.astype(bool) & fg).astype(np.uint8)
        # candidates: where the shot put the figure, the whole frame's registration (a
        # shift or zoom of the footage moves set and figures together), the coarse match;
        # each also refined by ECC. A figure whose colours changed can fool the coarse
        # match and pull ECC off, so every candidate is judged by the same measure: the
        # normalised correlation of the figure's pixels under it. Earlier ones win ties.
        ident = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        starts = [ident]
        g = self._global(i)
        if g is not None:
            starts.append(g)
        small = box[2] - box[0] < 40
        if not small:
            starts.append(coarse)
        else:
            # a figure under 40 px: its scale is not measurable apart from the frame's (a
            # few pixels of blur or fog read as a 7 % zoom): the coarse match's place at the
            # anchor's scale
            a = g if g is not None else ident
            cb = transform_box(box, coarse)
            ab = transform_box(box, a)
            moved = a.copy()
            moved[0, 2] += 0.5 * (cb[0] + cb[2] - ab[0] - ab[2])
            moved[1, 2] += 0.5 * (cb[1] + cb[3] - ab[1] - ab[3])
            starts.append(moved)
        cands = []
        for init in starts:
            cands.append(init)
            got = self._ecc(tmpl, image, mask, init, box)
            if got is not None:
                cands.append(got[0])
        # plausible only: the figure stays within 15 % of the frame width of where the shot
        # (or the whole frame's registration) put it
        anchor = transform_box(box, g if g is not None else ident)
        ax, ay = 0.5 * (anchor[0] + anchor[2]), 0.5 * (anchor[1] + anchor[3])
        best, best_cc = ident, -2.0
        for k, c in enumerate(cands):
            b = transform_box(box, c)
            if np.hypot(0.5 * (b[0] + b[2]) - ax, 0.5 * (b[1] + b[3]) - ay) > 0.15 * W:
                continue
            cc = _masked_ncc(tmpl, image, mask, c)
            if cc > best_cc + (0.0 if k == 0 else 0.02):
                best, best_cc = c, cc
        if small and best_cc < 0.3:  # not near where intended: the coarse search's place
            cc = _masked_ncc(tmpl, image, mask, coarse)
            if cc > best_cc + 0.1:
                best, best_cc = coarse, cc
        return Placement(t, best, max(float(best_cc), 0.0), "locator")

    def _global(self, i: int) -> np.ndarray | None:
        """The whole intended frame registered onto the delivered one (affine ECC on a
        half-size copy), when it converges well (correlation >= 0.9): the footage as a
        whole was shifted, cropped or scaled."""
        import cv2

        if not hasattr(self, "_globals"):
            self._globals: dict[int, np.ndarray | None] = {}
        if i in self._globals:
            return self._globals[i]
        a = cv2.resize(_luma(self._intended(i)), None, fx=0.5, fy=0.5,
                       interpolation=cv2.INTER_AREA)
        b = cv2.resize(_luma(self.media.frames[i]), None, fx=0.5, fy=0.5,
                       interpolation=cv2.INTER_AREA)
        out = None
        try:
            crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
            cc, w = cv2.findTransformECC(a, b, np.eye(2, 3, dtype=np.float32),
                                         cv2.MOTION_AFFINE, crit, None, 5)
            if cc >= 0.9:
                out = np.asarray(w, dtype=np.float64)
                out[:, 2] *= 2.0  # half-size px -> analysis px
        except cv2.error:
            out = None
        self._globals[i] = out
        return out

    @staticmethod
    def _ecc(tmpl: np.ndarray, image: np.ndarray, mask: np.ndarray, init: np.ndarray,
             box: Box) -> tuple[np.ndarray, float] | None:
        """Sub-pixel ECC alignment from ``init`` (None when it does not converge to a
        plausible placement). Small figures (< 40 px wide): translation only, on top of
        the init's scale (an affine fit on a few hundred pixels is ill-conditioned)."""
        import cv2

        H, W = image.shape
        small = box[2] - box[0] < 40
        w32 = init.astype(np.float32)
        crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 80, 1e-5)
        try:
            if small:
                img = cv2.warpAffine(image, w32, (W, H), flags=cv2.INTER_LINEAR
                                     + cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
                cc, d = cv2.findTransformECC(tmpl, img, np.eye(2, 3, dtype=np.float32),
                                             cv2.MOTION_TRANSLATION, crit, mask, 3)
                w32 = (np.vstack([w32, [0, 0, 1]]) @ np.vstack([d, [0, 0, 1]]))[:2]
            else:
                cc, w32 = cv2.findTransformECC(tmpl, image, w32, cv2.MOTION_AFFINE, crit,
                                               mask, 5)
        except cv2.error:
            return None
        warp = np.asarray(w32, dtype=np.float64)
        # an affine that shears, flips or runs away is not a placement of the same figure
        a = warp[:, :2]
        sv = np.linalg.svd(a, compute_uv=False)
        if (np.linalg.det(a) <= 0 or sv.max() > 1.6 or sv.min() < 0.6
                or sv.max() / sv.min() > 1.2 or np.abs(warp[:, 2] - init[:, 2]).max() > 0.1 * W):
            return None
        return warp, float(cc)

    def _background(self, i: int) -> np.ndarray | None:
        """The intended frame without its figures (same camera): for the figure mask."""
        if not hasattr(self, "_bg_renderer"):
            from ..engines.local.engine import validate_request
            from .runner import nominal

            req = nominal(self.request)
            shot = req.spec.shot.model_copy(update={"characters": [], "dialogue": []})
            spec = req.spec.model_copy(update={"shot": shot, "characters": []})
            try:
                self._bg_renderer = validate_request(req.model_copy(update={"spec": spec}))
            except Exception:  # noqa: BLE001 - no empty set for this request: box mask only
                self._bg_renderer = None
        if self._bg_renderer is None:
            return None
        import cv2

        f = self._bg_renderer.frame(i / self.media.fps)
        h, w = self.media.frames.shape[1:3]
        return f if f.shape[:2] == (h, w) else cv2.resize(f, (w, h),
                                                           interpolation=cv2.INTER_AREA)

    def place(self, cid: str, t: float) -> Placement:
        i = self._sample(t)
        key = (cid, i)
        if key in self._cache:
            return self._cache[key]
        p = self._register(cid, i)
        if self.use_haar and p.source == "locator":
            p = self._with_faces(cid, i, p)
        self._cache[key] = p
        return p

    def _with_faces(self, cid: str, i: int, p: Placement) -> Placement:
        face = self.intended_regions(cid, p.t).get("face", (0, 0, 0, 0))
        if face[2] - face[0] < 16:
            return p
        placed = transform_box(face, p.warp)
        faces = detect_faces(self.media.frames[i])
        hit = max(faces, key=lambda b: _iou(b, placed), default=None)
        if hit is not None and _iou(hit, placed) >= 0.3:
            p.haar_confirmed = True
            return p
        if p.confidence >= MIN_CONFIDENCE or not faces:
            return p
        # no confident registration: place the figure by the detected face nearest the
        # intended one (a similarity taking the intended face box onto it)
        cx, cy = 0.5 * (face[0] + face[2]), 0.5 * (face[1] + face[3])
        near = min(faces, key=lambda b: np.hypot(0.5 * (b[0] + b[2]) - cx,
                                                  0.5 * (b[1] + b[3]) - cy))
        s = (near[2] - near[0]) / max(face[2] - face[0], 1.0)
        tx = 0.5 * (near[0] + near[2]) - s * cx
        ty = 0.5 * (near[1] + near[3]) - s * cy
        return Placement(p.t, np.array([[s, 0, tx], [0, s, ty]]), p.confidence, "haar-face",
                         True)

    # -- what the scorers use -------------------------------------------------------------
    def regions_at(self, cid: str, t: float) -> dict[str, Box]:
        """The character's regions in the delivered clip at ``t``, in the file's pixels
        (the scorers' contract), from the placement at the nearest located instant."""
        p = self.place(cid, self._anchor(t))
        scale = self.media.scale
        out = {}
        for k, b in self.intended_regions(cid, t).items():
            x0, y0, x1, y1 = transform_box(b, p.warp)
            # whole pixels, like the engine's own boxes (x1, y1 exclusive): the shading
            # profiles cut columns at the box edges, and a box edge 0.01 px inside a
            # column would drop that column
            out[k] = tuple(float(round(v / scale)) for v in (x0, y0, x1, y1))
        return out

    def _anchor(self, t: float) -> float:
        """Registration is done on a few instants (5 across the shot, like the scorers'
        samples); other instants use the nearest one."""
        from .measure import sample_times

        anchors = sample_times(self.media.duration_s)
        return min(anchors, key=lambda a: abs(a - t))

    def hair_mask_at(self, cid: str, t: float) -> np.ndarray | None:
        """The character's visible hair in the delivered frame at ``t`` (analysis px): the
        bible proxy's hair mask (``qc.masks``) through the figure's placement."""
        from .masks import HairMasks, warp_mask

        if not hasattr(self, "_hair"):
            self._hair = HairMasks(self.request, self.media.frames.shape[1:3])
        m = self._hair.intended(cid, t)
        if m is None:
            return None
        return warp_mask(m, self.place(cid, self._anchor(t)).warp)

    def figures_mask_at(self, t: float) -> np.ndarray | None:
        """Where the figures are in the delivered frame at ``t`` (analysis px): each
        character's silhouette in the proxy (inside its figure box) through its
        placement; the rest of the frame is the set (for the background palette)."""
        from .masks import HairMasks, warp_mask

        if not hasattr(self, "_hair"):
            self._hair = HairMasks(self.request, self.media.frames.shape[1:3])
        fg = self._hair.figures(t)
        if fg is None:
            return None
        out = np.zeros_like(fg)
        for cid in self.ids:
            x0, y0, x1, y1 = self.intended_regions(cid, t).get("figure", (0, 0, 0, 0))
            if x1 <= x0 or y1 <= y0:
                continue
            m = np.zeros_like(fg)
            ya, xa = max(int(y0) - 4, 0), max(int(x0) - 4, 0)
            m[ya:int(np.ceil(y1)) + 4, xa:int(np.ceil(x1)) + 4] = \
                fg[ya:int(np.ceil(y1)) + 4, xa:int(np.ceil(x1)) + 4]
            out |= warp_mask(m, self.place(cid, self._anchor(t)).warp)
        return out

    def regions_fn(self) -> RegionsFn:
        return self.regions_at

    def summary(self) -> dict[str, Any]:
        """Per character: what placed it, the mean confidence, Haar confirmations."""
        out: dict[str, Any] = {}
        for (cid, _i), p in sorted(self._cache.items()):
            d = out.setdefault(cid, {"placed_by": {}, "confidence": [], "haar_confirmed": 0,
                                     "instants": 0})
            d["placed_by"][p.source] = d["placed_by"].get(p.source, 0) + 1
            d["confidence"].append(p.confidence)
            d["haar_confirmed"] += int(p.haar_confirmed)
            d["instants"] += 1
            d["shift_px"] = [round(float(p.warp[0, 2]), 1), round(float(p.warp[1, 2]), 1)]
            d["scale"] = round(float(np.sqrt(abs(np.linalg.det(p.warp[:, :2])))), 3)
        for d in out.values():
            d["confidence"] = round(float(np.mean(d["confidence"])), 3)
        return out
