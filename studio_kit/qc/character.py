"""Character consistency against the character's reference frame and the bible.

Measured inside each character's figure regions on five frames across the shot (the
embedded engine's own regions for its clips; for any other clip, where ``qc.detect`` finds
the characters: see ``runner.figure_regions_for``):
- ``character.reference``: colour of hair, face (skin), torso (outer garment) and legs vs
  the reference frame (CIEDE2000), after removing the shot's white-balance offset and
  matching luma (so a lighting change is the continuity check's business);
- ``character.hair``: the hair by position: the cells of the hair box that are hair in the
  reference frame (same character, same framing), their mean a*b* change as a percentage
  of the hair's chroma (dark hair that k-means cannot separate from a dark background and
  whose hue angle is noise; faces of 40 px or more);
- ``character.face``: eye spacing vs the reference (percent; face width is reported too);
- ``character.bible``: hue of each region vs the bible colour, after grey-world white
  balance - a coarse check that needs no reference frame.
Regions come from the *intended* request (drift removed), so QC never learns the drift from
the engine. Without regions (the bible's proxy could not be drawn) the scores are skipped
with that reason.
"""

from __future__ import annotations

import numpy as np

from ..colorimetry import srgb_to_lab
from ..models import GarmentKind, hex_to_rgb
from ..registry import SCORERS
from .base import QCContext, QCScore, Scorer
from .measure import ab_distance, colour_distance, hue_change, measure_shot, sample_times

__all__ = ["CharacterScorer", "sample_times"]

METRICS = ("character.reference", "character.hue", "character.hair", "character.face",
           "character.bible")
#: floor of the hair chroma the hair change is divided by (grey hair: noise stays small)
HAIR_MIN_CHROMA = 10.0
#: a region whose white-balanced colour has less chroma than this has no reliable hue (a
#: pale face in a beige room: grey-world balance swings its hue by 100 degrees or more)
BIBLE_MIN_CHROMA = 12.0
_TORSO = [GarmentKind.coat, GarmentKind.jacket, GarmentKind.dress, GarmentKind.top]
_LEGS = [GarmentKind.trousers, GarmentKind.skirt, GarmentKind.dress]


def bible_colours(ctx: QCContext, cid: str) -> dict[str, str]:
    rc = next(r for r in ctx.spec.characters if r.character.id == cid)
    out = {"face": rc.character.appearance.skin}
    for region, order in (("torso", _TORSO), ("legs", _LEGS)):
        for kind in order:
            g = next((g for g in rc.garments if g.kind == kind), None)
            if g is not None:
                out[region] = g.colours[0]
                break
    return out


def _hue_deg(lab: np.ndarray) -> float:
    return float(np.degrees(np.arctan2(lab[2], lab[1])) % 360)


