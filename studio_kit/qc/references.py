"""Measurements of figures and backgrounds, and the reference measurements shots are
compared with.

Colour is compared as *log chromaticity* ``(log R/G, log B/G)`` of sRGB values: shading by
the key light multiplies a pixel by a scalar, which log chromaticity ignores, and a change
of white balance (colour temperature) adds one constant offset to every pixel, which we
estimate from the background and remove before comparing a character's colours. So the
character check sees hair / garment / skin colour, the continuity check sees the light.

- ``CharacterReference``: a character's region chromaticities (hair palette, face, torso,
  legs), face proportion and torso shading profile, measured on the character's reference
  frame.
- ``SceneReference``: the scene's locked reference frame: background palette (CIELAB and
  mean sRGB of each cluster).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from .base import Box

EPS = 4.0  # added to 8-bit channels before log ratios, so near-black pixels stay quiet
PROFILE_BINS = 12
#: faces narrower than this (pixels, as measured) are too small to read proportions from;
#: a 10 % change of such a face moves a handful of pixels and is not visible either
MIN_FACE_PX = 40
#: torsos narrower than this give shading profiles dominated by codec and edge effects
MIN_TORSO_PX = 60
#: small torsos (wide shots) still give a coarse reading of the key light: a profile of
#: ``SMALL_PROFILE_BINS`` bins, compared with the reference frame rendered at the same framing
MIN_SMALL_TORSO_PX = 12
SMALL_PROFILE_BINS = 6


# -- measurements ---------------------------------------------------------------------------
def chroma(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) sRGB 0..255 -> (..., 2) log chromaticity (log R/G, log B/G)."""
    f = np.asarray(rgb, dtype=np.float64) + EPS
    return np.stack([np.log(f[..., 0] / f[..., 1]), np.log(f[..., 2] / f[..., 1])], axis=-1)


def _luma(px: np.ndarray) -> np.ndarray:
    f = np.asarray(px, dtype=np.float64)
    return 0.2126 * f[..., 0] + 0.7152 * f[..., 1] + 0.0722 * f[..., 2]


def _box(box: Box, scale: float) -> tuple[float, float, float, float]:
    return tuple(float(v) * scale for v in box)  # type: ignore[return-value]


def _empty(box: Box) -> bool:
    return box[2] - box[0] < 1 or box[3] - box[1] < 1


