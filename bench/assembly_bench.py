"""Episode assembly speed: smart render vs full re-encode vs moviepy vs pure stream copy.

The same timeline (N shots, a picture transition between every two) assembled in one run:

- **ours (smart render)**: ``studio_kit.edit.assemble`` - stream-copies every frame no
  transition touches, re-encodes only the overlaps, concat demuxer ``-c copy``;
- **ffmpeg xfade filtergraph**: one ffmpeg command chaining ``xfade`` over all inputs, the
  whole episode re-encoded (same H.264 parameters);
- **moviepy**: ``concatenate_videoclips`` with ``CrossFadeIn`` and negative padding,
  written with libx264 (same preset/CRF);
- **ours after a one-shot change**: the same timeline again with one middle shot replaced,
  the transition regions of the first run kept in a piece cache (what a re-render after an
  edit does: only the two regions touching the changed shot are re-encoded);
- **hard cuts**: the same shots with cuts only, via ours and via a plain concat-demuxer
  stream copy (the floor).

Every approach's output frame count is printed next to its time (they must agree).

Run: ``.venv/bin/python -m bench.assembly_bench`` (640x360, 10 shots of 3 s, 1 s dissolves)
or ``.venv/bin/python -m bench.assembly_bench --hd`` (the issue's case: 1920x1080, 8 shots
of 6 s, 7 dissolves). ``--skip-moviepy`` leaves the slowest one out.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from bench import cpu_seconds
from studio_kit.edit.assemble import assemble
from studio_kit.edit.frames import run_ffmpeg
from studio_kit.edit.pieces import DirPieces
from studio_kit.edit.probe import probe
from studio_kit.edit.synth import make_clip
from studio_kit.edit.timeline import ItemKind, Timeline, TimelineItem, TransitionSpec
from studio_kit.models import TransitionKind
from studio_kit.video_encoding import H264_PARAMS, h264_args

# a moving picture (a static one would flatter the full re-encode)
SOURCES = ["testsrc2"]


def timed(fn: Callable[[], Path], runs: int) -> tuple[float, float, int]:
    """Best of ``runs``: wall-clock seconds, CPU seconds (ours + ffmpeg children; fairer on
    a shared machine), and the output's frame count."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(runs):
        t0, c0 = time.perf_counter(), cpu_seconds()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, cpu_seconds() - c0)
    return best, best_cpu, probe(out).video.frames


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hd", action="store_true", help="1920x1080, 8 shots x 6 s, 7 dissolves")
    ap.add_argument("--shots", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--transition", type=float, default=1.0, help="dissolve seconds")
    ap.add_argument("--skip-moviepy", action="store_true")
    ap.add_argument("--runs", type=int, default=3, help="best of N (moviepy: 1 run)")
    ap.add_argument("--keep", type=Path, help="keep outputs in this folder")
    a = ap.parse_args(argv)
    if a.hd:
        a.shots, a.seconds, a.size = 8, 6.0, "1920x1080"
    width, height = (int(x) for x in a.size.split("x"))
    fps = Fraction(24)
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="assembly-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        clips = [make_clip(work / f"shot{n:02d}.mp4", seconds=a.seconds, width=width,
                           height=height, source=SOURCES[n % len(SOURCES)])
                 for n in range(a.shots)]
        frames = round(a.seconds * fps)
        d = round(a.transition * fps)

        def timeline(kind: TransitionKind, n: int) -> Timeline:
            return Timeline(episode="01", width=width, height=height, items=[
                TimelineItem(kind=ItemKind.shot, id=f"s{i}", clip=str(c), frames=frames,
                             transition=TransitionSpec(kind=kind, frames=n))
                for i, c in enumerate(clips)]).layout()

        def ours() -> Path:
            out = work / "ours.mp4"
            shutil.rmtree(work / "ours.work", ignore_errors=True)  # no reuse between runs
            assemble(timeline(TransitionKind.dissolve, d), out, work_dir=work / "ours.work")
            return out

        changed = make_clip(work / "changed.mp4", seconds=a.seconds, width=width,
                            height=height, source="smptebars")

        def ours_edit() -> Path:
            out = work / "ours_edit.mp4"
            cache_dir = work / "pieces"
            shutil.rmtree(cache_dir, ignore_errors=True)
            cache_dir.mkdir()
            cache = DirPieces(cache_dir, ".mp4")
            tl = timeline(TransitionKind.dissolve, d)
            assemble(tl, out, work_dir=work / "edit.work", pieces=cache)
            tl.items[len(tl.items) // 2].clip = str(changed)
            t0, c0 = time.perf_counter(), cpu_seconds()
            assemble(tl, out, work_dir=work / "edit.work", pieces=cache)
            edit_times.append((time.perf_counter() - t0, cpu_seconds() - c0))
            return out

        edit_times: list[tuple[float, float]] = []

        def ours_cuts() -> Path:
            out = work / "ours_cuts.mp4"
            shutil.rmtree(work / "cuts.work", ignore_errors=True)
            assemble(timeline(TransitionKind.cut, 0), out, work_dir=work / "cuts.work")
            return out

        def xfade() -> Path:
            out = work / "xfade.mp4"
            inputs: list[str] = []
            for c in clips:
                inputs += ["-i", str(c)]
            graph, prev, length = [], "0:v", a.seconds
            for i in range(1, len(clips)):
                offset = length - a.transition
                graph.append(f"[{prev}][{i}:v]xfade=transition=fade:duration={a.transition}:"
                             f"offset={offset:.6f}[x{i}]")
                prev, length = f"x{i}", length + a.seconds - a.transition
            run_ffmpeg([*inputs, "-filter_complex", ";".join(graph), "-map", f"[{prev}]",
                        "-an", *h264_args(fps), str(out)], what="xfade")
            return out

        def moviepy() -> Path:
            from moviepy import VideoFileClip, concatenate_videoclips, vfx

            out = work / "moviepy.mp4"
            vc = [VideoFileClip(str(c), audio=False) for c in clips]
            faded = [vc[0]] + [c.with_effects([vfx.CrossFadeIn(a.transition)]) for c in vc[1:]]
            final = concatenate_videoclips(faded, method="compose", padding=-a.transition)
            final.write_videofile(str(out), fps=24, codec="libx264", preset=H264_PARAMS.preset,
                                  audio=False, logger=None,
                                  ffmpeg_params=["-crf", str(H264_PARAMS.crf), "-bf", "0",
                                                 "-pix_fmt", "yuv420p"])
            for c in vc:
                c.close()
            return out

        def concat_copy() -> Path:
            out = work / "concat.mp4"
            listing = work / "list.txt"
            listing.write_text("".join(f"file '{c}'\n" for c in clips))
            run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                        str(out)], what="concat")
            return out

        rows: list[tuple[str, float, float, int]] = []
        for name, fn in [("ours (smart render)", ours),
                         ("ffmpeg xfade filtergraph (full re-encode)", xfade),
                         *([] if a.skip_moviepy else [("moviepy crossfades", moviepy)]),
                         ("ours after a one-shot change (regions cached)", ours_edit),
                         ("ours, hard cuts only", ours_cuts),
                         ("concat demuxer stream copy, hard cuts (floor)", concat_copy)]:
            secs, cpu, n = timed(fn, 1 if fn is moviepy else a.runs)
            if fn is ours_edit:  # time the second (incremental) assembly only
                secs, cpu = min(edit_times)
            rows.append((name, secs, cpu, n))
        base, base_cpu = rows[0][1], rows[0][2]
        floor = rows[-1][1]
        print(f"\n### Assembly: {a.shots} shots x {a.seconds:g} s at {width}x{height} 24 fps, "
              f"{a.shots - 1} dissolves of {a.transition:g} s, libx264 {H264_PARAMS.preset} "
              f"crf {H264_PARAMS.crf}; best of {a.runs} (moviepy: 1 run)\n")
        print("| approach | wall s | wall vs ours | CPU s | CPU vs ours | output frames |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, secs, cpu, n in rows:
            print(f"| {name} | {secs:.2f} | {secs / base:.1f}x | {cpu:.2f} | "
                  f"{cpu / base_cpu:.1f}x | {n} |")
        print(f"\nours on the hard-cut timeline vs plain stream copy: "
              f"{rows[-2][1] / floor:.1f}x the floor")
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
