"""Assemble a feature from episodes ALREADY rendered: nothing is generated or paid again.

Each episode's master (``<series>/out/episode-NN/render.json`` -> ``master``) becomes one
content-keyed video piece (stream copy, cached in ``<work>/pieces/<key>.mp4``); title,
chapter and credit cards are pieces too. The pieces are joined by stream copy; the sound is
the episodes' mixes joined with crossfades at the seams and mastered ONCE for the whole
feature to the delivery target. Chapters go into the MP4 and into a JSON + WebVTT sidecar.
Everything is written in a temporary folder and renamed into place at the end.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from ..audio.mix import SAMPLE_RATE, integrated_lufs, master, true_peak_dbtp, write_wav
from ..edit.cards import card_key, render_card
from ..edit.encoding import ffmpeg_exe
from ..errors import StudioError
from ..hashing import file_hash, stable_hash
from ..yamlio import atomic_write_text
from .credits import Credits, build_credits
from .model import Feature, check_running_time

CARD_FPS_FRAMES = 2.0  # seconds of the title card
CROSSFADE_S = 0.25


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


def _join_audio(parts: list[np.ndarray]) -> np.ndarray:
    """Butt-joined (the running time stays the picture's) with a short crossfade at seams."""
    fade = int(CROSSFADE_S * SAMPLE_RATE)
    out = np.concatenate(parts) if parts else np.zeros((0, 2))
    pos = 0
    for p in parts[:-1]:
        pos += len(p)
        a, b = max(0, pos - fade // 2), min(len(out), pos + fade // 2)
        if b - a > 2:
            # equal-power blend of the outgoing tail into the incoming head
            tail, head = out[a:pos].copy(), out[pos:b].copy()
            k = min(len(tail), len(head))
            w = np.linspace(0, 1, k)[:, None]
            out[pos - k:pos] = tail[-k:] * np.sqrt(1 - w) + head[:k] * np.sqrt(w)
    return out


def assemble_feature(feature: Feature, root: str | Path, out: str | Path, *,
                     file: str | None = None, progress=None) -> FeatureResult:
    """Build ``out`` (an MP4) from the feature's rendered episodes; see the module doc."""
    import time

    t0 = time.perf_counter()
    root, out = Path(root), Path(out)
    srcs = resolve_sources(feature, root, file)
    total = sum(s.duration_s for s in srcs)
    fps = Fraction(srcs[0].fps).limit_denominator(1001)
    w, h = srcs[0].width, srcs[0].height
    credits = build_credits(feature, srcs)
    cards_s = CARD_FPS_FRAMES * 2 + sum(c.seconds for c in feature.cards)
    check_running_time(feature, total + cards_s, file=file)
    out.parent.mkdir(parents=True, exist_ok=True)
    pieces = out.parent / ".feature-pieces"  # shared by the features written here
    pieces.mkdir(exist_ok=True)
    encoded: list[str] = []
    reused: list[str] = []

    def card(text: str, seconds: float, kind: str) -> tuple[Path, float]:
        frames = max(1, int(round(seconds * fps)))
        key = card_key(text, kind, w, h, fps, frames)
        p = pieces / f"card-{key}.mp4"
        if p.is_file():
            reused.append(p.name)
        else:
            render_card(text, p, width=w, height=h, fps=fps, frames=frames, kind=kind)
            encoded.append(p.name)
        return p, frames / float(fps)

    look_cube: Path | None = None
    ref_stats = None
    if feature.unify_grade:
        from ..edit.grade import identity_lut, measure_clip, write_lut

        look_cube = write_lut(identity_lut(name=f"{feature.id} look"),
                              out.with_suffix(".look.cube"))
        ref_stats = measure_clip(srcs[0].master)

    def episode_piece(s: EpisodeSource) -> Path:
        regrade = look_cube is not None and s.series_dir != srcs[0].series_dir
        key = s.key if not regrade else stable_hash(s.key, file_hash(look_cube),
                                                    ref_stats.model_dump())[:16]
        p = pieces / f"ep-{key}.mp4"
        if p.is_file():
            reused.append(p.name)
            return p
        tmp = p.with_suffix(".part.mp4")
        if regrade:
            from ..edit.encoding import h264_args
            from ..edit.grade import lut3d_filter, measure_clip, read_lut, transfer_lut, write_lut

            cube = write_lut(transfer_lut(measure_clip(s.master), ref_stats,
                                          look=read_lut(look_cube)), pieces / f"{key}.cube")
            _run(["-i", s.master, "-map", "0:v:0", "-an", "-vf", lut3d_filter(cube),
                  *h264_args(fps), str(tmp)], f"grade the picture of {s.master}")
        else:
            _run(["-i", s.master, "-map", "0:v:0", "-c", "copy", "-an", str(tmp)],
                 f"copy the picture of {s.master}")
        tmp.replace(p)
        encoded.append(p.name)
        return p

    seq: list[tuple[Path, float, str | None, str | None]] = []
    p, d = card(feature.title, CARD_FPS_FRAMES, "title_card")
    seq.append((p, d, "Title", None))
    cards_before = {c.before: c for c in feature.cards}
    for i, s in enumerate(srcs):
        if progress:
            progress("assemble", i, len(srcs))
        if i in cards_before:
            c = cards_before[i]
            p, d = card(c.text, c.seconds, "act_card")
            seq.append((p, d, None, None))
        audio = s.mix or s.master
        name = f"{Path(s.series_dir).name} {s.episode}"
        seq.append((episode_piece(s), s.duration_s, name, audio))
    p, d = card(credits.text(), CARD_FPS_FRAMES * 2, "hook_card")
    seq.append((p, d, "End credits", None))

    chapters: list[Chapter] = []
    t = 0.0
    for _p, d, title, _a in seq:
        if title:
            chapters.append(Chapter(title=title, start_s=round(t, 3), end_s=round(t + d, 3)))
        t += d
    # the sound, mastered once for the whole feature; cached by what it is made of
    skey = stable_hash("feature-sound", feature.loudness.model_dump(), CROSSFADE_S,
                       [(file_hash(a)[:16] if a else None, round(d, 6)) for _p, d, _t, a in seq])
    sound = pieces / f"sound-{skey[:16]}.m4a"
    sound_rec = sound.with_suffix(".json")
    if sound.is_file() and sound_rec.is_file():
        loud = json.loads(sound_rec.read_text())
        reused.append(sound.name)
    else:
        parts = [_decode_audio(a, d) if a else np.zeros((int(round(d * SAMPLE_RATE)), 2))
                 for _p, d, _t, a in seq]
        mix = _join_audio(parts)
        curve, _report = master(mix, feature.loudness)
        mastered = mix * curve[:, None]
        with tempfile.TemporaryDirectory(dir=pieces) as stmp:
            wav = write_wav(Path(stmp) / "mix.wav", mastered.astype(np.float32))
            part_s = Path(stmp) / sound.name
            _run(["-i", str(wav), "-c:a", "aac", "-b:a", "192k", str(part_s)],
                 "encode the feature sound")
            part_s.replace(sound)
        loud = {"integrated_lufs": round(integrated_lufs(mastered), 2),
                "true_peak_dbtp": round(true_peak_dbtp(mastered), 2),
                "target_lufs": feature.loudness.lufs}
        atomic_write_text(sound_rec, json.dumps(loud))
        encoded.append(sound.name)

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
                "chapters": [c.model_dump() for c in chapters]}
        sidecar = out.with_suffix(".chapters.json")
        vtt = out.with_suffix(".chapters.vtt")
        atomic_write_text(sidecar, json.dumps(side, indent=2))
        atomic_write_text(vtt, "WEBVTT\n\n" + "".join(
            f"{i + 1}\n{_vtt(c.start_s)} --> {_vtt(c.end_s)}\n{c.title}\n\n"
            for i, c in enumerate(chapters)))
        part.replace(out)
    res = FeatureResult(feature=feature.id, out=str(out), sidecar=str(sidecar), vtt=str(vtt),
                        chapters=chapters, credits=credits, duration_s=round(t, 3),
                        loudness=loud, pieces_encoded=encoded, pieces_reused=reused,
                        seconds=round(time.perf_counter() - t0, 3))
    atomic_write_text(out.with_suffix(".feature.json"), res.model_dump_json(indent=2))
    return res


def _vtt(s: float) -> str:
    ms = int(round(s * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def full_reencode(feature_mp4: str | Path, out: str | Path) -> None:
    """The baseline the bench compares against: the same timeline re-encoded whole."""
    _run(["-i", str(feature_mp4), "-c:v", "libx264", "-c:a", "aac", str(out)], "re-encode")


