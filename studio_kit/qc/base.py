"""QC plumbing: decoded media, the context a scorer sees, scores and reports.

A scorer is a class registered in ``studio_kit.registry.SCORERS``; ``score(ctx)`` returns
``QCScore``s (one per metric). A scorer that cannot run (no model configured, no dialogue
for lip-sync, nothing measurable) returns skipped scores, which never fail a shot; each
carries its reason (a sentence) in ``details["skipped"]``, recorded as such in the ledger.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..engines.base import EngineRequest, ShotSpec
from ..errors import StudioError
from ..models import Tier
from .thresholds import passes

Box = tuple[float, float, float, float]
RegionsFn = Callable[[str, float], dict[str, Box]]


class QCScore(BaseModel):
    scorer: str
    metric: str
    value: float
    threshold: float | None = None
    direction: str = "max"
    passed: bool = True
    skipped: bool = False
    details: dict[str, Any] = Field(default_factory=dict)


class QCReport(BaseModel):
    episode: str
    shot_id: str
    asset: str | None = None
    tier: str = "standard"
    scores: list[QCScore] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.scores if not s.skipped)

    @property
    def failures(self) -> list[QCScore]:
        return [s for s in self.scores if not s.skipped and not s.passed]

    def summary(self) -> str:
        if self.passed:
            return f"{self.shot_id}: pass"
        return f"{self.shot_id}: FAIL " + ", ".join(
            f"{s.metric}={s.value:.3g} (limit {s.threshold:g})" for s in self.failures)


@dataclass
class ShotMedia:
    """Decoded (downscaled) frames of a clip plus its stream facts."""

    frames: np.ndarray  # (N, H, W, 3) uint8
    fps: float
    width: int  # the file's size (before downscaling)
    height: int
    duration_s: float
    path: Path | None = None  # the file, for crops at its own resolution

    @property
    def scale(self) -> float:
        return self.frames.shape[2] / self.width

    def native_crops(self, boxes: dict[int, tuple[int, int, int, int]]
                     ) -> dict[int, np.ndarray]:
        """Crops of frames at the file's own resolution (``boxes``: frame index -> pixel
        box x0, y0, x1, y1 in the file's pixels), one decoding pass. QC analyses frames at
        most 640 px wide; a face or mouth that is a few pixels there (a wide shot) is
        measured on the file's pixels when the file has more of them. Empty when the clip
        is not a file or is no larger than the analysis frames."""
        if self.path is None or self.scale >= 1.0 or not boxes:
            return {}
        import av

        out: dict[int, np.ndarray] = {}
        last = max(boxes)
        with av.open(str(self.path)) as c:
            for i, f in enumerate(c.decode(c.streams.video[0])):
                if i in boxes:
                    x0, y0, x1, y1 = boxes[i]
                    out[i] = f.to_ndarray(format="rgb24")[max(y0, 0):max(y1, 0),
                                                         max(x0, 0):max(x1, 0)].copy()
                if i >= last:
                    break
        return out

    def native_frames(self, indices: list[int]) -> dict[int, np.ndarray]:
        """Whole frames at the file's own resolution (see ``native_crops``)."""
        return self.native_crops({i: (0, 0, self.width, self.height) for i in indices})

    def times(self) -> np.ndarray:
        return np.arange(len(self.frames)) / self.fps

    @classmethod
    def from_frames(cls, frames: np.ndarray, fps: float = 24.0) -> ShotMedia:
        frames = np.asarray(frames, dtype=np.uint8)
        return cls(frames, fps, frames.shape[2], frames.shape[1], len(frames) / fps)


def load_media(path: str | Path, max_width: int = 640) -> ShotMedia:
    """Decode every frame with PyAV, downscaled to at most ``max_width`` (QC needs no more)."""
    import av

    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise StudioError(f"cannot read the clip: {exc}", file=path,
                          hint="the file is not a video (re-run generation)") from None
    with container:
        if not container.streams.video:
            raise StudioError("the file has no video stream", file=path,
                              hint="QC scores video clips (re-run generation)")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = float(stream.average_rate or stream.guessed_rate or 24)
        w = min(max_width, width)
        h = max(2, round(height * w / width / 2) * 2)
        frames = [f.to_ndarray(format="rgb24", width=w, height=h)
                  for f in container.decode(stream)]
    if not frames:
        raise StudioError("the clip has no frames", file=path, hint="re-run generation")
    arr = np.stack(frames)
    return ShotMedia(arr, fps, width, height, len(frames) / fps, path=path)


@dataclass
class QCContext:
    spec: ShotSpec
    media: ShotMedia
    tier: Tier | str = Tier.standard
    request: EngineRequest | None = None
    regions: RegionsFn | None = None  # figure regions in the file's pixel coordinates
    character_refs: dict[str, Any] = field(default_factory=dict)  # id -> CharacterReference
    scene_ref: Any = None  # SceneReference
    audio_path: Path | None = None
    asset: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Scorer(ABC):
    name: str = ""

    @abstractmethod
    def score(self, ctx: QCContext) -> list[QCScore]:
        ...

    def make(self, ctx: QCContext, metric: str, value: float, **details: Any) -> QCScore:
        ok, limit, direction = passes(metric, value, ctx.tier)
        return QCScore(scorer=self.name, metric=metric, value=float(value), threshold=limit,
                       direction=direction, passed=ok, details=details)

    def skip(self, metric: str, why: str) -> QCScore:
        if not isinstance(why, str) or not why.strip():
            raise ValueError(f"{self.name}: a skipped {metric} needs its reason (a sentence)")
        return QCScore(scorer=self.name, metric=metric, value=0.0, skipped=True,
                       details={"skipped": why})


def run_scorers(ctx: QCContext, names: list[str] | None = None) -> QCReport:
    """Run the named scorers (default: every registered one) on one shot."""
    from ..registry import SCORERS

    report = QCReport(episode=ctx.spec.episode, shot_id=ctx.spec.shot.id, asset=ctx.asset,
                      tier=Tier(ctx.tier).value)
    for name in names or SCORERS.names():
        scorer = SCORERS.get(name)()
        report.scores.extend(scorer.score(ctx))
    return report


def skip_reason(score: QCScore) -> str:
    """Why a score was skipped (a sentence; every ``Scorer.skip`` gives one)."""
    why = score.details.get("skipped")
    return why if isinstance(why, str) and why else f"{score.metric} was not measured"


def record_report(report: QCReport, ledger, *, run_id: int | None = None,
                  attempt: int | None = None) -> None:
    """Every score into the ledger's qc_scores (skipped ones too: ``details.skipped`` holds
    the reason, a string; ``false`` for a score that was measured)."""
    for s in report.scores:
        details = dict(s.details)
        details["skipped"] = skip_reason(s) if s.skipped else False
        if attempt is not None:
            details["attempt"] = attempt
        ledger.qc_score(shot_id=report.shot_id, scorer=s.metric, score=s.value,
                        passed=s.passed or s.skipped, threshold=s.threshold, run_id=run_id,
                        episode=report.episode, asset=report.asset, details=details)
