"""Cut-downs of a Gate C approved master: a trailer / teaser of a target length from the
episode's strongest shots, and a vertical clip (60 s, or the whole episode when shorter).

How strong a shot is (``shot_strengths``):

- **QC**: the kept take's scores in the ledger (``qc_scores``: the latest row per scorer
  for the take, else for the shot): the fraction of scorers it passed (0..1); the render
  record's verdict when the ledger has none; 0.5 when nothing is known;
- **dialogue hooks**: +0.5 when the shot has a line, +0.5 more when a line is a question or
  an exclamation (a hook), +0.25 in the cold open or the end hook.

``trailer``: the shots by strength, each contributing one piece (at most a third of the
target, at least ``min_piece_s``) from the middle of its clean frames (no transition, no
frame within 3 of a cut); pieces put back in story order and cut together (ffmpeg
``trim``/``concat``, 2-frame audio fades at each join); pieces lengthened when the strongest
shots are short, so the trailer is the target length (shorter only when the episode's clean
shot frames are). ``vertical_clip``: the window of the length, starting at a cut, holding
the most strength (strength x frames), reframed to 9:16 along the episode's crop path.
Both are encoded to the platform's spec (size, VBV ceiling, loudness gain + limiter) with
caption sidecars re-timed to the cut, optionally burned in (``captions_burn``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..errors import StudioError
from .captions_burn import BurnPlan
from .platforms import PlatformSpec, platform
from .reframe import CropPath

#: hook weights (added to the QC pass fraction)
LINE_W, HOOK_W, ACT_W = 0.5, 0.5, 0.25
#: audio fade at each join (frames)
JOIN_FADE_FRAMES = 2


class ShotStrength(BaseModel):
    shot_id: str
    act: str
    qc: float
    hook: float
    score: float
    why: list[str] = Field(default_factory=list)


class CutPiece(BaseModel):
    shot_id: str
    start: int = Field(description="First master frame.")
    end: int = Field(description="One past the last master frame.")


class CutDown(BaseModel):
    kind: Literal["trailer", "vertical"]
    platform: str
    video: str
    width: int
    height: int
    target_s: float
    duration_s: float
    pieces: list[CutPiece]
    strengths: list[ShotStrength] = Field(default_factory=list)
    captions: dict[str, str] = Field(default_factory=dict)
    burned_captions: str | None = None
    record: str = Field("", description="The cut-down's JSON record (pieces, strengths).")


def _qc_fraction(ledger, episode: str, shot_id: str, asset: str) -> float | None:
    rows = ledger.query(
        "SELECT scorer, passed, asset FROM qc_scores WHERE episode=? AND shot_id=? "
        "ORDER BY id", (episode, shot_id))
    if not rows:
        return None
    mine = [r for r in rows if asset and r["asset"] == asset] or rows
    latest = {r["scorer"]: r["passed"] for r in mine}
    return sum(1 for v in latest.values() if v) / len(latest)


def shot_strengths(project, episode: str, render: dict, ledger) -> list[ShotStrength]:
    """Every shot of the render with its strength (QC from the ledger + dialogue hooks)."""
    sb = project.storyboard(episode)
    kinds = {a.id: a.kind.value for a in sb.acts}
    out = []
    for rec in render.get("shots", []):
        sid = rec["shot_id"]
        try:
            shot = sb.shot(sid)
        except KeyError:
            continue
        why = []
        qc = _qc_fraction(ledger, sb.episode, sid, rec.get("asset", ""))
        if qc is None:
            passed = rec.get("qc_passed")
            qc = 0.5 if passed is None else float(bool(passed))
            why.append("qc: render record" if passed is not None else "qc: unknown")
        else:
            why.append(f"qc: {qc:.2f} of scorers passed")
        hook = 0.0
        if shot.dialogue:
            hook += LINE_W
            why.append("dialogue")
            if any(d.text.rstrip().endswith(("?", "!")) for d in shot.dialogue):
                hook += HOOK_W
                why.append("hook line")
        act = rec.get("act", "")
        if kinds.get(act) in ("cold_open", "hook"):
            hook += ACT_W
            why.append(kinds[act])
        out.append(ShotStrength(shot_id=sid, act=act, qc=round(qc, 4), hook=hook,
                                score=round(qc + hook, 4), why=why))
    return out


def clean_ranges(timeline) -> dict[str, tuple[int, int]]:
    """Per shot: its longest run of master frames with no transition and no frame near a
    cut (the frames ``thumbnails.excluded_frames`` leaves)."""
    from ..edit.timeline import ItemKind
    from .reframe import _spans
    from .thumbnails import excluded_frames

    bad = excluded_frames(timeline)
    out: dict[str, tuple[int, int]] = {}
    for span in _spans(timeline):
        if span.item.kind != ItemKind.shot:
            continue
        best = (span.start, span.start)
        run = None
        for n in range(span.start, span.end + 1):
            ok = n < span.end and n not in bad
            if ok and run is None:
                run = n
            elif not ok and run is not None:
                if n - run > best[1] - best[0]:
                    best = (run, n)
                run = None
        if best[1] > best[0]:
            out[span.item.id] = best
    return out


def plan_trailer(strengths: list[ShotStrength], timeline, target_s: float, *,
                 min_piece_s: float = 1.0, max_piece_s: float | None = None
                 ) -> list[CutPiece]:
    """Pieces of the strongest shots adding up to ``target_s`` (in story order)."""
    fps = float(timeline.fps)
    target = int(round(target_s * fps))
    ranges = clean_ranges(timeline)
    most = int(round((max_piece_s if max_piece_s else max(min_piece_s, target_s / 3)) * fps))
    least = max(1, int(round(min_piece_s * fps)))
    ranked = sorted((s for s in strengths if s.shot_id in ranges),
                    key=lambda s: (-s.score, ranges[s.shot_id][0]))
    chosen: dict[str, tuple[int, int]] = {}
    left = target
    for s in ranked:
        if left <= 0:
            break
        a, b = ranges[s.shot_id]
        take = min(most, b - a, left)
        if take < least and take < left:
            continue
        mid = (a + b) // 2
        start = max(a, min(mid - take // 2, b - take))
        chosen[s.shot_id] = (start, start + take)
        left -= take
    for s in ranked:  # lengthen pieces (strongest first) when the target is not reached
        if left <= 0:
            break
        if s.shot_id not in chosen:
            continue
        a, b = ranges[s.shot_id]
        start, end = chosen[s.shot_id]
        grow = min(left, (b - a) - (end - start))
        if grow <= 0:
            continue
        size = end - start + grow
        start = max(a, min(start - grow // 2, b - size))
        chosen[s.shot_id] = (start, start + size)
        left -= grow
    if left > 0:  # clean frames of shots not chosen yet (below min_piece) fill the rest
        for s in ranked:
            if left <= 0:
                break
            if s.shot_id in chosen:
                continue
            a, b = ranges[s.shot_id]
            take = min(b - a, left)
            chosen[s.shot_id] = (a, a + take)
            left -= take
    return sorted((CutPiece(shot_id=k, start=a, end=b) for k, (a, b) in chosen.items()),
                  key=lambda p: p.start)


def plan_vertical(strengths: list[ShotStrength], timeline, length_s: float) -> CutPiece:
    """The window of ``length_s`` starting at a cut that holds the most strength (the
    whole episode when it is no longer)."""
    from .reframe import _spans

    fps = float(timeline.fps)
    total = timeline.total_frames
    length = min(total, int(round(length_s * fps)))
    spans = _spans(timeline)
    if length >= total:
        return CutPiece(shot_id=spans[0].item.id if spans else "", start=0, end=total)
    score = {s.shot_id: s.score for s in strengths}

    def held(a: int) -> float:
        b = a + length
        return sum(score.get(sp.item.id, 0.0) * max(0, min(b, sp.end) - max(a, sp.start))
                   for sp in spans)

    starts = sorted({min(sp.start, total - length) for sp in spans})
    best = max(starts, key=lambda a: (held(a), -a))
    first = next((sp.item.id for sp in spans if sp.end > best), "")
    return CutPiece(shot_id=first, start=best, end=best + length)


def retime_captions(srt_text: str, pieces: list[CutPiece], fps: float):
    """The render's captions on the cut's clock (cues cut at the piece edges)."""
    from .captions_burn import srt_captions

    captions = srt_captions(srt_text)
    out = []
    offset = 0.0
    for p in pieces:
        a, b = p.start / fps, p.end / fps
        for c in captions:
            s, e = max(c.start_s, a), min(c.end_s, b)
            if e - s >= 0.2:
                out.append(c.model_copy(update={"start_s": round(s - a + offset, 3),
                                                "end_s": round(e - a + offset, 3)}))
        offset += b - a
    return out


def _has_audio(master: Path) -> bool:
    import av

    with av.open(str(master)) as c:
        return bool(c.streams.audio)


def render_cut(master: Path, pieces: list[CutPiece], spec: PlatformSpec, dest: Path, *,
               fps: float, gain_db: float = 0.0, path: CropPath | None = None,
               burn: BurnPlan | None = None) -> None:
    """One ffmpeg pass: the pieces trimmed from the master and joined, (moving) crop along
    ``path`` (a crop path over the master), scale, captions, platform encode."""
    from ..edit.frames import run_ffmpeg
    from .captions_burn import burn_images, overlay_graph
    from .deliver import platform_audio_filter, platform_video_args
    from .reframe import sendcmd_script

    if not pieces:
        raise StudioError("nothing to cut: no shot has clean frames", file=master,
                          hint="check the render has shots (not only cards)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    audio = _has_audio(master)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        g = []
        fade = JOIN_FADE_FRAMES / fps
        for i, p in enumerate(pieces):
            g.append(f"[0:v]trim=start_frame={p.start}:end_frame={p.end},"
                     f"setpts=PTS-STARTPTS[v{i}]")
            if audio:
                d = (p.end - p.start) / fps
                g.append(f"[0:a]atrim=start={p.start / fps:.6f}:end={p.end / fps:.6f},"
                         f"asetpts=PTS-STARTPTS,afade=t=in:d={fade:.4f},"
                         f"afade=t=out:st={max(0.0, d - fade):.4f}:d={fade:.4f}[a{i}]")
        ins = "".join(f"[v{i}][a{i}]" if audio else f"[v{i}]" for i in range(len(pieces)))
        g.append(f"{ins}concat=n={len(pieces)}:v=1:a={int(audio)}[cv]" + ("[ca]" if audio else ""))
        vf = []
        if path is not None:
            xs = [path.x[n] for p in pieces for n in range(p.start, p.end)]
            ys = [path.y[n] for p in pieces for n in range(p.start, p.end)]
            cut = path.model_copy(update={"x": xs, "y": ys, "subject": [], "cuts": []})
            cmd = Path(tmp) / "crop.cmd"
            cmd.write_text(sendcmd_script(cut), encoding="utf-8")
            esc = str(cmd).replace("\\", "/").replace(":", "\\:").replace("'", "\\'")
            vf += [f"sendcmd=f='{esc}'", f"crop=w={cut.crop_w}:h={cut.crop_h}:x={xs[0]}"
                   f":y={ys[0]}"]
        vf.append(f"scale={spec.width}:{spec.height}:flags=lanczos,setsar=1,format=yuv420p")
        g.append(f"[cv]{','.join(vf)}[sv]")
        inputs = ["-i", str(master)]
        if burn is not None and burn.cues:
            burn = burn_images(burn, Path(tmp) / "captions")
            g.append(overlay_graph(burn, 1, "sv", "vout"))
            for cue in burn.cues:
                inputs += ["-i", str(cue.image)]
        else:
            g.append("[sv]null[vout]")
        maps = ["-map", "[vout]"]
        if audio:
            g.append(f"[ca]{platform_audio_filter(spec, gain_db)}[aout]")
            maps += ["-map", "[aout]", "-c:a", "aac", "-b:a", "160k", "-ar", "48000"]
        graph = Path(tmp) / "cut.graph"
        graph.write_text(";\n".join(g), encoding="utf-8")
        part = Path(tmp) / dest.name
        run_ffmpeg(["-nostdin", *inputs, "-/filter_complex", str(graph), *maps,
                    *platform_video_args(spec), "-movflags", "+faststart", str(part)],
                   what=f"cut the {spec.name} cut-down", file=master)
        os.replace(part, dest)


def _cut(project, episode: str, out_dir: str | Path, kind: str, platform_name: str,
         target_s: float, planner, burn_captions: str | None, caption_style) -> CutDown:
    from ..edit.captions import to_srt
    from ..project.series_folder import Project
    from ..store.yamlio import atomic_write_text
    from .captions_burn import output_faces, plan_burn
    from .deliver import approved_master, caption_srts, episode_timeline, platform_gain_db, sidecar
    from .reframe import crop_path, crop_size, subject_track

    spec = platform(platform_name)
    proj = project if isinstance(project, Project) else Project.load(project)
    episode = proj.storyboard(episode).episode
    with proj.ledger() as ledger:
        master, render = approved_master(ledger, proj, episode)
        strengths = shot_strengths(proj, episode, render, ledger)
    timeline = episode_timeline(render, master)
    fps = float(timeline.fps)
    pieces = planner(strengths, timeline)
    frames = sum(p.end - p.start for p in pieces)
    if frames / fps > spec.max_duration_s + 1e-6:
        raise StudioError(f"a {target_s:g} s {kind} is longer than {spec.name} allows "
                          f"({spec.max_duration_s:g} s)", field="target_s",
                          hint=f"ask for at most {spec.max_duration_s:g} s")
    cw, ch = crop_size(timeline.width, timeline.height, spec.width, spec.height)
    path = None
    if (cw, ch) != (timeline.width, timeline.height):
        track = subject_track(render, timeline, proj.vault(), master)
        path = crop_path(track, timeline, cw, ch, spec.max_pan)
    out = Path(out_dir) / f"{spec.name}-{kind}"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{master.stem}.{kind}"
    captions: dict[str, str] = {}
    cut_caps = {}
    for lang, src in caption_srts(render).items():
        caps = retime_captions(src.read_text("utf-8"), pieces, fps)
        cut_caps[lang] = caps
        dst = out / f"{stem}.{lang}.{spec.captions}"
        atomic_write_text(dst, sidecar(to_srt(caps), spec.captions, lang, frames / fps))
        captions[lang] = str(dst)
    burn = None
    if burn_captions:
        if burn_captions not in cut_caps:
            raise StudioError(f"the render has no {burn_captions!r} captions to burn in",
                              file=master, field="burn_captions",
                              hint=f"languages: {', '.join(sorted(cut_caps)) or 'none'}")
        subject = (path.subject if path is not None else
                   subject_track(render, timeline, proj.vault(), master))
        faces_master = output_faces(path, subject, timeline.width, timeline.height,
                                    spec.width, spec.height)
        faces = [faces_master[n] for p in pieces for n in range(p.start, p.end)]
        burn = plan_burn(cut_caps[burn_captions], spec.width, spec.height, faces, fps,
                         language=burn_captions, style=caption_style)
    gain = platform_gain_db(spec, render)
    video = out / f"{stem}.mp4"
    render_cut(master, pieces, spec, video, fps=fps, gain_db=gain, path=path, burn=burn)
    result = CutDown(kind=kind, platform=spec.name, video=str(video), width=spec.width,
                     height=spec.height, target_s=target_s,
                     duration_s=round(frames / fps, 3), pieces=pieces,
                     strengths=sorted(strengths, key=lambda s: -s.score), captions=captions,
                     burned_captions=burn_captions or None,
                     record=str(out / f"{stem}.json"))
    atomic_write_text(result.record, json.dumps(result.model_dump(), indent=1))
    return result


def trailer(project, episode: str, out_dir: str | Path, *, target_s: float = 30.0,
            platform_name: str = "youtube", min_piece_s: float = 1.0,
            max_piece_s: float | None = None, burn_captions: str | None = None,
            caption_style=None) -> CutDown:
    """A trailer / teaser of ``target_s`` from the strongest shots (module doc), written to
    ``out_dir/<platform>-trailer/``; Gate C must have approved the master."""
    if target_s <= 0:
        raise StudioError(f"a trailer of {target_s:g} s", field="target_s",
                          hint="give a positive length in seconds, e.g. 30")
    return _cut(project, episode, out_dir, "trailer", platform_name, target_s,
                lambda st, tl: plan_trailer(st, tl, target_s, min_piece_s=min_piece_s,
                                            max_piece_s=max_piece_s),
                burn_captions, caption_style)


def vertical_clip(project, episode: str, out_dir: str | Path, *, length_s: float = 60.0,
                  platform_name: str = "shorts", burn_captions: str | None = None,
                  caption_style=None) -> CutDown:
    """A vertical clip of ``length_s`` (at most the platform's limit; the whole episode
    when it is shorter), reframed along the subject, in ``out_dir/<platform>-vertical/``."""
    spec = platform(platform_name)
    if length_s <= 0:
        raise StudioError(f"a vertical clip of {length_s:g} s", field="length_s",
                          hint="give a positive length in seconds, e.g. 60")
    length = min(length_s, spec.max_duration_s)
    return _cut(project, episode, out_dir, "vertical", platform_name, length,
                lambda st, tl: [plan_vertical(st, tl, length)], burn_captions, caption_style)
