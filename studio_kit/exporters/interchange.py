"""Editor round trip: export an episode's cut as OTIO / CMX 3600 EDL / FCP 7 XML / FCPXML
(Final Cut Pro X) through OTIO's own adapters (``otio-cmx3600-adapter``,
``otio-fcp-adapter``, ``otio-fcpx-xml-adapter``), and import an edited timeline back into
the storyboard.

With a render, each clip points at the shot's current take (the file generated and paid
for) with its real length as the available range and the storyboard's trims as the source
range, so an editor trims, extends (up to the take) and reorders real media; the merge reads
source ranges against the same take lengths (``take_media``).

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
FORMATS = {".otio": "otio_json", ".edl": "cmx_3600", ".xml": "fcp_xml",
           ".fcpxml": "fcpx_xml"}
#: ``studio export-timeline --format`` names -> file suffix
FORMAT_NAMES = {"otio": ".otio", "edl": ".edl", "fcp7": ".xml", "fcpx": ".fcpxml"}
#: formats whose OTIO adapter carries no transitions: the storyboard's are kept on import
NO_TRANSITIONS = {"fcpx_xml"}
#: formats whose adapter may write a neighbour's file on a dissolve event (CMX 3600's
#: ``* FROM CLIP``): their media links only find a clip whose name matches no shot
UNRELIABLE_MEDIA = {"cmx_3600"}


def _adapter(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise StudioError(f"unknown timeline format {path.suffix!r}", file=path,
                          hint="use .otio, .edl (CMX 3600), .xml (FCP 7 XML) or .fcpxml "
                               "(Final Cut Pro X)") from None


def format_suffix(name: str) -> str:
    """``otio`` / ``edl`` / ``fcp7`` / ``fcpx`` -> the file suffix of that format."""
    try:
        return FORMAT_NAMES[name.lower()]
    except KeyError:
        raise StudioError(f"unknown timeline format {name!r}", field="--format",
                          hint="one of: " + ", ".join(FORMAT_NAMES)) from None


def _rt(seconds: float, fps: float = FPS) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(round(seconds * fps), fps)


@dataclass
class TakeMedia:
    """A shot's current take: its file and its real length (the editor's source)."""

    path: Path
    duration_s: float


def take_media(project, episode: str) -> dict[str, TakeMedia]:
    """Shot id -> its current take in the vault (``gates.current_takes``) with the length
    decoded from the file (PyAV frame count / fps); {} before a render."""
    from ..edit.probe import probe
    from ..production.gates import current_takes

    led = project.ledger()
    ep = project.storyboard(episode).episode
    vault = project.vault()
    out: dict[str, TakeMedia] = {}
    for sid, asset in current_takes(led, ep).items():
        path = vault.path(asset)
        if not path.is_file():
            continue
        v = probe(path).video
        secs = v.frames / v.fps if v is not None and v.frames and v.fps else (
            v.duration_s if v is not None else 0.0)
        if secs > 0:
            out[sid] = TakeMedia(path, round(secs, 3))
    return out


def _length(shot, media: dict[str, TakeMedia | Path] | None) -> tuple[Path | None, float]:
    m = (media or {}).get(shot.id)
    if isinstance(m, TakeMedia):
        return m.path, m.duration_s
    return (Path(m) if m else None), shot.duration_s


def storyboard_to_otio(sb: Storyboard, media: dict[str, TakeMedia | Path] | None = None,
                       fps: float = FPS) -> otio.schema.Timeline:
    """The storyboard's cut: one clip per shot (name = shot id), trims as source ranges on
    the take (``TakeMedia``: its real length is the available range; a bare path or no
    media: the storyboard's ``duration_s``)."""
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    shots = sb.shots
    for i, shot in enumerate(shots):
        path, length = _length(shot, media)
        avail = otio.opentime.TimeRange(_rt(0, fps), _rt(length, fps))
        ref = (otio.schema.ExternalReference(target_url=Path(path).resolve().as_uri(),
                                             available_range=avail)
               if path else otio.schema.MissingReference(available_range=avail))
        ref.name = shot.id
        track.append(otio.schema.Clip(
            name=shot.id, media_reference=ref,
            source_range=otio.opentime.TimeRange(
                _rt(shot.trim_in_s, fps),
                _rt(length - shot.trim_in_s - shot.trim_out_s, fps)),
            metadata={"studio": {"shot": shot.id, "episode": sb.episode,
                                 "take_s": length}}))
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


def export_timeline(sb: Storyboard, out: str | Path,
                    media: dict[str, TakeMedia | Path] | None = None) -> Path:
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
    #: what was read but could be taken more than one way, each naming its clip
    ambiguous: list[str] = field(default_factory=list)
    storyboard: Storyboard | None = None

    def text(self) -> str:
        lines = list(self.changes) or ["no changes"]
        return "\n".join(lines + [f"ambiguous: {a}" for a in self.ambiguous])


def _media_file(clip: otio.schema.Clip) -> Path | None:
    from urllib.parse import unquote, urlparse

    ref = clip.media_reference
    url = getattr(ref, "target_url", None) if isinstance(
        ref, otio.schema.ExternalReference) else None
    if not url:
        return None
    return Path(unquote(urlparse(url).path)) if url.startswith("file:") else Path(url)


def _shot_of(clip: otio.schema.Clip, ids: set[str],
             by_file: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """(shot id, how it was matched when not by the clip's own name or metadata)."""
    meta = clip.metadata.get("studio") if clip.metadata else None
    if isinstance(meta, dict) and meta.get("shot") in ids:
        return str(meta["shot"]), None
    name = (clip.name or "").strip()
    if name in ids:
        return name, None
    ref_name = (getattr(clip.media_reference, "name", None) or "").strip()
    if ref_name in ids:
        return ref_name, f"clip {clip.name!r} matched to shot {ref_name} by its media name"
    f = _media_file(clip)
    if f is not None and by_file:
        hit = by_file.get(f.name) or by_file.get(f.stem)
        if hit:
            return hit, f"clip {clip.name!r} matched to shot {hit} by its media file {f.name}"
    return None, None


def merge_timeline(sb: Storyboard, path: str | Path,
                   media: dict[str, TakeMedia] | None = None) -> MergeReport:
    """Apply an edited timeline to a deep copy of ``sb``; raise StudioError on bad input.

    ``media`` (``take_media``): each shot's take and its real length; source ranges are
    read against it (trim out = take length - source in - source duration), and a clip
    renamed by the editor is still found by its media file (reported as ambiguous)."""
    path = Path(path)
    adapter = _adapter(path)
    media = media or {}
    by_file = {m.path.name: sid for sid, m in media.items()}
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
    report = MergeReport(path)
    matched = []
    for c in clips:
        sid, how = _shot_of(c, ids, by_file)
        if how:
            report.ambiguous.append(how)
        f = _media_file(c)
        other = by_file.get(f.name) if f is not None else None
        if sid and other and other != sid and adapter not in UNRELIABLE_MEDIA:
            report.ambiguous.append(
                f"clip {c.name!r} is named after shot {sid} but linked to the take of shot "
                f"{other}: taken as {sid} (relink it if the editor meant {other})")
        matched.append((c, sid))
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
        take_s = media[sid].duration_s if sid in media else shot.duration_s
        tout = round(take_s - tin - dur, 3)
        where = f"clip {c.name}"
        if tin < 0:
            raise StudioError(f"{where}: negative source in ({tin:g}s)", file=path,
                              field=where, hint="the source in must be inside the take")
        if tout < -1.0 / FPS:
            raise StudioError(f"{where}: source out {tin + dur:g}s is beyond the "
                              f"{take_s:g}s take", file=path, field=where,
                              hint="trim inside the take, or regenerate a longer one")
        tout = max(tout, 0.0)
        if abs(tin - shot.trim_in_s) > 1e-3 or abs(tout - shot.trim_out_s) > 1e-3:
            report.changes.append(f"trim {sid}: in {shot.trim_in_s:g}->{tin:g}s, "
                                  f"out {shot.trim_out_s:g}->{tout:g}s")
            shot.trim_in_s, shot.trim_out_s = tin, tout
    # transitions: the item after each clip (a format without them keeps the storyboard's)
    if adapter in NO_TRANSITIONS:
        items = [c for c in items if not isinstance(c, otio.schema.Transition)]
    sid_of = {id(c): sid for c, sid in matched}
    for i, item in enumerate(items):
        if not isinstance(item, otio.schema.Clip):
            continue
        sid = sid_of[id(item)]
        nxt = items[i + 1] if i + 1 < len(items) else None
        shot = new_shots[sid]
        if isinstance(nxt, otio.schema.Transition):
            secs = round((nxt.in_offset + nxt.out_offset).to_seconds(), 3)
            meta = nxt.metadata.get("studio") if nxt.metadata else None
            kind = TransitionKind(meta["kind"]) if isinstance(meta, dict) and meta.get(
                "kind") in TransitionKind.__members__ else (
                shot.transition.kind if shot.transition.kind.touches_picture
                else TransitionKind.dissolve)
            if not (isinstance(meta, dict) and meta.get("kind")) and \
                    kind != TransitionKind.dissolve:
                report.ambiguous.append(
                    f"clip {item.name!r}: the editor's transition {nxt.name or '?'!r} "
                    f"({nxt.transition_type}) read as the storyboard's {kind.value}")
            tr = Transition(kind=kind, duration_s=secs)
        elif adapter in NO_TRANSITIONS:
            tr = shot.transition
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
