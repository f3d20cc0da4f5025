"""OpenTimelineIO export of an episode's Timeline, so editors (Resolve, Premiere via
adapters, Avid) can open the cut: one video track, shots and cards as clips, picture
transitions as OTIO transitions.

Our transitions overlap two items by ``n`` frames; OTIO places the cut in the middle of the
transition, so the outgoing clip is shortened by ``in_offset`` (its frames past the cut are
the transition handle) and the incoming clip starts ``out_offset`` frames in. Total track
length equals the assembled picture. Studio facts (shot id, scene, act, card text, J/L
audio offsets) ride along in each clip's ``metadata["studio"]``.
"""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

from ..edit.timeline import ItemKind, Timeline
from ..models import TransitionKind
from ..registry import EXPORTERS
from ..yamlio import atomic_write_text

_OTIO_TYPES = {
    TransitionKind.dissolve: otio.schema.TransitionTypes.SMPTE_Dissolve,
}


def timeline_to_otio(tl: Timeline) -> otio.schema.Timeline:
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
        if item.clip:
            ref: otio.core.MediaReference = otio.schema.ExternalReference(
                target_url=Path(item.clip).resolve().as_uri())
        elif item.kind != ItemKind.shot:
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
    out.metadata["studio"] = {"episode": tl.episode, "fps": [tl.fps_num, tl.fps_den],
                              "width": tl.width, "height": tl.height}
    return out


def export_otio(tl: Timeline, out: str | Path) -> Path:
    """Write ``tl`` as an .otio (JSON) file atomically."""
    out = Path(out)
    atomic_write_text(out, otio.adapters.write_to_string(timeline_to_otio(tl), "otio_json"))
    return out


@EXPORTERS.register("otio")
class OtioExporter:
    """Exporter plugin: ``EXPORTERS.get("otio")().export(timeline, "cut.otio")``."""

    name = "otio"
    suffix = ".otio"
    description = "OpenTimelineIO cut (one video track, clips, transitions)"

    def export(self, timeline: Timeline, out: str | Path) -> Path:
        return export_otio(timeline, out)