def _slice(frame: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    h, w = frame.shape[:2]
    xa, xb = max(int(round(x0)), 0), min(int(round(x1)), w)
    ya, yb = max(int(round(y0)), 0), min(int(round(y1)), h)
    if xb <= xa or yb <= ya:
        return np.empty((0, 3))
    return frame[ya:yb, xa:xb].reshape(-1, 3)


def trimmed_mean(px: np.ndarray) -> np.ndarray | None:
    """Mean colour of the pixels whose luma is in the middle half (drops eyes, mouth,
    highlights and anti-aliased edges)."""
    if len(px) < 6:
        return None
    y = _luma(px)
    lo, hi = np.percentile(y, [25, 75])
    keep = (y >= lo) & (y <= hi)
    return px[keep].astype(np.float64).mean(axis=0) if keep.sum() >= 3 else None


def region_colour(frame: np.ndarray, regions: dict[str, Box], name: str,
                  scale: float = 1.0) -> np.ndarray | None:
    """Typical colour of a face / torso / legs region (torso: the central strip, where an
    open coat shows the top underneath, is left out)."""
    if name not in regions or _empty(regions[name]):
        return None
    x0, y0, x1, y1 = _box(regions[name], scale)
    w, h = x1 - x0, y1 - y0
    if name == "torso":
        px = np.concatenate([_slice(frame, x0 + 0.15 * w, y0 + 0.15 * h, x0 + 0.38 * w,
                                    y1 - 0.15 * h),
                             _slice(frame, x0 + 0.62 * w, y0 + 0.15 * h, x1 - 0.15 * w,
                                    y1 - 0.15 * h)])
    else:
        px = _slice(frame, x0 + 0.25 * w, y0 + 0.25 * h, x1 - 0.25 * w, y1 - 0.25 * h)
    return trimmed_mean(px)


def hair_pixels(frame: np.ndarray, regions: dict[str, Box], scale: float = 1.0) -> np.ndarray:
    """The hair box without the face box (what is left is hair, plus some background)."""
    if "hair" not in regions or _empty(regions["hair"]):
        return np.empty((0, 3))
    hx0, hy0, hx1, hy1 = _box(regions["hair"], scale)
    h, w = frame.shape[:2]
    mask = np.zeros((h, w), dtype=bool)
    ya, yb = max(int(round(hy0)), 0), min(int(round(hy1)), h)
    xa, xb = max(int(round(hx0)), 0), min(int(round(hx1)), w)
    mask[ya:yb, xa:xb] = True
    if "face" in regions and not _empty(regions["face"]):
        fx0, fy0, fx1, fy1 = _box(regions["face"], scale)
        mask[max(int(fy0) + 1, 0):max(int(np.ceil(fy1)) + 1, 0),
             max(int(fx0) - 1, 0):max(int(np.ceil(fx1)) + 1, 0)] = False
    return frame[mask]


HAIR_GRID = 12


def _hair_box_cells(frame: np.ndarray, regions: dict[str, Box], scale: float,
                    n: int = HAIR_GRID) -> tuple[np.ndarray, np.ndarray] | None:
    """The hair box as ``n x n`` cells: mean sRGB per cell and the share of each cell
    outside the face box (None when the box is too small or cut by the frame edge)."""
    if "hair" not in regions or _empty(regions["hair"]):
        return None
    x0, y0, x1, y1 = _box(regions["hair"], scale)
    H, W = frame.shape[:2]
    xa, xb, ya, yb = int(round(x0)), int(round(x1)), int(round(y0)), int(round(y1))
    if xa < 0 or ya < 0 or xb > W or yb > H or xb - xa < n or yb - ya < n:
        return None
    patch = frame[ya:yb, xa:xb].astype(np.float64)
    keep = np.ones(patch.shape[:2])
    if "face" in regions and not _empty(regions["face"]):
        fx0, fy0, fx1, fy1 = _box(regions["face"], scale)
        keep[max(int(fy0) + 1 - ya, 0):max(int(np.ceil(fy1)) + 1 - ya, 0),
             max(int(fx0) - 1 - xa, 0):max(int(np.ceil(fx1)) + 1 - xa, 0)] = 0.0
    ys = np.linspace(0, patch.shape[0], n + 1).astype(int)
    xs = np.linspace(0, patch.shape[1], n + 1).astype(int)
    cols = np.zeros((n, n, 3))
    share = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            k = keep[ys[i]:ys[i + 1], xs[j]:xs[j + 1]]
            c = patch[ys[i]:ys[i + 1], xs[j]:xs[j + 1]]
            share[i, j] = k.mean()
            if k.sum() > 0:
                cols[i, j] = (c * k[..., None]).sum(axis=(0, 1)) / k.sum()
    return cols, share


def hair_grid(frame: np.ndarray, regions: dict[str, Box], scale: float,
              background_lab: np.ndarray | None) -> list[list[float]] | None:
    """Reference side: which cells of the hair box are hair (not face, farther than 10 dE00
    from every background colour), as weights 0..1 (``HAIR_GRID`` x ``HAIR_GRID``)."""
    from ..colorimetry import delta_e, srgb_to_lab

    cells = _hair_box_cells(frame, regions, scale)
    if cells is None or background_lab is None or not len(background_lab):
        return None
    cols, share = cells
    d = delta_e(srgb_to_lab(cols)[:, :, None, :],
                np.asarray(background_lab)[None, None, :, :]).min(axis=-1)
    w = (share >= 0.75) * (d > 10.0)
    # inner cells only (a hair cell whose four neighbours are hair too): edge cells mix
    # hair and background, and the background behind a moving head changes
    p = np.pad(w, 1)
    inner = w * p[:-2, 1:-1] * p[2:, 1:-1] * p[1:-1, :-2] * p[1:-1, 2:]
    if inner.sum() >= 4:
        w = inner
    return w.astype(float).tolist() if w.sum() >= 4 else None


def hair_grid_colour(frame: np.ndarray, regions: dict[str, Box], scale: float,
                     grid: list[list[float]]) -> np.ndarray | None:
    """Mean sRGB of the hair box's cells that were hair in the reference frame (the same
    character at the same framing: the cells line up, whatever colour the hair is now)."""
    cells = _hair_box_cells(frame, regions, scale, len(grid))
    if cells is None:
        return None
    w = np.asarray(grid) * (cells[1] >= 0.75)
    if w.sum() < 4:
        return None
    return (cells[0] * w[..., None]).sum(axis=(0, 1)) / w.sum()


def colour_clusters(px: np.ndarray, k: int = 3, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """k-means (scipy, seeded) in CIELAB: (Lab centres, weights, mean sRGB per cluster)."""
    from scipy.cluster.vq import kmeans2

    from ..colorimetry import srgb_to_lab

    if len(px) < 3 * k:
        return None
    px = np.asarray(px, dtype=np.float64)
    if len(px) > 5000:
        px = px[np.random.default_rng(seed).choice(len(px), 5000, replace=False)]
    lab = srgb_to_lab(px)
    import warnings

    with warnings.catch_warnings():  # flat synthetic regions leave a cluster empty: fine
        warnings.simplefilter("ignore")
        _, labels = kmeans2(lab, k, seed=seed, minit="++", iter=15)
    idx = [i for i in range(k) if (labels == i).any()]
    rgb = np.array([px[labels == i].mean(axis=0) for i in idx])
    centres = np.array([lab[labels == i].mean(axis=0) for i in idx])
    weights = np.array([(labels == i).mean() for i in idx])
    return centres, weights / weights.sum(), rgb


def face_ratio(frame: np.ndarray, box: Box, skin_rgb: np.ndarray,
               scale: float = 1.0, offset: np.ndarray | None = None) -> float | None:
    """Width of the skin blob across the middle of the face, as a fraction of the nominal
    face-box width (soft skin membership summed per row gives sub-pixel widths; the 75th
    percentile of rows is the face at its widest; eyes and mouth make rows narrower)."""
    x0, y0, x1, y1 = _box(box, scale)
    w, h = x1 - x0, y1 - y0
    if w < 10 or h < 10:
        return None
    H, W = frame.shape[:2]
    xa, xb = max(int(x0 - 0.4 * w), 0), min(int(np.ceil(x1 + 0.4 * w)), W)
    ya, yb = max(int(y0 + 0.35 * h), 0), min(int(np.ceil(y0 + 0.75 * h)), H)
    if xb - xa < 6 or yb - ya < 2 or x0 - 0.4 * w < 0 or x1 + 0.4 * w > W:
        return None
    patch = frame[ya:yb, xa:xb]
    off = np.zeros(2) if offset is None else offset
    d = np.linalg.norm(chroma(patch) - off - chroma(skin_rgb), axis=-1)
    lum = _luma(patch) / max(float(_luma(skin_rgb)), 1.0)
    member = np.clip(1.0 - d / 0.25, 0.0, 1.0) * (lum > 0.15) * (lum < 3.0)
    return float(np.percentile(member.sum(axis=1), 75) / w)


def eye_spacing(frame: np.ndarray, box: Box, scale: float = 1.0) -> float | None:
    """Distance between the two eyes' dark centres (iris, pupil) as a fraction of the
    nominal eyes-box width: darkness-weighted centroids of the left and right halves of the
    eyes box widened by 35 % per side (sub-pixel)."""
    x0, y0, x1, y1 = _box(box, scale)
    w, h = x1 - x0, y1 - y0
    H, W = frame.shape[:2]
    if w < 8 or h < 1 or x0 - 0.35 * w < 0 or x1 + 0.35 * w > W:
        return None
    xa, xb = int(np.floor(x0 - 0.35 * w)), int(np.ceil(x1 + 0.35 * w))
    ya, yb = max(int(np.floor(y0 - 0.5)), 0), min(int(np.ceil(y1 + 0.5)), H)
    patch = _luma(frame[ya:yb, xa:xb])
    # each column divided by its brightest pixel (sclera or skin): removes key-light shading
    dark = np.clip(1.0 - patch / np.maximum(patch.max(axis=0, keepdims=True), 1.0), 0, 1) ** 2
    cols = dark.sum(axis=0)
    xs = np.arange(xa, xb) + 0.5
    mid = 0.5 * (x0 + x1)
    left, right = xs < mid, xs >= mid
    if cols[left].sum() <= 0 or cols[right].sum() <= 0:
        return None
    cl = (xs[left] * cols[left]).sum() / cols[left].sum()
    cr = (xs[right] * cols[right]).sum() / cols[right].sum()
    return float((cr - cl) / w)


def shading_profile(frame: np.ndarray, box: Box, scale: float = 1.0,
                    rows: tuple[float, float] = (0.15, 0.6),
                    min_px: float | None = None, bins: int = PROFILE_BINS
                   ) -> list[float] | None:
    """Luma across the torso (left -> right, ``bins`` bins) divided by its mean.

    A figure is shaded like a cylinder by the key light: the profile's shape says where the
    key is (side, front, behind), whatever the figure's size on screen, its colours or the
    white balance. None when the torso is small or cut by the frame edge."""
    x0, y0, x1, y1 = _box(box, scale)
    W = frame.shape[1]
    if x1 - x0 < (min_px or MIN_TORSO_PX) or y1 - y0 < 6 or x0 < 1 or x1 > W - 1:
        return None
    h = y1 - y0
    xa, xb = int(np.ceil(x0)), int(x1)
    band = frame[max(int(y0 + rows[0] * h), 0):min(int(y0 + rows[1] * h), frame.shape[0]),
                 xa:xb]
    if band.shape[0] < 2:
        return None
    cols = _luma(band).mean(axis=0)
    if len(cols) < bins:
        return None
    edges = np.linspace(0, len(cols), bins + 1).astype(int)
    prof = np.array([cols[a:b].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)])
    # the central third is left out: an open coat shows the top underneath there, whose
    # brightness relative to the coat is a colour fact, not a lighting one
    third = bins // 3
    prof = np.concatenate([prof[:third], prof[-third:]])
    m = prof.mean()
    if m < 4:
        return None
    # shape only: haze or fog between camera and figure adds light and lowers the contrast
    # (it changes with a dolly or zoom); where the light falls does not
    centred = prof / m - 1.0
    return [float(v) for v in centred / max(float(centred.std()), 0.05)]


def profile_distance(a: list[float], b: list[float]) -> float:
    """RMS difference of two (standardised) shading profiles (x100)."""
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)) * 100.0)


