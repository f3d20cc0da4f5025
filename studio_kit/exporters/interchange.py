"""Editor round trip: export an episode's planned cut as OTIO / CMX 3600 EDL / FCP 7 XML
through OTIO's own adapters, and import an edited timeline back into the storyboard.

Each clip is named after its shot id (and carries ``metadata["studio"]["shot"]``), so an
EDL, which keeps only names and ``* FROM CLIP NAME:`` comments, maps back to shots. The
merge edits a deep copy and writes through ``Project.save_storyboard`` (comments and hand
edits elsewhere in the file survive); any bad input raises a StudioError before writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio

from ..errors import StudioError
from ..models.storyboard import Storyboard, Transition, TransitionKind

FPS = 24.0
FORMATS = {".otio": "otio_json", ".edl": "cmx_3600", ".xml": "fcp_xml"}


def _adapter(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise StudioError(f"unknown timeline format {path.suffix!r}", file=path,
                          hint="use .otio, .edl (CMX 3600) or .xml (FCP 7 XML)") from None


def _rt(seconds: float, fps: float = FPS) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(round(seconds * fps), fps)


def storyboard_to_otio(sb: Storyboard, media: dict[str, Path] | None = None,
                       fps: float = FPS) -> otio.schema.Timeline:
    """The storyboard's cut: one clip per shot (name = shot id), trims as source ranges."""
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    shots = sb.shots
    for i, shot in enumerate(shots):
        path = (media or {}).get(shot.id)
        avail = otio.opentime.TimeRange(_rt(0, fps), _rt(shot.duration_s, fps))
        ref = (otio.schema.ExternalReference(target_url=Path(path).resolve().as_uri(),
                                             available_range=avail)
               if path else otio.schema.MissingReference(available_range=avail))
        ref.name = shot.id
        track.append(otio.schema.Clip(
            name=shot.id, media_reference=ref,
            source_range=otio.opentime.TimeRange(
                _rt(shot.trim_in_s, fps),
                _rt(shot.duration_s - shot.trim_in_s - shot.trim_out_s, fps)),
            metadata={"studio": {"shot": shot.id, "episode": sb.episode}}))
        tr = shot.transition
        if i + 1 < len(shots) and tr.kind.touches_picture and tr.seconds > 0:
            # all of the overlap after the cut: an EDL's dissolve then needs no source
            # frames before the incoming shot's in point
            track.append(otio.schema.Transition(
                name=tr.kind.value, in_offset=_rt(0, fps), out_offset=_rt(tr.seconds, fps),
                metadata={"studio": {"kind": tr.kind.value}}))
    tl = otio.schema.Timeline(name=f"episode {sb.episode} {sb.title}".strip())
    tl.tracks.append(track)
    tl.metadata["studio"] = {"episode": sb.episode}
    return tl


def export_timeline(sb: Storyboard, out: str | Path, media: dict[str, Path] | None = None
                    ) -> Path:
    out = Path(out)
    tl = storyboard_to_otio(sb, media)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp" + out.suffix)
    otio.adapters.write_to_file(tl, str(tmp), adapter_name=_adapter(out))
    tmp.replace(out)
    return out


@dataclass
class MergeReport:
    file: Path
    changes: list[str] = field(default_factory=list)
    storyboard: Storyboard | None = None

    def text(self) -> str:
        return "\n".join(self.changes) or "no changes"


def _shot_of(clip: otio.schema.Clip, ids: set[str]) -> str | None:
    meta = clip.metadata.get("studio") if clip.metadata else None
    if isinstance(meta, dict) and meta.get("shot") in ids:
        return str(meta["shot"])
    for name in (clip.name, getattr(clip.media_reference, "name", None)):
        if name and name.strip() in ids:
            return name.strip()
    return None


