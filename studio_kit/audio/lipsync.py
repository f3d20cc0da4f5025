"""Lip-sync verification: estimate the audio-to-mouth offset of a rendered shot.

Mouth movement is measured in the frames (share of the mouth box that is not skin: the
open mouth's dark interior and the lips around it) and cross-correlated with a
reference from the audio side: the viseme openness track, or the dialogue's loudness
envelope. The lag with the highest correlation is the offset.

Sign convention (ITU-R BT.1359): positive = sound ahead of picture (audio early),
negative = sound behind picture (audio late). Default limits are BT.1359's detectability
thresholds, +45 ms / -125 ms. A sound lag of 120 ms is therefore *not* detectable by that
standard; stricter delivery specs (EBU R37: +40 / -60 ms) catch it - pick ``EBU_R37``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from ..errors import StudioError
from ..visemes import Viseme
from . import SAMPLE_RATE

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels (x1, y1 exclusive)


class LipSyncLimits(BaseModel):
    name: str
    lead_ms: float = Field(description="Largest allowed sound-ahead-of-picture offset.")
    lag_ms: float = Field(description="Largest allowed sound-behind-picture offset (positive).")

    def ok(self, offset_ms: float) -> bool:
        return -self.lag_ms <= offset_ms <= self.lead_ms


BT1359 = LipSyncLimits(name="ITU-R BT.1359 detectability", lead_ms=45, lag_ms=125)
EBU_R37 = LipSyncLimits(name="EBU R37", lead_ms=40, lag_ms=60)


class LipSyncResult(BaseModel):
    shot_id: str = ""
    offset_ms: float | None = Field(description="+ = sound ahead of picture; None = unmeasured.")
    correlation: float
    ok: bool
    verdict: str
    limits: LipSyncLimits
    frames: int


def mouth_openness(frames: Iterable[np.ndarray], boxes: Box | Sequence[Box],
                   *, min_distance: float = 8.0) -> np.ndarray:
    """Per frame: share of the mouth box that is not skin (0..1).

    The skin colour is the median of the box's border pixels (the mouth never reaches
    the border); a pixel counts as mouth (dark interior or lips) when its RGB distance
    from the skin exceeds ``min_distance`` or four times the border's spread. This holds
    in dark grades too, where the open mouth is only slightly darker than the face.
    ``boxes``: one box for every frame, or one per frame (a moving character).
    """
    values = []
    for i, frame in enumerate(frames):
        box = boxes[i] if boxes and isinstance(boxes[0], (tuple, list)) else boxes
        x0, y0, x1, y1 = (int(v) for v in box)  # type: ignore[misc]
        h, w = frame.shape[:2]
        x0, x1 = max(0, x0), min(w, x1)
        y0, y1 = max(0, y0), min(h, y1)
        if x1 <= x0 or y1 <= y0:
            raise StudioError(f"frame {i}: mouth box {box} is outside the {w}x{h} frame",
                              hint="check the figure regions passed to the lip-sync check")
        crop = frame[y0:y1, x0:x1].astype(np.float32)
        crop = crop if crop.ndim == 3 else crop[..., None]
        border = np.concatenate([crop[0], crop[-1], crop[1:-1, 0], crop[1:-1, -1]])
        skin = np.median(border, axis=0)
        spread = np.median(np.linalg.norm(border - skin, axis=1))
        dist = np.linalg.norm(crop - skin, axis=2)
        values.append(float(np.mean(dist > max(min_distance, 4 * spread))))
    if not values:
        raise StudioError("no frames to measure lip-sync on",
                          hint="the clip decoded to no frames: re-generate the shot")
    return np.array(values, np.float32)


def viseme_reference(track: Sequence[tuple[float, Viseme | str]]) -> Callable[[np.ndarray], np.ndarray]:
    """Openness over time from a viseme track (t relative to the shot start)."""
    times = np.array([t for t, _ in track], np.float64)
    vals = np.array([Viseme(v).openness for _, v in track], np.float32)

    def ref(t: np.ndarray) -> np.ndarray:
        if not len(times):
            return np.zeros_like(t, np.float32)
        idx = np.searchsorted(times, t, side="right") - 1
        return np.where(idx >= 0, vals[np.clip(idx, 0, None)], 0.0).astype(np.float32)

    return ref


def envelope_reference(samples: np.ndarray, sr: int = SAMPLE_RATE,
                       smooth_s: float = 0.03) -> Callable[[np.ndarray], np.ndarray]:
    """Loudness envelope (RMS over ``smooth_s``) of dialogue samples starting at t=0."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    hop = max(1, int(sr / 1000))
    n = len(mono) // hop
    p = (mono[: n * hop].reshape(n, hop) ** 2).mean(axis=1)
    k = max(1, int(smooth_s * 1000))
    env = np.sqrt(np.convolve(p, np.ones(k) / k, mode="same"))
    t_ms = np.arange(n) / 1000.0

    def ref(t: np.ndarray) -> np.ndarray:
        return np.interp(t, t_ms, env, left=0.0, right=0.0).astype(np.float32)

    return ref