def overlap(a: Box, b: Box) -> float:
    """Fraction of box ``a`` covered by box ``b``."""
    if _empty(a) or _empty(b):
        return 0.0
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]))


def hair_colour(px: np.ndarray, background_lab: np.ndarray | None) -> np.ndarray | None:
    """The hair's colour among the hair-box pixels: k-means clusters that are not background
    (farther than 10 dE00 from every background palette colour), weighted mean sRGB."""
    from ..colorimetry import delta_e

    cl = colour_clusters(px, k=4)
    if cl is None:
        return None
    lab, w, rgb = cl
    if background_lab is None or not len(background_lab):
        keep = np.ones(len(w), dtype=bool)
    else:
        d = delta_e(lab[:, None, :], np.asarray(background_lab)[None, :, :]).min(axis=1)
        keep = d > 10.0
    if not keep.any() or w[keep].sum() < 0.1:
        return None
    return (rgb[keep] * w[keep, None]).sum(axis=0) / w[keep].sum()


def uncovered(box: Box, others: list[Box]) -> Box:
    """The part of ``box`` left of / right of the other figures' boxes that cover one of its
    sides (empty when a cover is in the middle or leaves less than half)."""
    x0, y0, x1, y1 = box
    if _empty(box):
        return box
    for o in others:
        if overlap(box, o) <= 0.0:
            continue
        if o[0] <= x0 < o[2] < x1:
            x0 = o[2]
        elif x0 < o[0] < x1 <= o[2]:
            x1 = o[0]
        else:
            return (0, 0, 0, 0)
    if x1 - x0 < 0.5 * (box[2] - box[0]):
        return (0, 0, 0, 0)
    return (x0, y0, x1, y1)


