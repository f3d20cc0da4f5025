"""OpenTimelineIO export of an episode's cut, so editors (Resolve, Premiere via adapters,
Avid) can open it.

Two entry points:

- :func:`export_render` (what ``studio export-otio`` uses after a render): the cut *as the
  render made it*, read from the render's ``render.json`` and the timeline the master was
  assembled from (``episode-NN.timeline.json``: effective durations - dialogue-lengthened
  shots, transition handles -, cards, transitions, record frames). Its length is the
  master's. Besides the picture track it carries the sound the render delivered: the main
  mix (enabled), the dialogue / music / effects / ambience stems and the M&E (disabled:
  enable them and disable the mix to remix), and one track per dub language (disabled).
- :func:`export_otio` / :func:`timeline_to_otio`: any :class:`Timeline` (e.g. one planned
  from the storyboard before rendering, with nominal durations).

Our transitions overlap two items by ``n`` frames; OTIO places the cut in the middle of the
transition, so the outgoing clip is shortened by ``in_offset`` (its frames past the cut are
the transition handle) and the incoming clip starts ``out_offset`` frames in. Total track
length equals the assembled picture. Studio facts (shot id, scene, act, card text, J/L
audio offsets, record frames) ride along in each clip's ``metadata["studio"]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import opentimelineio as otio
from pydantic import BaseModel, Field

from ..edit.timeline import ItemKind, Timeline
from ..errors import StudioError
from ..models import TransitionKind
from ..registry import EXPORTERS
from ..store.hashing import is_digest
from ..store.yamlio import atomic_write_text

_OTIO_TYPES = {
    TransitionKind.dissolve: otio.schema.TransitionTypes.SMPTE_Dissolve,
}
#: the render's stems, in track order (files under ``<episode dir>/audio/stems/``)
STEMS = ("dialogue", "music", "effects", "ambience", "me")


class AudioTrack(BaseModel):
    """One sound file laid under the whole cut (it starts at record frame 0)."""

    name: str
    path: str
    role: str = Field(description="mix, stem or dub")
    language: str | None = None
    enabled: bool = True


def _audio_seconds(path: Path) -> float | None:
    try:
        import soundfile as sf

        info = sf.info(str(path))
        return info.frames / info.samplerate
    except (OSError, RuntimeError, ImportError):
        return None


def timeline_to_otio(tl: Timeline, *, audio: Sequence[AudioTrack] = (),
                     metadata: dict[str, Any] | None = None) -> otio.schema.Timeline:
    """The picture track (shots, cards, transitions) plus one track per ``audio`` file."""
    rate = float(tl.fps)

    def rt(frames: int) -> otio.opentime.RationalTime:
        return otio.opentime.RationalTime(frames, rate)

    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    items = tl.items
    for i, item in enumerate(items):
        prev = items[i - 1].transition if i else None
        head_in = prev.frames - prev.frames // 2 if prev is not None and prev.overlaps else 0
        tr = item.transition
        tail_out = tr.frames // 2 if tr.overlaps else 0
        start = item.source_in + head_in
        duration = item.frames - head_in - tail_out
        if item.clip and Path(item.clip).is_file():
            ref: otio.core.MediaReference = otio.schema.ExternalReference(
                target_url=Path(item.clip).resolve().as_uri())
        elif item.kind != ItemKind.shot:  # cards are drawn by the assembler (scratch files)
            ref = otio.schema.GeneratorReference(
                name=item.text or item.id, generator_kind="SolidColor",
                parameters={"color": "black", "text": item.text or ""})
        else:
            ref = otio.schema.MissingReference(name=f"{item.id} (not rendered)")
        clip = otio.schema.Clip(
            name=item.id if item.kind == ItemKind.shot else (item.text or item.id),
            media_reference=ref,
            source_range=otio.opentime.TimeRange(rt(start), rt(duration)),
            metadata={"studio": {
                "id": item.id, "kind": item.kind.value, "act": item.act, "scene": item.scene,
                "text": item.text, "transition": tr.kind.value, "transition_frames": tr.frames,
                "record_start_frame": item.record_start, "record_end_frame": item.record_end,
                "audio_start_frame": item.audio_start, "audio_end_frame": item.audio_end,
                "source_in_frame": item.source_in, "frames": item.frames,
            }})
        track.append(clip)
        if tr.overlaps and i + 1 < len(items):
            track.append(otio.schema.Transition(
                name=tr.kind.value,
                transition_type=_OTIO_TYPES.get(tr.kind, otio.schema.TransitionTypes.Custom),
                in_offset=rt(tail_out), out_offset=rt(tr.frames - tail_out),
                metadata={"studio": {"kind": tr.kind.value, "frames": tr.frames}}))
    out = otio.schema.Timeline(name=f"{tl.episode} {tl.title}".strip(),
                               global_start_time=rt(0))
    out.tracks.append(track)
    total = tl.total_frames
    for a in audio:
        path = Path(a.path)
        seconds = _audio_seconds(path)
        available = None if seconds is None else otio.opentime.TimeRange(
            rt(0), otio.opentime.RationalTime(round(seconds * rate), rate))
        at = otio.schema.Track(name=a.name, kind=otio.schema.TrackKind.Audio)
        at.enabled = a.enabled
        at.append(otio.schema.Clip(
            name=a.name,
            media_reference=otio.schema.ExternalReference(
                target_url=path.resolve().as_uri(), available_range=available),
            source_range=otio.opentime.TimeRange(rt(0), rt(total)),
            metadata={"studio": {"role": a.role, "language": a.language}}))
        out.tracks.append(at)
    out.metadata["studio"] = {"episode": tl.episode, "fps": [tl.fps_num, tl.fps_den],
                              "width": tl.width, "height": tl.height,
                              "frames": total, **(metadata or {})}
    return out


def export_otio(tl: Timeline, out: str | Path, *, audio: Sequence[AudioTrack] = (),
                metadata: dict[str, Any] | None = None) -> Path:
    """Write ``tl`` (and ``audio`` tracks) as an .otio (JSON) file atomically."""
    out = Path(out)
    atomic_write_text(out, otio.adapters.write_to_string(
        timeline_to_otio(tl, audio=audio, metadata=metadata), "otio_json"))
    return out


# -- from a render ---------------------------------------------------------------------------


def find_render(path: str | Path, episode: str | None = None) -> Path:
    """``render.json`` given as the file, its episode folder, or the render's output folder
    (``<out>/episode-NN/render.json``)."""
    p = Path(path)
    candidates = [p] if p.suffix == ".json" else [p / "render.json"]
    if episode is not None and p.suffix != ".json":
        candidates.append(p / f"episode-{episode}" / "render.json")
    for c in candidates:
        if c.is_file():
            return c
    raise StudioError("no render record (render.json) found", file=p,
                      hint="render the episode first (studio render PROJECT EPISODE), or "
                      "pass --render with the render.json of the run to export")


def _resolve_clip(clip: str | None, project: Path) -> str | None:
    """A clip the timeline names, as it is on disk now: a vault object is taken from the
    project's own vault (found by its digest, so a moved or copied series folder points
    at its own files), anything else where the timeline says."""
    if not clip:
        return None
    name = Path(clip).name
    if is_digest(name):
        obj = project / ".studio" / "vault" / "objects" / name[:2] / name
        if obj.is_file():
            return str(obj)
    return clip if Path(clip).is_file() else None


def render_audio_tracks(ep_dir: Path, mix: str | None, language: str | None
                        ) -> list[AudioTrack]:
    """The sound a render delivered (the files it copied to its episode folder)."""
    tracks: list[AudioTrack] = []
    if mix and Path(mix).is_file():
        tracks.append(AudioTrack(name=f"A1 mix{f' ({language})' if language else ''}",
                                 path=mix, role="mix", language=language))
    stems = ep_dir / "audio" / "stems"
    for stem in STEMS:
        f = stems / f"{stem}.wav"
        if f.is_file():
            label = "M&E" if stem == "me" else stem
            tracks.append(AudioTrack(name=f"A{len(tracks) + 1} {label}", path=str(f),
                                     role="stem", language=language, enabled=False))
    dubs = ep_dir / "audio" / "dubs"
    for f in sorted(dubs.glob("*.wav")) if dubs.is_dir() else []:
        tracks.append(AudioTrack(name=f"A{len(tracks) + 1} dub ({f.stem})", path=str(f),
                                 role="dub", language=f.stem, enabled=False))
    return tracks


def render_to_otio(render: str | Path, *, episode: str | None = None,
                   project: str | Path | None = None) -> otio.schema.Timeline:
    """The cut a render made (see module doc) from its ``render.json``. ``project``: the
    series folder now (default: where it was at render time), to find vault clips in."""
    record_path = find_render(render, episode)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StudioError(f"render record unreadable: {err}", file=record_path,
                          hint="render the episode again") from None
    if episode is not None and str(record.get("episode")) != str(episode):
        raise StudioError(f"this render is of episode {record.get('episode')!r}, not "
                          f"{episode!r}", file=record_path, field="episode",
                          hint="pass the render.json of the episode to export")
    # the folder holding render.json is the episode folder (even if the render was moved)
    ep_dir = record_path.parent

    def here(path: str | None) -> str | None:
        """A path the record names, in the episode folder where it is now (a moved or
        copied render points at its own files), else as recorded."""
        if not path:
            return path
        try:
            rebased = ep_dir / Path(path).relative_to(record.get("out_dir") or "")
        except ValueError:
            return path
        return str(rebased) if rebased.exists() else path

    tl_path = here(record.get("timeline"))
    if not tl_path or not Path(tl_path).is_file():
        raise StudioError("the render record names no assembled timeline", file=record_path,
                          field="timeline",
                          hint="render the episode again with this version (studio render): "
                          "it records the timeline the master was assembled from")
    try:
        tl = Timeline.model_validate_json(Path(tl_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise StudioError(f"assembled timeline unreadable: {err}", file=tl_path,
                          hint="render the episode again") from None
    root = Path(project or record.get("project") or ".")
    for item in tl.items:
        item.clip = _resolve_clip(item.clip, root)
    master = here(record.get("master"))
    language = None
    master_s = None
    if master and Path(master).is_file():
        from ..edit.probe import probe

        info = probe(master)
        master_s = info.video.frames / float(tl.fps)
        audio_streams = info.of_type("audio")
        language = audio_streams[0].language if audio_streams else None
    return timeline_to_otio(
        tl, audio=render_audio_tracks(ep_dir, here(record.get("mix")), language),
        metadata={"render": str(record_path), "run_id": record.get("run_id"),
                  "master": master, "master_duration_s": master_s,
                  "series": record.get("series")})


def export_render(render: str | Path, out: str | Path, *, episode: str | None = None,
                  project: str | Path | None = None) -> Path:
    """Write the cut a render made (``render.json``, its folder or the output folder) as
    an .otio file atomically."""
    out = Path(out)
    atomic_write_text(out, otio.adapters.write_to_string(
        render_to_otio(render, episode=episode, project=project), "otio_json"))
    return out


@EXPORTERS.register("otio")
class OtioExporter:
    """Exporter plugin: ``EXPORTERS.get("otio")().export(timeline, "cut.otio")``, or
    ``.export_render("out/episode-01", "cut.otio")`` for what a render made."""

    name = "otio"
    suffix = ".otio"
    description = "OpenTimelineIO cut (picture track with transitions; sound tracks)"

    def export(self, timeline: Timeline, out: str | Path) -> Path:
        return export_otio(timeline, out)

    def export_render(self, render: str | Path, out: str | Path, *,
                      episode: str | None = None, project: str | Path | None = None) -> Path:
        return export_render(render, out, episode=episode, project=project)
