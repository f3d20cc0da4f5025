"""THE progress event of the kit: one type for every progress report.

A render's stages (:class:`studio_kit.pipeline.runner.StageRunner`), the CLI's bars, the
notebook's tqdm bars and the widgets all speak :class:`ProgressEvent` through one callback
type, :data:`ProgressCallback`. Work inside one stage (an engine's job, an encoder, the
audio build, a feature's export step) reports a fraction, optionally with a message; the
caller turns those into events of its stage with :func:`fraction_reporter`, so a fraction
callback is a view of the same stream, not another event type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class ProgressEvent:
    """What a progress callback receives (CLI bars, notebook tqdm, widgets)."""

    stage: str
    subject: str | None
    status: str  # "start" | "hit" | "done" | "failed" | "progress"
    fraction: float = 0.0
    seconds: float | None = None
    message: str = ""

    @property
    def label(self) -> str:
        return f"{self.stage}[{self.subject}]" if self.subject else self.stage


#: THE progress callback: receives every event of a run
ProgressCallback = Callable[[ProgressEvent], None]
#: a job's own fraction in [0, 1] (engines, encoders): ``fraction_reporter`` makes events
FractionFn = Callable[[float], None]
#: a fraction and what is being done (the audio build, a feature's export steps)
FractionMessageFn = Callable[[float, str], None]


def fraction_reporter(callback: ProgressCallback | None, stage: str,
                      subject: str | None = None) -> Callable[..., None]:
    """A ``(fraction, message="")`` function that emits ``progress`` events of ``stage``
    to ``callback`` (clamped to [0, 1]); a no-op when there is no callback."""

    def report(fraction: float, message: str = "") -> None:
        if callback is not None:
            callback(ProgressEvent(stage, subject, "progress",
                                   max(0.0, min(1.0, float(fraction))), message=message))

    return report


__all__ = ["FractionFn", "FractionMessageFn", "ProgressCallback", "ProgressEvent",
           "fraction_reporter"]