def measure_figure(frame: np.ndarray, regions: dict[str, Box], scale: float = 1.0,
                   skin_rgb: np.ndarray | None = None, others: list[Box] | None = None,
                   offset: np.ndarray | None = None,
                   background_lab: np.ndarray | None = None,
                   ref_hair_grid: list[list[float]] | None = None,
                   hair_mask: np.ndarray | None = None,
                   native: np.ndarray | None = None) -> dict:
    """Everything the checks read from one character in one frame. Regions overlapped by
    another figure (``others``: their boxes) are left out: they may be occluded.
    ``hair_mask``: the visible hair (``qc.masks``, the frame's pixels), which gives the
    hair colour at any figure size and with any headwear. ``native``: the same frame at the
    file's own resolution (regions in its pixels, scale 1): faces under ``MIN_FACE_PX`` in
    ``frame`` but not in the file (a wide shot of a large render) are measured on it."""
    out: dict = {"colours": {}, "hair": None, "face_ratio": None, "profile": None,
                 "eye_spacing": None, "face_profile": None, "small_profile": None,
                 "hair_grid": None, "hair_grid_colour": None, "hair_mask_colour": None}
    full = regions
    if others:
        # shapes (face, shading profile) need the whole region; colours can use the part
        # of a region that no other figure covers
        full = {k: ((0, 0, 0, 0) if k != "figure" and any(overlap(v, o) > 0.02
                                                          for o in others) else v)
                for k, v in regions.items()}
        regions = {k: (v if k == "figure" else uncovered(v, others))
                   for k, v in regions.items()}
    if "face" in regions and _empty(regions["face"]) and not _empty(regions.get("hair",
                                                                                  (0, 0, 0, 0))):
        out["back_view"] = True  # over-the-shoulder foreground: back of the head
        return out
    if (hair_mask is not None and not _empty(regions.get("hair", (0, 0, 0, 0)))
            and not _empty(regions.get("face", (0, 0, 0, 0)))):
        # the face in view (not a back of the head), the hair not behind another figure
        from .masks import masked_colour

        out["hair_mask_colour"] = masked_colour(
            frame, hair_mask, [_box(o, scale) for o in (others or [])])
    for name in ("face", "torso", "legs"):
        c = region_colour(frame, regions, name, scale)
        if c is not None:
            out["colours"][name] = c
    hp = hair_pixels(frame, regions, scale)
    if out["hair_mask_colour"] is not None:
        out["colours"]["hair"] = out["hair_mask_colour"]
    elif len(hp) >= 16:
        hc = hair_colour(hp, background_lab)
        if hc is not None:
            out["colours"]["hair"] = hc
    skin = skin_rgb if skin_rgb is not None else out["colours"].get("face")
    face_box = full.get("face", (0, 0, 0, 0))
    big_face = (face_box[2] - face_box[0]) * scale >= MIN_FACE_PX
    fframe, fscale = frame, scale  # where the face is measured
    if not big_face and native is not None and face_box[2] - face_box[0] >= MIN_FACE_PX:
        fframe, fscale, big_face = native, 1.0, True
        out["face_native"] = True
    if big_face:
        # hair by position: the cells that were hair in the reference (dark hair that
        # k-means cannot tell from a dark background still counts)
        grid = ref_hair_grid
        if grid is None:
            grid = out["hair_grid"] = hair_grid(fframe, regions, fscale, background_lab)
        if grid is not None:
            out["hair_grid_colour"] = hair_grid_colour(fframe, regions, fscale, grid)
    if skin is not None and big_face:
        out["face_ratio"] = face_ratio(fframe, face_box, skin, fscale,
                                       offset if skin_rgb is not None else None)
    if big_face and "eyes" in full and not _empty(full["eyes"]):
        out["eye_spacing"] = eye_spacing(fframe, full["eyes"], fscale)
    if "torso" in full and not _empty(full["torso"]):
        out["profile"] = shading_profile(frame, full["torso"], scale)
        # the coarse profile: read on every torso; used when the torso is too small for
        # the fine one (wide shots)
        out["small_profile"] = shading_profile(frame, full["torso"], scale,
                                               min_px=MIN_SMALL_TORSO_PX,
                                               bins=SMALL_PROFILE_BINS)
    if big_face:
        # the cheeks (below the eyes, above the mouth): a second reading of the key light
        # when the torso is cut, covered or small
        out["face_profile"] = shading_profile(fframe, face_box, fscale, rows=(0.52, 0.64),
                                              min_px=MIN_FACE_PX)
    return out