def estimate_offset(mouth: np.ndarray, fps: float, reference: Callable[[np.ndarray], np.ndarray],
                    *, max_offset_ms: float = 500, step_ms: float = 5
                    ) -> tuple[float | None, float]:
    """(offset_ms, correlation): the lag d maximizing corr(mouth(t), ref(t - d)).

    The mouth at frame time t shows what the audio played at t - d: d > 0 means the
    sound came d earlier than the picture (sound ahead).
    """
    t = np.arange(len(mouth)) / fps  # frame i shows time i / fps (its timestamp)
    m = mouth.astype(np.float64) - mouth.mean()
    if np.std(m) < 1e-6:
        return None, 0.0
    lags = np.arange(-max_offset_ms, max_offset_ms + step_ms / 2, step_ms)
    corr = np.full(len(lags), -2.0)
    for i, d in enumerate(lags):
        r = reference(t - d / 1000.0).astype(np.float64)
        r -= r.mean()
        den = np.sqrt((m * m).sum() * (r * r).sum())
        if den > 0:
            corr[i] = (m * r).sum() / den
    k = int(np.argmax(corr))
    if corr[k] <= -2.0:
        return None, 0.0
    # frames sample the mouth once per frame, so a run of neighbouring lags can tie:
    # report the middle of the run
    lo = hi = k
    while lo > 0 and corr[lo - 1] >= corr[k] - 1e-6:
        lo -= 1
    while hi + 1 < len(lags) and corr[hi + 1] >= corr[k] - 1e-6:
        hi += 1
    return float((lags[lo] + lags[hi]) / 2), float(corr[k])


def check_lipsync(mouth: np.ndarray, fps: float, *,
                  visemes: Sequence[tuple[float, Viseme | str]] | None = None,
                  audio: np.ndarray | None = None, sr: int = SAMPLE_RATE,
                  limits: LipSyncLimits = BT1359, shot_id: str = "",
                  min_correlation: float = 0.3) -> LipSyncResult:
    """Offset of a shot from its measured mouth curve and the dialogue (visemes or audio)."""
    if visemes is not None:
        ref = viseme_reference(visemes)
    elif audio is not None:
        ref = envelope_reference(audio, sr)
    else:
        raise StudioError("lip-sync check needs the shot's visemes or its dialogue audio",
                          hint="pass the viseme track from the audio stage, or the line's WAV")
    off, corr = estimate_offset(mouth, fps, ref)
    if off is None or corr < min_correlation:
        return LipSyncResult(shot_id=shot_id, offset_ms=off, correlation=round(corr, 3),
                             ok=False, limits=limits, frames=len(mouth),
                             verdict="inconclusive: mouth movement does not follow the "
                                     "dialogue (no speaking mouth visible?)")
    ok = limits.ok(off)
    side = "sound ahead of picture" if off > 0 else "sound behind picture"
    verdict = (f"in sync ({off:+.0f} ms)" if ok else
               f"out of sync: {abs(off):.0f} ms {side}, beyond {limits.name} "
               f"(+{limits.lead_ms:g}/-{limits.lag_ms:g} ms)")
    return LipSyncResult(shot_id=shot_id, offset_ms=round(off, 1), correlation=round(corr, 3),
                         ok=ok, verdict=verdict, limits=limits, frames=len(mouth))


def read_frames(video: str | Path) -> tuple[list[np.ndarray], float]:
    """Decode a clip's frames (RGB) with PyAV; returns (frames, fps)."""
    import av

    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 24)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except (av.error.FFmpegError, IndexError) as exc:
        raise StudioError(f"cannot read video frames: {exc}", file=video,
                          hint="pass a rendered shot (MP4/MOV)") from None
    return frames, fps


def check_rendered_shot(video: str | Path, request, character_id: str, *,
                        visemes: Sequence[tuple[float, Viseme | str]] | None = None,
                        limits: LipSyncLimits = BT1359) -> LipSyncResult:
    """Check a shot rendered by the local engine: mouth boxes come from its
    ``figure_regions(request, character_id, t)``; visemes default to ``request.visemes``."""
    from ..engines.local.engine import validate_request  # the local engine's geometry

    frames, fps = read_frames(video)
    renderer = validate_request(request)  # built once: figure_regions would rebuild per frame
    boxes = []
    for i in range(len(frames)):
        region = renderer.regions(character_id, i / fps)
        if not region or "mouth" not in region:
            raise StudioError(f"{character_id} has no visible mouth in frame {i}",
                              hint="lip-sync is checked on shots where the speaker is in view")
        boxes.append(tuple(int(round(v)) for v in region["mouth"]))
    mouth = mouth_openness(frames, boxes)
    return check_lipsync(mouth, fps, visemes=visemes or request.visemes, limits=limits,
                         shot_id=request.spec.shot.id)
