"""Dialogue and timing: each shot's spoken lines (``dialogue``, cached per shot), then the
effective durations, the picture plan with transition handles and the viseme tracks
(``timing``, computed, not cached: it is cheap and keyed by what it is made of)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import soundfile as sf

from ...audio import SAMPLE_RATE
from ...audio.dialogue import VaultSpeechStore, cast_voices, speak_line
from ...audio.timing import plan_timing
from ...edit import timeline as tl_mod
from ..context import RenderContext
from ..runner import StageContext, StageProduct
from .base import Stage


def dialogue(r: RenderContext, shot) -> dict[str, Any]:
    """Speak the shot's lines: their durations and viseme tracks (shot-local times)."""
    cast = cast_voices(r.project.characters)  # the voices speak_line will use
    speakers = {d.character: cast[d.character]
                for d in shot.dialogue if d.character in r.project.characters}
    inputs = {"dialogue": [d.model_dump(mode="json") for d in shot.dialogue],
              "voices": speakers, "shot": shot.id}

    def fn(ctx: StageContext) -> StageProduct:
        lines, files = [], {}
        store = VaultSpeechStore(r.vault)
        for i, line in enumerate(shot.dialogue):
            spoken = speak_line(r.project.characters, line, shot_id=shot.id, index=i,
                                store=store)
            wav = ctx.file(f"line{i}.wav")
            sf.write(wav, spoken.samples, SAMPLE_RATE, subtype="PCM_16")
            files[f"line{i}"] = wav
            lines.append({"index": i, "character": spoken.character,
                          "language": spoken.language, "text": spoken.text,
                          "duration_s": spoken.duration_s, "dual": line.dual,
                          "visemes": [(round(t, 4), str(v)) for t, v in spoken.visemes]})
            ctx.progress((i + 1) / max(1, len(shot.dialogue)))
        return StageProduct(files=files, meta={"lines": lines})

    if not shot.dialogue:
        return {"lines": []}
    return r.runner.run("dialogue", inputs, fn, subject=shot.id).meta


def timings(sb, dialogue: dict[str, dict[str, Any]], fps: float):
    durations = {sid: [(ln["duration_s"], ln["dual"]) for ln in d["lines"]]
                 for sid, d in dialogue.items()}
    return plan_timing(sb, durations, fps=fps)


def shot_visemes(lines: list[dict[str, Any]], starts: dict[tuple[str, int], float],
                 shot_id: str, shot_start: float) -> list[tuple[float, str]]:
    track: list[tuple[float, str]] = []
    for ln in lines:
        offset = starts.get((shot_id, ln["index"]), shot_start) - shot_start
        track += [(round(max(0.0, offset + t), 4), v) for t, v in ln["visemes"]]
    track.sort(key=lambda x: x[0])
    return track


class PicturePlan:
    """The edit with *handles*: a shot joined to its neighbour by a picture transition of D
    frames is rendered D//2 frames longer at its tail, and the next item D - D//2 frames
    longer at its head, so the transition is centred on the cut point and every shot's
    content (and sound) starts exactly where the audio plan put its cut. Sound then cuts
    straight at the cut point while the picture dissolves: no two shots' dialogue overlap.
    """

    def __init__(self, r: RenderContext, timings) -> None:
        self.fps = float(r.format.fps)
        base = {t.shot_id: t.duration_s for t in timings}
        clamp: dict[int, int] = {}
        for _ in range(4):  # layout may shorten an overlap; re-plan with what it kept
            probe = tl_mod.timeline_from_storyboard(
                r.sb, {}, durations=base, fps=r.format.fps, width=r.format.width,
                height=r.format.height, series_title=r.project.series.title)
            wanted = {i: clamp.get(i, it.transition.frames) if it.transition.overlaps else 0
                      for i, it in enumerate(probe.items)}
            self.head: dict[str, int] = {}
            self.tail: dict[str, int] = {}
            for i, it in enumerate(probe.items):
                d = wanted[i]
                if d and it.kind == tl_mod.ItemKind.shot:
                    self.tail[it.id] = d // 2
                if d and i + 1 < len(probe.items) and \
                        probe.items[i + 1].kind == tl_mod.ItemKind.shot:
                    self.head[probe.items[i + 1].id] = d - d // 2
            self.durations = {
                sid: (probe.frames_for(sec) + self.head.get(sid, 0) + self.tail.get(sid, 0))
                / probe.fps for sid, sec in base.items()}
            self.timeline = tl_mod.timeline_from_storyboard(
                r.sb, {}, durations={k: float(v) for k, v in self.durations.items()},
                fps=r.format.fps, width=r.format.width, height=r.format.height,
                series_title=r.project.series.title)
            got = {i: it.transition.frames if it.transition.overlaps else 0
                   for i, it in enumerate(self.timeline.items)}
            if all(got[i] == wanted[i] for i in wanted):
                break
            clamp = {i: min(wanted[i], got[i]) for i in wanted if wanted[i]}
        self.base = base
        self._tl = tl_mod

    def duration_s(self, shot_id: str) -> float:
        return float(self.durations[shot_id])

    def head_s(self, shot_id: str) -> float:
        return self.head.get(shot_id, 0) / self.fps

    def with_clips(self, clips: dict[str, Path]):
        tl = self.timeline.model_copy(deep=True)
        for item in tl.items:
            if item.id in clips:
                item.clip = str(clips[item.id])
        return tl

    def content_starts(self, timeline) -> dict[str, float]:
        """Picture time where each shot's content (its audio plan's cut) starts."""
        return {it.id: timeline.seconds(it.record_start + self.head.get(it.id, 0))
                for it in timeline.items if it.kind == self._tl.ItemKind.shot}


class DialogueStage(Stage):
    """Every shot's lines spoken (eSpeak NG by default): lengths and mouth shapes."""

    name = "dialogue"
    runner_stages = ("dialogue",)
    per_shot = True

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        return {"dialogue": {shot.id: dialogue(ctx, shot) for shot in ctx.sb.shots}}

    def run_shot(self, ctx: RenderContext, shot_id: str) -> dict[str, Any]:
        return dialogue(ctx, ctx.sb.shot(shot_id))


class TimingStage(Stage):
    """Effective durations (storyboard, longer when the dialogue needs it), line starts and
    the picture plan (transition handles): what every later stage is timed by."""

    name = "timing"
    requires = ("dialogue",)

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        got, starts = timings(ctx.sb, ctx.product("dialogue", "dialogue"), ctx.format.fps)
        return {"timings": got, "starts": starts, "timing_of": {t.shot_id: t for t in got},
                "plan": PicturePlan(ctx, got)}