def background_pixels(frame: np.ndarray, figure_boxes: list[Box], scale: float = 1.0
                      ) -> np.ndarray:
    mask = np.ones(frame.shape[:2], dtype=bool)
    for box in figure_boxes:
        if _empty(box):
            continue
        x0, y0, x1, y1 = _box(box, scale)
        mask[max(int(y0), 0):max(int(np.ceil(y1)), 0),
             max(int(x0), 0):max(int(np.ceil(x1)), 0)] = False
    px = frame[mask]
    return px if len(px) >= 64 else frame.reshape(-1, 3)


# -- white balance between two palettes ----------------------------------------------------
def match_palettes(shot: tuple, ref: tuple) -> tuple[np.ndarray, float]:
    """White-balance offset (log chromaticity, 2) that maps the reference palette onto the
    shot's, and the palette distance left after removing it (CIEDE2000, weighted).

    Each shot cluster is matched to the reference cluster nearest in CIELAB; the offset is
    the weighted median of the matched pairs' chromaticity differences (a white-balance
    change moves every material by the same offset)."""
    from ..colorimetry import delta_e, srgb_to_lab

    s_lab, s_w, s_rgb = shot
    r_lab, r_w, r_rgb = ref
    d = delta_e(s_lab[:, None, :], r_lab[None, :, :])
    nearest = d.argmin(axis=1)
    diffs = chroma(s_rgb) - chroma(r_rgb[nearest])
    offset = np.zeros(2)
    for j in range(2):
        o = np.argsort(diffs[:, j])
        cw = np.cumsum(s_w[o])
        offset[j] = diffs[o, j][np.searchsorted(cw, 0.5 * cw[-1])]
    # remove the offset from the shot's colours, then the matched palette distance
    f = np.asarray(s_rgb, float) + EPS
    g = np.array([np.exp(-offset[0]), 1.0, np.exp(-offset[1])])
    corrected = np.clip(f * g / (0.2126 * g[0] + 0.7152 * g[1] + 0.0722 * g[2]) - EPS, 0, 255)
    c_lab = srgb_to_lab(corrected)
    dd = delta_e(c_lab[:, None, :], r_lab[None, :, :])
    residual = 0.5 * ((dd.min(axis=1) * s_w).sum() + (dd.min(axis=0) * r_w).sum())
    return offset, float(residual)


