"""Scene continuity against the scene's locked reference frame.

- ``continuity.colour_temperature``: the white-balance offset between the shot's background
  and the reference's (matched palette clusters, change of log(B/R)), converted to a
  relative change of the light's colour temperature (percent) at the scene's Kelvin
  through the Planckian locus (colour-science). The camera's own white balance is unknown,
  so the figure is an estimate (the embedded engine's half-strength auto white balance
  makes it read about half the true change); the thresholds are calibrated on it.
- ``continuity.palette``: the background palette distance left after removing that offset
  (CIEDE2000): a different set, time of day or props.
- ``continuity.light_direction``: RMS change (x100) of each character's torso shading
  profile vs the reference frame's (where the key light falls on a figure); the cheeks'
  profile when the torso is covered or cut; a coarse 6-bin torso profile (weighted
  ``SMALL_PROFILE_WEIGHT``) for torsos of 12-60 px (wide shots).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..colorimetry import planckian_rgb
from ..registry import SCORERS
from .base import QCContext, QCScore, Scorer
from .measure import measure_shot
from .references import profile_distance

#: the coarse profile of a small torso (wide shots) is scaled onto the fine profile's range
SMALL_PROFILE_WEIGHT = 0.75

METRICS = ("continuity.palette", "continuity.colour_temperature",
           "continuity.light_direction")


@lru_cache(maxsize=64)
def blue_red_per_mired(kelvin: float) -> float:
    """d log(B/R) / d mired of a Planckian light around ``kelvin`` (linear sRGB)."""

    def blue_red(k: float) -> float:
        r, _g, b = planckian_rgb(k)
        return float(np.log(max(b, 1e-6) / max(r, 1e-6)))

    m = 1e6 / kelvin
    return abs(blue_red(1e6 / (m - 5)) - blue_red(1e6 / (m + 5))) / 10.0


@SCORERS.register("continuity")
class ContinuityScorer(Scorer):
    name = "continuity"

    def score(self, ctx: QCContext) -> list[QCScore]:
        if ctx.scene_ref is None:
            return [self.skip(m, "the scene has no locked reference frame") for m in METRICS]
        m = measure_shot(ctx)
        offset = m["offset"]
        wb = float(offset[1] - offset[0])
        kelvin = ctx.spec.scene.lighting.colour_temperature_k
        mired = abs(wb) / blue_red_per_mired(kelvin)
        percent = mired / (1e6 / kelvin) * 100.0
        out = [
            self.make(ctx, "continuity.palette", m["palette_residual"]),
            self.make(ctx, "continuity.colour_temperature", percent,
                      estimated_mired=round(mired, 2),
                      log_blue_red_shift=round(wb, 4), scene_kelvin=kelvin,
                      direction="cooler" if wb > 0 else "warmer"),
        ]
        diffs = {}
        for cid, f in m["figures"].items():
            ref = ctx.character_refs.get(cid)
            if ref is None:
                continue
            if f["profile"] and ref.profile:
                diffs[cid] = profile_distance(f["profile"], ref.profile)
            elif f["face_profile"] and ref.face_profile:
                diffs[cid] = profile_distance(f["face_profile"], ref.face_profile)
            elif f["small_profile"] and ref.small_profile:
                diffs[cid] = SMALL_PROFILE_WEIGHT * profile_distance(f["small_profile"],
                                                                     ref.small_profile)
        if diffs:
            out.append(self.make(ctx, "continuity.light_direction", max(diffs.values()),
                                 per_character={k: round(v, 2) for k, v in diffs.items()}))
        else:
            out.append(self.skip("continuity.light_direction",
                                 "no figure large enough to read the key light from"))
        return out