def merge_timeline(sb: Storyboard, path: str | Path) -> MergeReport:
    """Apply an edited timeline to a deep copy of ``sb``; raise StudioError on bad input."""
    path = Path(path)
    adapter = _adapter(path)
    try:
        tl = otio.adapters.read_from_file(str(path), adapter_name=adapter)
    except Exception as exc:  # noqa: BLE001 - the adapters raise many kinds
        raise StudioError(f"cannot read the timeline: {exc}", file=path,
                          hint="export it again from the editor as "
                               f"{path.suffix} ({adapter})") from None
    video = [t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video]
    if not video:
        raise StudioError("the timeline has no video track", file=path,
                          hint="export the picture track from the editor")
    shots = {s.id: s for s in sb.shots}
    ids = set(shots)
    items = list(video[0])
    clips = [c for c in items if isinstance(c, otio.schema.Clip)]
    matched = [(c, _shot_of(c, ids)) for c in clips]
    unknown = [c.name for c, s in matched if s is None]
    if clips and len(unknown) == len(clips):
        raise StudioError(f"no clip of the timeline matches a shot of episode {sb.episode} "
                          f"(first clip: {clips[0].name!r})", file=path, field="clip names",
                          hint="is this timeline from another project or episode? clip "
                               "names must be shot ids, e.g. " + ", ".join(sorted(ids)[:3]))
    if unknown:
        raise StudioError(f"clip {unknown[0]!r} matches no shot of episode {sb.episode}",
                          file=path, field=f"clip {unknown[0]}",
                          hint="rename the clip to its shot id, or remove it")
    seen: dict[str, str] = {}
    for c, sid in matched:
        if sid in seen:
            raise StudioError(f"shot {sid} is used twice (clip {c.name!r}): a clip used "
                              "twice or a split clip cannot be merged", file=path,
                              field=f"clip {c.name}",
                              hint="keep one piece of each shot, or duplicate the shot "
                                   "in the storyboard first")
        seen[sid] = c.name
    new = sb.model_copy(deep=True)
    report = MergeReport(path)
    new_shots = {s.id: s for s in new.shots}
    order = [sid for _, sid in matched]
    old_order = [s.id for s in sb.shots]
    for sid in old_order:
        if sid not in order:
            report.changes.append(f"remove shot {sid}")
    kept_old = [s for s in old_order if s in order]
    if kept_old != order:
        report.changes.append(f"reorder: {' '.join(order)}")
    for c, sid in matched:
        shot = new_shots[sid]
        sr = c.source_range
        if sr is None:
            continue
        tin = round(sr.start_time.to_seconds(), 3)
        dur = round(sr.duration.to_seconds(), 3)
        tout = round(shot.duration_s - tin - dur, 3)
        where = f"clip {c.name}"
        if tin < 0:
            raise StudioError(f"{where}: negative source in ({tin:g}s)", file=path,
                              field=where, hint="the source in must be inside the take")
        if tout < -1.0 / FPS:
            raise StudioError(f"{where}: source out {tin + dur:g}s is beyond the "
                              f"{shot.duration_s:g}s take", file=path, field=where,
                              hint="trim inside the take, or regenerate a longer one")
        tout = max(tout, 0.0)
        if abs(tin - shot.trim_in_s) > 1e-3 or abs(tout - shot.trim_out_s) > 1e-3:
            report.changes.append(f"trim {sid}: in {shot.trim_in_s:g}->{tin:g}s, "
                                  f"out {shot.trim_out_s:g}->{tout:g}s")
            shot.trim_in_s, shot.trim_out_s = tin, tout
    # transitions: the item after each clip
    for i, item in enumerate(items):
        if not isinstance(item, otio.schema.Clip):
            continue
        sid = _shot_of(item, ids)
        nxt = items[i + 1] if i + 1 < len(items) else None
        shot = new_shots[sid]
        if isinstance(nxt, otio.schema.Transition):
            secs = round((nxt.in_offset + nxt.out_offset).to_seconds(), 3)
            meta = nxt.metadata.get("studio") if nxt.metadata else None
            kind = TransitionKind(meta["kind"]) if isinstance(meta, dict) and meta.get(
                "kind") in TransitionKind.__members__ else (
                shot.transition.kind if shot.transition.kind.touches_picture
                else TransitionKind.dissolve)
            tr = Transition(kind=kind, duration_s=secs)
        elif i + 1 < len(items):
            tr = Transition() if shot.transition.kind.touches_picture else shot.transition
        else:
            tr = shot.transition
        if tr.kind != shot.transition.kind or abs(tr.seconds - shot.transition.seconds) > 1e-3:
            report.changes.append(f"transition after {sid}: {shot.transition.kind.value} "
                                  f"{shot.transition.seconds:g}s -> {tr.kind.value} "
                                  f"{tr.seconds:g}s")
            shot.transition = tr
    rank = {sid: n for n, sid in enumerate(order)}
    for act in new.acts:
        act.shots = [s for s in act.shots if s.id in rank]
    # reorder across the whole episode keeping each act's slots in place
    slots = [(a, k) for a in new.acts for k in range(len(a.shots))]
    flat = sorted((s for a in new.acts for s in a.shots), key=lambda s: rank[s.id])
    for (a, k), s in zip(slots, flat, strict=True):
        a.shots[k] = s
    try:
        report.storyboard = Storyboard.model_validate(new.model_dump())
    except ValueError as exc:
        raise StudioError(f"the edited timeline makes an invalid storyboard: {exc}",
                          file=path, hint="shorten the transition or the trim named above"
                          ) from None
    return report


def render_media(render: str | Path, *, episode: str | None = None,
                 project: str | Path | None = None) -> dict[str, Path]:
    """Shot id -> the graded shot file of a render (from its recorded, assembled cut)."""
    from urllib.parse import unquote, urlparse

    from .otio import render_to_otio

    tl = render_to_otio(render, episode=episode, project=project)
    out: dict[str, Path] = {}
    for clip in tl.find_clips():
        meta = clip.metadata.get("studio") or {}
        ref = clip.media_reference
        if meta.get("kind") == "shot" and isinstance(ref, otio.schema.ExternalReference):
            url = ref.target_url
            out[clip.name] = Path(unquote(urlparse(url).path)) if url.startswith(
                "file:") else Path(url)
    return out
