"""Pass/fail thresholds per tier, as one readable table.

``max`` metrics pass when value <= threshold, ``min`` metrics when value >= threshold.
Colour distances are CIEDE2000 (1 ~ just noticeable, 2-3 noticeable at a glance); hue
changes are CIELAB hue angles; the white-balance shift is an estimated relative change of
colour temperature (see continuity.py); the light-direction score is the RMS
change (x100) of the figures' shading profile; lip-sync offset in milliseconds (ITU-R
BT.1359 detectability: about +45 ms audio early, -125 ms audio late; a symmetric bound).
The character / continuity thresholds were calibrated on the embedded engine with
``python -m bench.qc_eval`` (drift 0.1 must pass, 0.3 must fail); see docs/quality.md.
"""

from __future__ import annotations

from typing import Literal

from ..models import Tier

Direction = Literal["max", "min"]

#: metric -> (direction, {tier: threshold}, what it measures)
THRESHOLDS: dict[str, tuple[Direction, dict[str, float], str]] = {
    # technical ---------------------------------------------------------------------------
    "technical.sharpness": ("min", {"draft": 0.00002, "standard": 0.00005, "premium": 0.0001},
                            "median variance of the Laplacian of luma (0..1 scale)"),
    "technical.clipping": ("max", {"draft": 0.25, "standard": 0.12, "premium": 0.06},
                           "mean fraction of pixels at 0 or 255 (luma)"),
    "technical.flicker": ("max", {"draft": 12.0, "standard": 6.0, "premium": 3.0},
                          "largest frame-to-frame luma jump off the local trend (0..255)"),
    "technical.frozen": ("max", {"draft": 3.0, "standard": 2.0, "premium": 1.5},
                         "longest run of identical frames, seconds (when motion is expected)"),
    "technical.black": ("max", {"draft": 0.2, "standard": 0.05, "premium": 0.0},
                        "fraction of frames with mean luma below 12"),
    "technical.conformance": ("min", {"draft": 1.0, "standard": 1.0, "premium": 1.0},
                              "1 when resolution, fps and duration match the request"),
    # character consistency ---------------------------------------------------------------
    "character.reference": ("max", {"draft": 16.0, "standard": 12.0, "premium": 10.0},
                            "largest region colour distance to the reference frame (dE00)"),
    "character.hue": ("max", {"draft": 20.0, "standard": 15.0, "premium": 12.0},
                      "largest hue-angle change of a chromatic region vs the reference "
                      "(degrees, CIELAB, white balance removed)"),
    "character.hair": ("max", {"draft": 38.0, "standard": 29.0, "premium": 24.0},
                       "a*b* change of the hair cells' mean colour vs the reference frame, % of "
                       "the hair's chroma (CIELAB, white balance removed; faces >= 40 px)"),
    "character.face": ("max", {"draft": 23.0, "standard": 19.0, "premium": 16.0},
                       "change of eye spacing vs the reference (%; faces >= 40 px)"),
    "character.bible": ("max", {"draft": 75.0, "standard": 60.0, "premium": 50.0},
                        "hue difference of white-balanced region colours to the bible "
                        "(degrees; chromatic regions only)"),
    "character.embedding": ("min", {"draft": 0.6, "standard": 0.7, "premium": 0.8},
                            "cosine similarity of a learned embedding to the reference"),
    # scene continuity -------------------------------------------------------------------
    "continuity.palette": ("max", {"draft": 8.0, "standard": 6.0, "premium": 5.0},
                           "matched palette distance to the locked reference frame (dE00)"),
    "continuity.light_direction": ("max", {"draft": 40.0, "standard": 34.0, "premium": 30.0},
                                   "RMS change of the standardised torso shading profile vs the reference (x100)"),
    "continuity.colour_temperature": ("max", {"draft": 5.5, "standard": 4.2,
                                              "premium": 3.5},
                                      "estimated change of the light colour temperature vs the reference (%)"),
    # lip-sync -----------------------------------------------------------------------------
    "lipsync.offset_ms": ("max", {"draft": 160.0, "standard": 100.0, "premium": 60.0},
                          "absolute audio/mouth offset (ms)"),
    # vision-language rubric --------------------------------------------------------------
    "vlm.rubric": ("min", {"draft": 0.5, "standard": 0.65, "premium": 0.8},
                   "rubric score from a vision-language model (0..1)"),
}


def threshold_for(metric: str, tier: Tier | str) -> tuple[Direction, float]:
    direction, per_tier, _ = THRESHOLDS[metric]
    return direction, per_tier[Tier(tier).value]


def passes(metric: str, value: float, tier: Tier | str) -> tuple[bool, float, Direction]:
    direction, limit = threshold_for(metric, tier)
    ok = value <= limit if direction == "max" else value >= limit
    return ok, limit, direction


def table_markdown() -> str:
    rows = ["| metric | pass when | draft | standard | premium | measures |",
            "|---|---|---|---|---|---|"]
    for metric, (direction, t, what) in THRESHOLDS.items():
        op = "<=" if direction == "max" else ">="
        rows.append(f"| {metric} | {op} | {t['draft']:g} | {t['standard']:g} | "
                    f"{t['premium']:g} | {what} |")
    return "\n".join(rows)
