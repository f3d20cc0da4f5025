"""Assemble a feature from episodes ALREADY rendered: nothing is generated or paid again.

Each episode's master (``<series>/out/episode-NN/render.json`` -> ``master``) becomes one
content-keyed video piece (stream copy) in ``<out folder>/.feature-pieces/``, or, where the
source drops its cold open / end hook / recap, one piece per kept frame range of its
timeline (stream copy from a keyframe, else re-encoded once). Title, chapter, recap and
credit cards are pieces too. The pieces are joined by stream copy. The sound: the
episodes' dialogue/effects/ambience stems cut like the picture, joined with crossfades at
the seams, the music re-scored per feature act (mood arc, crossfades at act changes), all
mastered ONCE for the whole feature to the delivery target. Chapters go into the MP4 and
into a JSON + WebVTT sidecar. Everything is written in a temporary folder and renamed into
place at the end (docs/feature_bay.md).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from ..audio.mix import SAMPLE_RATE
from ..edit.captions import Caption, to_vtt
from ..edit.cards import card_key, render_card
from ..errors import StudioError
from ..models.feature import Feature
from ..progress import ProgressCallback, ProgressEvent
from ..store.cache import FolderCache
from ..store.hashing import file_hash, stable_hash
from ..store.yamlio import atomic_write_text
from ..video_encoding import ffmpeg_exe
from .credits import Credits, build_credits
from .model import check_running_time
from .sound import CROSSFADE_S, MUSIC_CROSSFADE_S, feature_sound  # noqa: F401

CARD_FPS_FRAMES = 2.0  # seconds of the title card


class Chapter(BaseModel):
    title: str
    start_s: float
    end_s: float


class EpisodeSource(BaseModel):
    series_dir: str
    episode: str
    render_json: str
    master: str
    mix: str | None
    duration_s: float
    width: int
    height: int
    fps: float
    key: str


class FeatureResult(BaseModel):
    feature: str
    out: str
    sidecar: str
    vtt: str
    chapters: list[Chapter] = Field(default_factory=list)
    credits: Credits
    duration_s: float
    loudness: dict[str, float] = Field(default_factory=dict)
    pieces_encoded: list[str] = Field(default_factory=list)
    pieces_reused: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    kept: dict[str, list[list[int]]] = Field(default_factory=dict, description=(
        "Per episode, the master's frame ranges [a, b) kept once its drops are applied."))
    music_arc: list[dict] = Field(default_factory=list, description=(
        "The feature's acts on its timeline and the mood each is scored with."))


def _source(series_dir: Path, episode: str, render: str | None, file: str | None) -> EpisodeSource:
    out = Path(render) if render else series_dir / "out"
    if not out.is_absolute():
        out = series_dir / out
    rec = out / f"episode-{episode}" / "render.json"
    if not rec.is_file():
        raise StudioError(f"episode {episode} of {series_dir.name} is not rendered "
                          f"(no {rec})", file=file, field="sources",
                          hint=f"render it first: studio render {series_dir} {episode}")
    data = json.loads(rec.read_text())
    m = data.get("master")
    if not m or not Path(m).is_file():
        raise StudioError(f"the render of episode {episode} has no master file", file=str(rec),
                          field="master", hint="render the episode again")
    fmt = data["format"]
    return EpisodeSource(series_dir=str(series_dir), episode=episode, render_json=str(rec),
                         master=m, mix=data.get("mix"), duration_s=float(data["duration_s"]),
                         width=fmt["width"], height=fmt["height"], fps=float(fmt["fpsa"]
                         if "fpsa" in fmt else fmt["fps"]), key=file_hash(m)[:16])


def resolve_sources(feature: Feature, root: Path, file: str | None = None) -> list[EpisodeSource]:
    """The rendered episodes the feature draws on; one frame size and rate, or an error."""
    srcs = [_source((root / s.series).resolve(), s.episode, s.render, file)
            for s in feature.sources]
    first = srcs[0]
    for s, spec in zip(srcs[1:], feature.sources[1:], strict=True):
        if (s.width, s.height) != (first.width, first.height) or s.fps != first.fps:
            raise StudioError(
                f"{spec.series} episode {spec.episode} is {s.width}x{s.height} at {s.fps:g} "
                f"fps; the feature is {first.width}x{first.height} at {first.fps:g} fps",
                file=file, field="sources",
                hint="render every episode at the same size and frame rate")
    return srcs


def _run(args: list[str], what: str) -> None:
    proc = subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", *args],
                          capture_output=True, text=True)
    if proc.returncode:
        raise StudioError(f"ffmpeg could not {what}: {proc.stderr.strip()[-400:]}",
                          hint="check the episode's master file")


def _decode_audio(path: str, seconds: float) -> np.ndarray:
    proc = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", path, "-map", "0:a:0",
                           "-f", "f32le", "-ac", "2", "-ar", str(SAMPLE_RATE), "-"],
                          capture_output=True, check=True)
    x = np.frombuffer(proc.stdout, dtype=np.float32).reshape(-1, 2).astype(np.float64)
    n = int(round(seconds * SAMPLE_RATE))
    return np.pad(x, ((0, max(0, n - len(x))), (0, 0)))[:n]


RECAP_SHOT_S = 1.0   # seconds of each earlier shot in a recap
RECAP_SHOTS = 3      # shots of earlier episodes in a recap, at most


class _Cut(BaseModel):
    """Frames [a, b) of an episode master and of its sound, in the feature."""

    source: int
    a: int
    b: int


def _timeline_items(s: EpisodeSource) -> list[dict]:
    data = json.loads(Path(s.render_json).read_text())
    tl = data.get("timeline")
    if not tl or not Path(tl).is_file():
        return []
    return json.loads(Path(tl).read_text()).get("items", [])


def _dropped_acts(s: EpisodeSource, drops: set[str]) -> set[str]:
    """The episode's act ids that ``drops`` names: cold opens, end hooks, recaps (an act
    whose id or title says recap / previously)."""
    from ..project.series_folder import Project

    proj = Project.load(s.series_dir, check_references=False)
    out: set[str] = set()
    for act in proj.storyboard(s.episode).acts:
        words = f"{act.id} {act.title}".lower()
        if ("cold_open" in drops and act.kind.value == "cold_open") or \
                ("end_hook" in drops and act.kind.value == "hook") or \
                ("recap" in drops and ("recap" in words or "previously" in words)):
            out.add(act.id)
    return out


def kept_ranges(s: EpisodeSource, drops: list[str], frames: int) -> list[tuple[int, int]]:
    """The frame ranges of the episode master that stay once ``drops`` is applied (from the
    episode's timeline: record frames of its shots and cards; overlaps keep the kept side).
    The end hook's card goes with the end hook."""
    drops_s = {str(getattr(d, "value", d)) for d in drops}
    if not drops_s:
        return [(0, frames)]
    items = _timeline_items(s)
    if not items:
        raise StudioError(f"episode {s.episode} of {Path(s.series_dir).name} has no timeline "
                          "record: its drops cannot be applied", file=s.render_json,
                          field="timeline", hint="render the episode again")
    acts = _dropped_acts(s, drops_s)
    keep: list[tuple[int, int]] = []
    for it in items:
        gone = (it.get("kind") == "shot" and it.get("act") in acts) or \
            ("end_hook" in drops_s and it.get("kind") == "hook_card")
        if not gone:
            keep.append((int(it["record_start"]), min(frames, int(it["record_end"]))))
    keep.sort()
    merged: list[tuple[int, int]] = []
    for a, b in keep:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        elif b > a:
            merged.append((a, b))
    return merged


def _keyframes(path: str) -> set[int]:
    import av

    with av.open(path) as c:
        return {i for i, p in enumerate(c.demux(c.streams.video[0]))
                if p.size and p.is_keyframe}


def episode_mood(s: EpisodeSource, ranges: list[tuple[int, int]]) -> str | None:
    """The episode's music mood in a feature: the mood (``audio.music.act_mood``) of the
    episode act that runs longest in ``ranges``, the master's frames the feature keeps
    (``kept_ranges``: its drops applied), from the episode's timeline record; the first
    such act on the timeline on a tie; None without a timeline record or when that act's
    mood says nothing. The one rule: the export scores it, the Feature Bay previews it."""
    from ..audio.music import act_mood
    from ..project.series_folder import Project

    items = [i for i in _timeline_items(s) if i.get("kind") == "shot"]
    if not items:
        return None
    length: dict[str, int] = {}
    for it in items:
        a, b = int(it["record_start"]), int(it["record_end"])
        n = sum(max(0, min(b, y) - max(a, x)) for x, y in ranges)
        length[it.get("act") or ""] = length.get(it.get("act") or "", 0) + n
    proj = Project.load(s.series_dir, check_references=False)
    acts = {a.id: a for a in proj.storyboard(s.episode).acts}
    best = max(length, key=length.get)
    return act_mood(acts[best], proj.scenes) if best in acts else None


def assemble_feature(feature: Feature, root: str | Path, out: str | Path, *,
                     file: str | None = None,
                     progress: ProgressCallback | None = None) -> FeatureResult:
    """Build ``out`` (an MP4) from the feature's rendered episodes; see the module doc.

    ``progress``: ``progress`` events of the stages ``pictures`` (per source), ``credits``
    and ``sound`` (subject: the feature's id), each from 0 to 1, in that order."""
    import time

    def say(stage: str, f: float) -> None:
        if progress is not None:
            progress(ProgressEvent(stage, feature.id, "progress", f))

    t0 = time.perf_counter()
    root, out = Path(root), Path(out)
    srcs = resolve_sources(feature, root, file)
    fps = Fraction(srcs[0].fps).limit_denominator(1001)
    w, h = srcs[0].width, srcs[0].height
    frames_of = [int(round(s.duration_s * fps)) for s in srcs]
    ranges = [kept_ranges(s, spec.drop, n)
              for s, spec, n in zip(srcs, feature.sources, frames_of, strict=True)]
    recap_at = _recap_points(feature) if feature.recaps else []
    recap_cuts = {i: _recap_cuts(i, ranges, float(fps)) for i in recap_at}
    total = (sum(b - a for rs in ranges for a, b in rs)
             + sum(c.b - c.a for cs in recap_cuts.values() for c in cs)) / float(fps)
    credits = build_credits(feature, srcs)
    cards_s = CARD_FPS_FRAMES * 3 + sum(c.seconds for c in feature.cards)  # title + credits
    check_running_time(feature, total + cards_s, file=file)
    out.parent.mkdir(parents=True, exist_ok=True)
    pieces = out.parent / ".feature-pieces"  # shared by the features written here
    pieces.mkdir(exist_ok=True)
    encoded: list[str] = []
    reused: list[str] = []
    # the pieces are folder caches (store.cache.FolderCache: counts, a forcing() scope)
    cards = FolderCache(pieces, "feature-card", prefix="card-", suffix=".mp4")
    ep_pieces = FolderCache(pieces, "feature-episode-piece", prefix="ep-", suffix=".mp4")
    recaps = FolderCache(pieces, "feature-recap", prefix="recap-", suffix=".mp4")

    def card(text: str, seconds: float, kind: str) -> tuple[Path, float]:
        frames = max(1, int(round(seconds * fps)))
        key = card_key(text, kind, w, h, fps, frames)
        p = cards.get(key)
        if p is not None:
            reused.append(p.name)
        else:
            tmp = cards.part(key)
            render_card(text, tmp, width=w, height=h, fps=fps, frames=frames, kind=kind)
            p = cards.publish(key, tmp)
            encoded.append(p.name)
        return p, frames / float(fps)

    look_cube: Path | None = None
    ref_stats = None
    if feature.unify_grade:
        from ..edit.grade import identity_lut, measure_clip, write_lut

        look_cube = write_lut(identity_lut(name=f"{feature.id} look"),
                              out.with_suffix(".look.cube"))
        ref_stats = measure_clip(srcs[0].master)
    keyframes: dict[int, set[int]] = {}

    def episode_piece(i: int, a: int, b: int) -> Path:
        """Frames [a, b) of source i's picture: a stream copy when a is a keyframe (and
        no re-grade), else re-encoded once; content-keyed either way."""
        s = srcs[i]
        regrade = look_cube is not None and s.series_dir != srcs[0].series_dir
        whole = (a, b) == (0, frames_of[i])
        key = s.key if whole else stable_hash(s.key, a, b, "cut-2")[:16]
        if regrade:
            key = stable_hash(key, file_hash(look_cube), ref_stats.model_dump())[:16]
        hit = ep_pieces.get(key)
        if hit is not None:
            reused.append(hit.name)
            return hit
        tmp = ep_pieces.part(key)
        from ..video_encoding import h264_args

        trim = "" if whole else f"trim=start_frame={a}:end_frame={b},setpts=PTS-STARTPTS"
        if regrade:
            from ..edit.grade import lut3d_filter, measure_clip, read_lut, transfer_lut, write_lut

            cube = write_lut(transfer_lut(measure_clip(s.master), ref_stats,
                                          look=read_lut(look_cube)), pieces / f"{key}.cube")
            vf = ",".join(x for x in (trim, lut3d_filter(cube)) if x)
            _run(["-i", s.master, "-map", "0:v:0", "-an", "-vf", vf, *h264_args(fps),
                  str(tmp)], f"grade the picture of {s.master}")
        elif whole:
            _run(["-i", s.master, "-map", "0:v:0", "-c", "copy", "-an", str(tmp)],
                 f"copy the picture of {s.master}")
        else:
            if i not in keyframes:
                keyframes[i] = _keyframes(s.master)
            if a in keyframes[i]:  # a cut on a keyframe: stream copy (timestamps from 0)
                seek = ["-ss", f"{(a + 0.5) / float(fps):.6f}"] if a else []
                _run([*seek, "-i", s.master, "-map", "0:v:0", "-frames:v", str(b - a),
                      "-c", "copy", "-an", "-avoid_negative_ts", "make_zero", str(tmp)],
                     f"cut the picture of {s.master}")
            else:
                _run(["-i", s.master, "-map", "0:v:0", "-an", "-vf", trim, *h264_args(fps),
                      str(tmp)], f"cut the picture of {s.master}")
        p = ep_pieces.publish(key, tmp)
        encoded.append(p.name)
        return p

    def recap_piece(cuts: list[_Cut]) -> Path:
        from ..video_encoding import h264_args

        key = stable_hash("recap", [(srcs[c.source].key, c.a, c.b) for c in cuts])[:16]
        hit = recaps.get(key)
        if hit is not None:
            reused.append(hit.name)
            return hit
        args: list[str] = []
        for c in cuts:
            args += ["-i", srcs[c.source].master]
        graph = ";".join(f"[{k}:v:0]trim=start_frame={c.a}:end_frame={c.b},"
                         f"setpts=PTS-STARTPTS[v{k}]" for k, c in enumerate(cuts))
        graph += ";" + "".join(f"[v{k}]" for k in range(len(cuts))) + \
            f"concat=n={len(cuts)}:v=1:a=0[v]"
        tmp = recaps.part(key)
        _run([*args, "-filter_complex", graph, "-map", "[v]", *h264_args(fps), str(tmp)],
             "build the recap")
        p = recaps.publish(key, tmp)
        encoded.append(p.name)
        return p

    # seq: (piece, seconds, chapter title, sound cuts, feature act, mood)
    seq: list[tuple[Path, float, str | None, list[_Cut], int, str | None]] = []
    act_mood_of: dict[int, str | None] = {}
    for spec in feature.sources:
        if spec.act not in act_mood_of or (act_mood_of[spec.act] is None and spec.mood):
            act_mood_of[spec.act] = spec.mood
    for i, spec in enumerate(feature.sources):
        if act_mood_of.get(spec.act) is None:
            act_mood_of[spec.act] = episode_mood(srcs[i], ranges[i])
    first_act = feature.sources[0].act
    p, d = card(feature.title, CARD_FPS_FRAMES, "title_card")
    seq.append((p, d, "Title", [], first_act, None))
    cards_before = {c.before: c for c in feature.cards}
    say("pictures", 0.0)
    for i, s in enumerate(srcs):
        act = feature.sources[i].act
        if i:
            say("pictures", i / len(srcs))
        if i in cards_before:
            c = cards_before[i]
            p, d = card(c.text, c.seconds, "act_card")
            seq.append((p, d, None, [], act, None))
        if recap_cuts.get(i):
            cuts = recap_cuts[i]
            seq.append((recap_piece(cuts), sum(c.b - c.a for c in cuts) / float(fps), "Recap",
                        cuts, act, None))
        name = f"{Path(s.series_dir).name} {s.episode}"
        for k, (a, b) in enumerate(ranges[i]):
            seq.append((episode_piece(i, a, b), (b - a) / float(fps), name if k == 0 else None,
                        [_Cut(source=i, a=a, b=b)], act, None))
    say("pictures", 1.0)
    say("credits", 0.0)
    p, d = card(credits.text(), CARD_FPS_FRAMES * 2, "hook_card")
    seq.append((p, d, "End credits", [], feature.sources[-1].act, None))
    say("credits", 1.0)

    chapters: list[Chapter] = []
    t = 0.0
    for _p, d, title, *_rest in seq:
        if title:
            chapters.append(Chapter(title=title, start_s=round(t, 3), end_s=round(t + d, 3)))
        elif chapters and _rest[0]:  # the rest of an episode cut by its drops
            chapters[-1] = chapters[-1].model_copy(update={"end_s": round(t + d, 3)})
        t += d
    # feature acts on the timeline -> the music's mood arc
    arc: list[tuple[str, str | None, float, float]] = []
    t = 0.0
    for _p, d, _t, _c, act, _m in seq:
        if arc and arc[-1][0] == f"act-{act}":
            arc[-1] = (arc[-1][0], arc[-1][1], arc[-1][2], t + d)
        else:
            arc.append((f"act-{act}", act_mood_of.get(act), t, t + d))
        t += d
    say("sound", 0.0)
    sound, loud = feature_sound(feature, srcs, seq, arc, float(fps), pieces, encoded, reused,
                                progress=lambda f: say("sound", f))
    say("sound", 1.0)

    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}.") as tmpd:
        tmp = Path(tmpd)
        lst = tmp / "pieces.txt"
        lst.write_text("".join(f"file '{p.resolve()}'\n" for p, *_ in seq))
        meta = tmp / "chapters.txt"
        meta.write_text(";FFMETADATA1\ntitle=" + feature.title + "\n" + "".join(
            f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={int(c.start_s * 1000)}\n"
            f"END={int(c.end_s * 1000)}\ntitle={c.title}\n" for c in chapters))
        part = tmp / out.name
        _run(["-f", "concat", "-safe", "0", "-i", str(lst), "-i", str(sound), "-i", str(meta),
              "-map", "0:v:0", "-map", "1:a:0", "-map_metadata", "2", "-map_chapters", "2",
              "-c", "copy", "-movflags", "+faststart",
              str(part)], "join the feature")
        side = {"feature": feature.id, "title": feature.title,
                "chapters": [c.model_dump() for c in chapters],
                "music_arc": [{"act": a, "mood": m, "start_s": round(x, 3), "end_s": round(y, 3)}
                              for a, m, x, y in arc]}
        sidecar = out.with_suffix(".chapters.json")
        vtt = out.with_suffix(".chapters.vtt")
        atomic_write_text(sidecar, json.dumps(side, indent=2))
        atomic_write_text(vtt, to_vtt([Caption(start_s=c.start_s, end_s=c.end_s,
                                               lines=[c.title]) for c in chapters], None))
        part.replace(out)
    res = FeatureResult(feature=feature.id, out=str(out), sidecar=str(sidecar), vtt=str(vtt),
                        chapters=chapters, credits=credits, duration_s=round(t, 3),
                        loudness=loud, pieces_encoded=encoded, pieces_reused=reused,
                        seconds=round(time.perf_counter() - t0, 3),
                        kept={f"{Path(s.series_dir).name} {s.episode}": [list(r) for r in rs]
                              for s, rs in zip(srcs, ranges, strict=True)},
                        music_arc=[{"act": a, "mood": m or "neutral", "start_s": round(x, 3),
                                    "end_s": round(y, 3)} for a, m, x, y in arc])
    atomic_write_text(out.with_suffix(".feature.json"), res.model_dump_json(indent=2))
    return res


def _recap_points(feature: Feature) -> list[int]:
    """A recap opens every feature act after the first (at its first source)."""
    out, seen = [], {feature.sources[0].act}
    for i, s in enumerate(feature.sources):
        if s.act not in seen:
            seen.add(s.act)
            out.append(i)
    return out


def _recap_cuts(i: int, ranges: list[list[tuple[int, int]]], fps: float = 24.0) -> list[_Cut]:
    """The last RECAP_SHOT_S of the kept picture of up to RECAP_SHOTS earlier sources."""
    cuts = []
    n = int(round(RECAP_SHOT_S * fps))
    for j in range(max(0, i - RECAP_SHOTS), i):
        if ranges[j]:
            a, b = ranges[j][-1]
            cuts.append(_Cut(source=j, a=max(a, b - n), b=b))
    return cuts


def full_reencode(feature_mp4: str | Path, out: str | Path) -> None:
    """The baseline the bench compares against: the same timeline re-encoded whole."""
    _run(["-i", str(feature_mp4), "-c:v", "libx264", "-c:a", "aac", str(out)], "re-encode")