# -- stored references ------------------------------------------------------------------------
class CharacterReference(BaseModel):
    character_id: str
    colours: dict[str, list[float]] = Field(description="hair/face/torso/legs -> mean sRGB")
    face_ratio: float | None = Field(default=None,
                                     description="skin width / nominal face-box width")
    eye_spacing: float | None = Field(default=None,
                                      description="eye distance / nominal eyes-box width")
    profile: list[float] | None = Field(default=None, description="torso shading profile")
    face_profile: list[float] | None = Field(default=None,
                                             description="cheek shading profile")
    small_profile: list[float] | None = Field(default=None,
                                              description="coarse torso shading profile")
    hair_grid: list[list[float]] | None = Field(default=None,
                                                description="hair cells of the hair box")
    hair_grid_colour: list[float] | None = Field(default=None,
                                                 description="mean sRGB of the hair cells")
    hair_mask_colour: list[float] | None = Field(
        default=None, description="mean sRGB of the visible hair pixels (qc.masks)")
    source: str = ""


class SceneReference(BaseModel):
    scene_id: str
    palette_lab: list[list[float]]
    palette_weights: list[float]
    palette_rgb: list[list[float]]
    source: str = ""

    def palette(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.array(self.palette_lab), np.array(self.palette_weights),
                np.array(self.palette_rgb))


