"""Timing: dialogue length vs storyboard duration -> effective shot durations; J/L-cuts.

A shot lasts at least its storyboard duration, longer when its dialogue needs it (lead-in +
lines + gaps + tail), rounded up to whole frames. Lines play one after another; a dual
line starts with the previous one. A J-cut into a shot (the previous shot's transition is
``j_cut``) starts its dialogue that much before its picture; an L-cut out of a shot lets
its dialogue trail into the next picture. The timeline is the shots end to end from 0.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from ..models import Storyboard, TransitionKind


class Pacing(BaseModel):
    lead_s: float = Field(0.25, ge=0, description="Silence before the first line of a shot.")
    gap_s: float = Field(0.2, ge=0, description="Pause between lines.")
    tail_s: float = Field(0.35, ge=0, description="Silence after the last line.")
    dual_offset_s: float = Field(0.15, ge=0, description="Dual line starts this much later.")


class ShotTiming(BaseModel):
    shot_id: str
    act_id: str
    scene: str
    start_s: float
    duration_s: float
    storyboard_s: float
    dialogue_s: float = Field(description="Time the shot's dialogue needs (lead to tail).")
    audio_lead_s: float = Field(0.0, description="J-cut: dialogue starts before the picture.")
    audio_trail_s: float = Field(0.0, description="L-cut: dialogue trails past the picture.")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def extended(self) -> bool:
        return self.duration_s > self.storyboard_s + 1e-6


def plan_timing(storyboard: Storyboard, line_durations: dict[str, list[tuple[float, bool]]],
                *, fps: float = 24.0, pacing: Pacing | None = None
                ) -> tuple[list[ShotTiming], dict[tuple[str, int], float]]:
    """Shot timings and each line's absolute start (key: (shot id, line index)).

    ``line_durations[shot_id]`` lists (duration_s, dual) per line.
    """
    pacing = pacing or Pacing()
    shots = [(act, s) for act in storyboard.acts for s in act.shots]
    timings: list[ShotTiming] = []
    starts: dict[tuple[str, int], float] = {}
    t0 = 0.0
    for i, (act, shot) in enumerate(shots):
        prev = shots[i - 1][1] if i else None
        lead = prev.transition.seconds if prev is not None and \
            prev.transition.kind == TransitionKind.j_cut else 0.0
        trail = shot.transition.seconds if shot.transition.kind == TransitionKind.l_cut \
            and i + 1 < len(shots) else 0.0
        rel: list[float] = []
        cursor = pacing.lead_s
        for k, (dur, dual) in enumerate(line_durations.get(shot.id, [])):
            start = rel[-1] + pacing.dual_offset_s if dual and k else cursor
            rel.append(start)
            cursor = max(cursor, start + dur + pacing.gap_s)
        needed = (cursor - pacing.gap_s + pacing.tail_s) if rel else 0.0
        picture_needs = max(0.0, needed - lead - trail)
        dur = max(shot.duration_s, picture_needs)
        dur = math.ceil(dur * fps - 1e-6) / fps
        for k, r in enumerate(rel):
            starts[(shot.id, k)] = max(0.0, t0 + r - lead)
        timings.append(ShotTiming(shot_id=shot.id, act_id=act.id, scene=shot.scene,
                                  start_s=t0, duration_s=dur,
                                  storyboard_s=shot.duration_s, dialogue_s=round(needed, 4),
                                  audio_lead_s=lead, audio_trail_s=trail))
        t0 += dur
    return timings, starts


def total_duration(timings: list[ShotTiming]) -> float:
    return timings[-1].end_s if timings else 0.0