@SCORERS.register("character")
class CharacterScorer(Scorer):
    name = "character"

    def score(self, ctx: QCContext) -> list[QCScore]:
        if not ctx.spec.characters:
            return [self.skip(m, "no character in the shot") for m in METRICS]
        if ctx.regions is None:
            why = ctx.options.get("regions_missing") or "no figure regions for this clip"
            return [self.skip(m, why) for m in METRICS]
        shot = measure_shot(ctx)
        offset = shot["offset"]
        worst_ref, worst_hue, worst_face, worst_bible = -1.0, -1.0, -1.0, -1.0
        worst_hair = -1.0
        details: dict[str, dict] = {}
        grey = ctx.media.frames[::4].reshape(-1, 3).astype(float).mean(axis=0)
        gain = grey.mean() / np.clip(grey, 1, None)
        for cid, m in shot["figures"].items():
            ref = ctx.character_refs.get(cid)
            d: dict = {"frames": m["frames"]}
            if ref is not None:
                for region, colour in m["colours"].items():
                    if colour is not None and region in ref.colours:
                        v = colour_distance(colour, np.array(ref.colours[region]), offset)
                        d[region] = round(v, 2)
                        worst_ref = max(worst_ref, v)
                        dh = hue_change(colour, np.array(ref.colours[region]), offset)
                        if dh is not None:
                            d[f"hue_{region}"] = round(dh, 1)
                            worst_hue = max(worst_hue, dh)
                # the hair cells (faces >= 40 px: the measure the threshold was calibrated
                # on), else the visible hair pixels (small faces, hair under a hat). The
                # mask alone is purer, so it reads a sub-visible turn of a vivid hair
                # higher (Mara's hair at engine drift 0.1 in s08: 29.8 %, over the 29 %
                # limit); it is used where the cells cannot be read
                pair = None
                if m.get("hair_grid_colour") is not None and ref.hair_grid_colour:
                    pair = (m["hair_grid_colour"], np.array(ref.hair_grid_colour), "cells")
                elif m.get("hair_mask_colour") is not None and ref.hair_mask_colour:
                    pair = (m["hair_mask_colour"], np.array(ref.hair_mask_colour), "mask")
                if pair is not None:
                    ref_hair = pair[1]
                    d["hair_measured_on"] = pair[2]
                    v = ab_distance(pair[0], ref_hair, offset)
                    # relative to the hair's chroma: dark, greyish hair moves less
                    hl = srgb_to_lab(ref_hair)
                    chroma = float(np.hypot(hl[1], hl[2]))
                    v = 100.0 * v / max(chroma, HAIR_MIN_CHROMA)
                    d["hair_cells_ab_pct"] = round(v, 1)
                    worst_hair = max(worst_hair, v)
                if m["face_ratio"] and ref.face_ratio:
                    change = abs(m["face_ratio"] / ref.face_ratio - 1.0) * 100.0
                    # reported, not scored: the visible skin edge moves with the key
                    # light (a darker side reads narrower), so it would confuse lighting
                    # with proportions
                    d["face_width_change_pct"] = round(change, 2)
                if m["eye_spacing"] and ref.eye_spacing:
                    change = abs(m["eye_spacing"] / ref.eye_spacing - 1.0) * 100.0
                    d["eye_spacing_change_pct"] = round(change, 2)
                    worst_face = max(worst_face, change)
            for region, hexc in bible_colours(ctx, cid).items():
                colour = m["colours"].get(region)
                if colour is None:
                    continue
                want = srgb_to_lab(np.array(hex_to_rgb(hexc), float))
                got = srgb_to_lab(np.clip(colour * gain, 0, 255))
                if np.hypot(want[1], want[2]) < 15 or np.hypot(got[1], got[2]) < BIBLE_MIN_CHROMA:
                    continue  # hue is meaningless for greys
                dh = abs((_hue_deg(got) - _hue_deg(want) + 180) % 360 - 180)
                d[f"bible_hue_{region}"] = round(dh, 1)
                worst_bible = max(worst_bible, dh)
            details[cid] = d
        out = []
        if worst_ref >= 0:
            out.append(self.make(ctx, "character.reference", worst_ref, characters=details))
        else:
            out.append(self.skip("character.reference", "no reference frame or no character "
                                 "visible"))
        if worst_hue >= 0:
            out.append(self.make(ctx, "character.hue", worst_hue, characters=details))
        else:
            out.append(self.skip("character.hue", "no chromatic region to compare"))
        if worst_hair >= 0:
            out.append(self.make(ctx, "character.hair", worst_hair, characters=details))
        else:
            out.append(self.skip("character.hair", "no visible hair (bald, covered or out "
                                 "of frame) or no reference"))
        if worst_face >= 0:
            out.append(self.make(ctx, "character.face", worst_face, characters=details))
        else:
            out.append(self.skip("character.face", "face too small, cut or no reference"))
        if worst_bible >= 0:
            out.append(self.make(ctx, "character.bible", worst_bible, characters=details))
        else:
            out.append(self.skip("character.bible", "no chromatic region visible"))
        return out