def character_reference(character_id: str, frame: np.ndarray, regions: dict[str, Box],
                        scale: float = 1.0, source: str = "",
                        hair_mask: np.ndarray | None = None,
                        native: np.ndarray | None = None) -> CharacterReference:
    bg = colour_clusters(background_pixels(frame, [regions.get("figure", (0, 0, 0, 0))], scale),
                         k=6)
    m = measure_figure(frame, regions, scale, background_lab=bg[0] if bg else None,
                       hair_mask=hair_mask, native=native)
    return CharacterReference(
        character_id=character_id, colours={k: [float(x) for x in v]
                                            for k, v in m["colours"].items()},
        face_ratio=m["face_ratio"], eye_spacing=m["eye_spacing"],
        profile=m["profile"], face_profile=m["face_profile"],
        small_profile=m["small_profile"], hair_grid=m["hair_grid"],
        hair_grid_colour=None if m["hair_grid_colour"] is None
        else [float(x) for x in m["hair_grid_colour"]],
        hair_mask_colour=None if m["hair_mask_colour"] is None
        else [float(x) for x in m["hair_mask_colour"]], source=source)


def scene_palette(frames: list[np.ndarray], boxes: list[list[Box]], scale: float = 1.0,
                  k: int = 6, masks: list[np.ndarray | None] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The set's palette: k-means of the pixels outside the figures. ``masks`` (per frame,
    the figures' silhouettes, ``qc.masks``): the set around the figures too, not only
    outside their boxes - in a close-up the box is nearly the whole frame and what is left
    (a strip at the edge) changes with any crop or zoom."""
    masks = masks or [None] * len(frames)
    parts = []
    for f, b, m in zip(frames, boxes, masks, strict=True):
        if m is not None and m.shape == f.shape[:2] and (~m).sum() >= 256:
            parts.append(f[~m])
        else:
            parts.append(background_pixels(f, b, scale))
    px = np.concatenate(parts)
    out = colour_clusters(px, k=k)
    assert out is not None
    return out


def scene_reference(scene_id: str, frame: np.ndarray, figure_boxes: list[Box] | None = None,
                    scale: float = 1.0, source: str = "") -> SceneReference:
    lab, w, rgb = scene_palette([frame], [figure_boxes or []], scale)
    return SceneReference(scene_id=scene_id, palette_lab=lab.tolist(),
                          palette_weights=w.tolist(), palette_rgb=rgb.tolist(), source=source)
