"""One pass over a shot's sampled frames, shared by the character and continuity scorers
(cached on the context): per-character figure measurements, the background palette and the
white-balance offset to the scene's reference frame."""

from __future__ import annotations

import numpy as np

from .base import QCContext
from .references import (
    match_palettes,
    measure_figure,
    scene_palette,
)

#: a region with less chroma than this has no reliable hue angle: the angle's noise grows as
#: 1 / C* (one code value of codec noise on a dark, low-chroma face at night - C* about 10 -
#: turns its hue by 10-20 degrees); the same floor as the bible check's
HUE_MIN_CHROMA = 12.0


def sample_times(duration: float, n: int = 5) -> list[float]:
    return [float(t) for t in np.linspace(0.1 * duration, 0.9 * duration, n)]


def _median_colour(values: list[np.ndarray]) -> np.ndarray | None:
    return np.median(np.array(values), axis=0) if values else None


def _native_frames(media, samples: list) -> dict[int, np.ndarray]:
    """The sampled frames at the file's resolution, when a face is under ``MIN_FACE_PX`` in
    the analysis frames but not in the file (wide shots of renders wider than 640 px)."""
    from .references import MIN_FACE_PX

    if media.scale >= 1.0:
        return {}
    need = [i for i, regs in samples for r in regs.values()
            if "face" in r and r["face"][2] - r["face"][0] >= MIN_FACE_PX
            and (r["face"][2] - r["face"][0]) * media.scale < MIN_FACE_PX]
    return media.native_frames(sorted(set(need))) if need else {}


def measure_shot(ctx: QCContext, n: int = 5) -> dict:
    cache = ctx.options.setdefault("_cache", {})
    if "shot" in cache:
        return cache["shot"]
    media = ctx.media
    samples = []
    for t in sample_times(media.duration_s, n):
        i = min(int(round(t * media.fps)), len(media.frames) - 1)
        all_regions = {rc.character.id: ctx.regions(rc.character.id, i / media.fps)
                       for rc in ctx.spec.characters} if ctx.regions is not None else {}
        samples.append((i, all_regions))
    out: dict = {"figures": {}, "offset": np.zeros(2), "palette_residual": None}
    figures_mask = ctx.options.get("figures_mask")  # t -> the figures' silhouettes
    masks = [figures_mask(i / media.fps) if figures_mask else None for i, _ in samples]
    pal = scene_palette([media.frames[i] for i, _ in samples],
                        [[r.get("figure", (0, 0, 0, 0)) for r in regs.values()]
                         for _, regs in samples], media.scale, masks=masks)
    out["palette"] = pal
    if ctx.scene_ref is not None:
        out["offset"], out["palette_residual"] = match_palettes(pal, ctx.scene_ref.palette())
    figs: dict[str, dict[str, list]] = {}
    hair_mask = ctx.options.get("hair_mask")  # (cid, t) -> visible hair (qc.masks)
    natives = _native_frames(media, samples)
    for i, all_regions in samples:
        frame = media.frames[i]
        for cid, regions in all_regions.items():
            ref = ctx.character_refs.get(cid)
            skin = np.array(ref.colours["face"]) if ref and "face" in ref.colours else None
            others = [r.get("figure", (0, 0, 0, 0)) for c, r in all_regions.items() if c != cid]
            m = measure_figure(frame, regions, media.scale, skin, others, out["offset"],
                               background_lab=pal[0],
                               ref_hair_grid=ref.hair_grid if ref else None,
                               hair_mask=hair_mask(cid, i / media.fps) if hair_mask else None,
                               native=natives.get(i))
            f = figs.setdefault(cid, {"colours": {}, "face_ratio": [], "eye_spacing": [],
                                      "profile": [], "face_profile": [], "small_profile": [],
                                      "hair_grid_colour": [], "hair_mask_colour": [],
                                      "frames": []})
            f["frames"].append(i)
            for k, v in m["colours"].items():
                f["colours"].setdefault(k, []).append(v)
            for k in ("face_ratio", "eye_spacing", "profile", "face_profile",
                      "small_profile", "hair_grid_colour", "hair_mask_colour"):
                if m.get(k) is not None:
                    f[k].append(m[k])
    for cid, f in figs.items():
        out["figures"][cid] = {
            "colours": {k: _median_colour(v) for k, v in f["colours"].items()},
            "face_ratio": float(np.median(f["face_ratio"])) if f["face_ratio"] else None,
            "eye_spacing": float(np.median(f["eye_spacing"])) if f["eye_spacing"] else None,
            "profile": (np.median(np.array(f["profile"]), axis=0).tolist()
                        if f["profile"] else None),
            "face_profile": (np.median(np.array(f["face_profile"]), axis=0).tolist()
                             if f["face_profile"] else None),
            "small_profile": (np.median(np.array(f["small_profile"]), axis=0).tolist()
                              if f["small_profile"] else None),
            "hair_grid_colour": (np.median(np.array(f["hair_grid_colour"]), axis=0)
                                 if f["hair_grid_colour"] else None),
            "hair_mask_colour": (np.median(np.array(f["hair_mask_colour"]), axis=0)
                                 if f["hair_mask_colour"] else None),
            "frames": f["frames"],
        }
    cache["shot"] = out
    return out


def balanced(shot_rgb: np.ndarray, ref_rgb: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """The shot colour with the white-balance offset removed and the reference's luma."""
    from .references import EPS, _luma

    g = np.array([np.exp(-offset[0]), 1.0, np.exp(-offset[1])])
    c = (np.asarray(shot_rgb, float) + EPS) * g - EPS
    return np.clip(c * (_luma(np.asarray(ref_rgb, float)) / max(float(_luma(c)), 1e-3)),
                   0, 255)


def hue_change(shot_rgb: np.ndarray, ref_rgb: np.ndarray, offset: np.ndarray
               ) -> float | None:
    """Hue-angle difference in CIELAB (degrees) of a chromatic region (C* >= ``HUE_MIN_CHROMA``
    in both)."""
    from ..colorimetry import srgb_to_lab

    a = srgb_to_lab(balanced(shot_rgb, ref_rgb, offset))
    b = srgb_to_lab(np.asarray(ref_rgb, float))
    if min(np.hypot(a[1], a[2]), np.hypot(b[1], b[2])) < HUE_MIN_CHROMA:
        return None
    h = np.degrees(np.arctan2(a[2], a[1]) - np.arctan2(b[2], b[1]))
    return float(abs((h + 180) % 360 - 180))


def ab_distance(shot_rgb: np.ndarray, ref_rgb: np.ndarray, offset: np.ndarray) -> float:
    """Distance of the CIELAB a*b* vectors (chroma and hue together; meaningful for dark,
    low-chroma colours where a hue angle is not), white balance removed, luma matched."""
    from ..colorimetry import srgb_to_lab

    a = srgb_to_lab(balanced(shot_rgb, ref_rgb, offset))
    b = srgb_to_lab(np.asarray(ref_rgb, float))
    return float(np.hypot(a[1] - b[1], a[2] - b[2]))


def colour_distance(shot_rgb: np.ndarray, ref_rgb: np.ndarray, offset: np.ndarray) -> float:
    """CIEDE2000 between a region's colour in the shot and in the reference, after removing
    the shot's white-balance offset and matching the luma (so shading by the key light and
    exposure are not counted; they are the continuity check's business)."""
    from ..colorimetry import delta_e, srgb_to_lab

    c = balanced(shot_rgb, ref_rgb, offset)
    return float(delta_e(srgb_to_lab(c), srgb_to_lab(np.asarray(ref_rgb, float))))
