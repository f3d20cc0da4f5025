"""Lip-sync offset (audio vs mouth) per shot, for any engine's take.

The mouth: the speaker's mouth region in every frame (the embedded engine's regions for
its own clips; for other clips the region ``qc.detect`` places on the detected figure).
Its motion (``mouth_motion``: darkness of the mouth box against its border, which
holds in dark grades) is cross-correlated (``studio_kit.audio.lipsync.check_lipsync``)
with the speech: the audio stage's viseme track
(``request.visemes``), else the dialogue audio (``options["dialogue_audio"]``: a WAV path
or ``(samples, rate)``; its loudness envelope), else the dialogue text's timing (the
same letter-rate track the embedded engine animates when no visemes are given; recorded
as ``speech: dialogue text``). The lag with the highest correlation is the offset
(positive: sound ahead of picture); this scorer applies the tier threshold to |offset|.

Skipped (with the reason) when the shot has no dialogue, the speaker is not in the shot or
its mouth is not in view, or the mouth does not follow the speech at all (inconclusive).
``ctx.options["lipsync_offset_ms"]`` may carry an offset measured elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..registry import SCORERS
from .base import QCContext, QCScore, Scorer

METRIC = "lipsync.offset_ms"


def _speech(ctx: QCContext, speaker: str) -> tuple[dict, str]:
    """kwargs for ``check_lipsync`` (visemes or audio) and what they came from."""
    req = ctx.request
    if req is not None and req.visemes is not None:
        return {"visemes": req.visemes}, "viseme track (audio stage)"
    audio = ctx.options.get("dialogue_audio")
    if audio is not None:
        if isinstance(audio, (str, Path)):
            import soundfile as sf

            samples, sr = sf.read(str(audio), dtype="float32", always_2d=True)
            samples = samples.mean(axis=1)
        else:
            samples, sr = audio
        return {"audio": np.asarray(samples, dtype=np.float32), "sr": int(sr)}, \
            "dialogue audio (loudness envelope)"
    if req is None:
        return {}, ""
    from ..engines.local.engine import validate_request
    from .runner import nominal

    figs = {f.id: f for f in validate_request(nominal(req)).figures}
    track = figs[speaker].visemes if speaker in figs else []
    if not track:
        return {}, ""
    return {"visemes": [(float(t), str(v.value)) for t, v in track]}, \
        "dialogue text (letter-rate timing; no viseme track or audio given)"


#: a mouth narrower than this in the analysis frames is read on the file's own pixels
NATIVE_MOUTH_PX = 8


def mouth_motion(frames: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Per frame: how dark the mouth box is against its own border (the lips and face
    around the mouth), ``mean(clip(1 - luma / median border luma, 0, 1))``. An open mouth
    shows its dark interior; dividing by the border makes the curve independent of the
    grade and the key light (``audio.lipsync.mouth_openness``'s fixed colour distance
    reads nothing in the night interiors, where the open mouth is only slightly darker)."""
    out = np.zeros(len(frames), np.float32)
    for i, (frame, (x0, y0, x1, y1)) in enumerate(zip(frames, boxes, strict=True)):
        c = frame[y0:y1, x0:x1].astype(np.float32)
        if c.shape[0] < 2 or c.shape[1] < 2:
            continue
        y = 0.2126 * c[..., 0] + 0.7152 * c[..., 1] + 0.0722 * c[..., 2]
        border = np.concatenate([y[0], y[-1], y[1:-1, 0], y[1:-1, -1]])
        out[i] = float(np.clip(1.0 - y / max(float(np.median(border)), 1.0), 0, 1).mean())
    return out


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
        speaker = (req.options.get("viseme_character") if req is not None else None) \
            or shot.dialogue[0].character
        if speaker not in {rc.character.id for rc in ctx.spec.characters}:
            return [self.skip(METRIC, f"the speaker {speaker} is not in the shot "
                                      "(off-screen dialogue)")]
        if ctx.regions is None:
            return [self.skip(METRIC, ctx.options.get("regions_missing")
                              or "no figure regions for this clip")]
        from ..audio import lipsync

        speech, source = _speech(ctx, speaker)
        if not speech:
            return [self.skip(METRIC, "no speech timing: no viseme track, dialogue audio or "
                                      "request")]
        m = ctx.media
        boxes = []
        h, w = m.frames.shape[1:3]
        for i in range(len(m.frames)):
            x0, y0, x1, y1 = ctx.regions(speaker, i / m.fps)["mouth"]
            b = [int(round(v * m.scale)) for v in (x0, y0, x1, y1)]
            boxes.append((max(b[0], 0), max(b[1], 0), min(b[2], w), min(b[3], h)))
        if sum(b[2] - b[0] >= 2 and b[3] - b[1] >= 2 for b in boxes) < 0.5 * len(boxes):
            return [self.skip(METRIC, f"the speaker {speaker}'s mouth is not in view")]
        boxes = [b if b[2] - b[0] >= 2 and b[3] - b[1] >= 2 else boxes[0] for b in boxes]
        mouth = None
        widths = [b[2] - b[0] for b in boxes]
        if m.scale < 1.0 and float(np.median(widths)) < NATIVE_MOUTH_PX:
            # a mouth of a few analysis pixels (wide shot): read it on the file's pixels
            fb = {}
            for i, b in enumerate(boxes):
                fb[i] = tuple(int(round(v / m.scale)) for v in b)
            crops = m.native_crops(fb)
            if len(crops) == len(boxes):
                mouth = np.array([mouth_motion(c[None], [(0, 0, c.shape[1], c.shape[0])])[0]
                                  for _i, c in sorted(crops.items())], np.float32)
        if mouth is None:
            mouth = mouth_motion(m.frames, boxes)
        result = lipsync.check_lipsync(np.asarray(mouth), m.fps, shot_id=shot.id, **speech)
        if result.offset_ms is None or result.verdict.startswith("inconclusive"):
            return [self.skip(METRIC, f"{result.verdict} (speech: {source}; correlation "
                                      f"{result.correlation:.2f})")]
        return [self.make(ctx, METRIC, abs(result.offset_ms),
                          signed_offset_ms=result.offset_ms, verdict=result.verdict,
                          correlation=result.correlation, speech=source, speaker=speaker)]
