"""Lip-sync offset (audio vs mouth) per shot, wrapping the audio stage's
``studio_kit.audio.lipsync`` (mouth openness from the mouth region, cross-correlated with
the dialogue's viseme track). This scorer applies the tier threshold to |offset|.

Skipped when the shot has no dialogue, no viseme track from the audio stage
(``request.visemes``), no mouth regions, or the measurement is inconclusive.
``ctx.options["lipsync_offset_ms"]`` may carry an offset measured elsewhere.
"""

from __future__ import annotations

import numpy as np

from ..registry import SCORERS
from .base import QCContext, QCScore, Scorer

METRIC = "lipsync.offset_ms"


@SCORERS.register("lipsync")
class LipSyncScorer(Scorer):
    name = "lipsync"

    def score(self, ctx: QCContext) -> list[QCScore]:
        shot = ctx.spec.shot
        if "lipsync_offset_ms" in ctx.options:
            off = float(ctx.options["lipsync_offset_ms"])
            return [self.make(ctx, METRIC, abs(off), signed_offset_ms=off)]
        if not shot.dialogue:
            return [self.skip(METRIC, "no dialogue in the shot")]
        req = ctx.request
        if req is None or req.visemes is None:
            return [self.skip(METRIC, "no viseme track from the audio stage")]
        if ctx.regions is None:
            return [self.skip(METRIC, "the engine gives no mouth region")]
        try:
            from ..audio import lipsync
        except ImportError:
            return [self.skip(METRIC, "audio lip-sync module not installed")]
        speaker = req.options.get("viseme_character") or shot.dialogue[0].character
        if speaker not in {rc.character.id for rc in ctx.spec.characters}:
            return [self.skip(METRIC, f"the speaker {speaker} is off screen")]
        m = ctx.media
        boxes = []
        for i in range(len(m.frames)):
            x0, y0, x1, y1 = ctx.regions(speaker, i / m.fps)["mouth"]
            boxes.append(tuple(int(round(v * m.scale)) for v in (x0, y0, x1, y1)))
        if any(b[2] - b[0] < 2 or b[3] - b[1] < 2 for b in boxes):
            return [self.skip(METRIC, "the speaker's mouth is not in view")]
        mouth = lipsync.mouth_openness(list(m.frames), boxes)
        result = lipsync.check_lipsync(np.asarray(mouth), m.fps, visemes=req.visemes,
                                       shot_id=shot.id)
        if result.offset_ms is None or result.verdict.startswith("inconclusive"):
            return [self.skip(METRIC, result.verdict)]
        return [self.make(ctx, METRIC, abs(result.offset_ms),
                          signed_offset_ms=result.offset_ms, verdict=result.verdict,
                          correlation=result.correlation)]
