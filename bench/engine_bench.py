"""Local engine benchmark: render throughput, real-time factor on 1 and 2 cores, memory
against shot length, preview latency, and streaming-to-ffmpeg against the usual
alternatives (PNG frames then encode; moviepy ImageSequenceClip), in one run.

    .venv/bin/python -m bench.engine_bench            # default run (a few minutes)
    .venv/bin/python -m bench.engine_bench --quick    # smaller, for a smoke test

Each case runs in its own subprocess so peak memory (ru_maxrss) and CPU affinity are
per case. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from bench import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "lighthouse"
SHOT = "s03-lamp-wide"  # dolly in: the camera moves every frame (no background cache)


def _request(width: int, height: int, seconds: float, shot: str = SHOT):
    """The sample shot's request; also warms imports (colour-science) outside timings."""
    from studio_kit.engines.base import EngineRequest, RenderFormat
    from studio_kit.engines.local import validate_request
    from studio_kit.project.series_folder import Project

    spec = Project.load(SAMPLE).resolve_shot("01", shot)
    req = EngineRequest(spec=spec, format=RenderFormat(width=width, height=height, fps=24.0),
                        duration_s=seconds)
    validate_request(req)
    return req


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- worker cases (run in a subprocess) --------------------------------------------------
def case_render(width: int, height: int, frames: int, shot: str = SHOT) -> dict:
    from studio_kit.engines.local import Renderer

    r = Renderer(_request(width, height, frames / 24.0, shot))
    r.frame(0.0)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(frames):
        r.frame(i / 24.0)
    return {"fps_wall": frames / (time.perf_counter() - t0),
            "fps_cpu": frames / (time.process_time() - c0)}


def case_stream(width: int, height: int, seconds: float, cores: int,
                baseline: bool = False) -> dict:
    """Render + encode through ffmpeg's stdin; the process and ffmpeg pinned to cores.

    ``baseline``: the previous encoder settings (plain ``veryfast``, x264 threads left to
    ffmpeg / set to the core count) instead of LOCAL_H264, same renderer.
    """
    from studio_kit.engines.local import LocalEngine, Renderer, encode_stream
    from studio_kit.engines.local.encode import BASELINE_PARAMS
    from studio_kit.store.vault import Vault

    os.sched_setaffinity(0, set(range(cores)))
    req = _request(width, height, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        eng = LocalEngine()
        eng.check(req)  # warm: imports, colour-science
        c0 = time.process_time()
        ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        if baseline:
            r = Renderer(req)
            n = encode_stream((r.frame(i / r.fps) for i in range(r.n_frames)),
                              Path(tmp) / "base.mp4", req.format,
                              params=[*BASELINE_PARAMS, "-threads", str(cores)])
        else:
            n = eng.render(req, Vault(Path(tmp) / "v"), threads=cores).metadata["frames"]
        dt = time.perf_counter() - t0
        ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_py = time.process_time() - c0
        cpu_ff = (ch1.ru_utime + ch1.ru_stime) - (ch0.ru_utime + ch0.ru_stime)
    return {"fps": n / dt, "realtime": (n / 24.0) / dt, "peak_mb": _peak_mb(), "frames": n,
            "cpu_render_s": cpu_py, "cpu_ffmpeg_s": cpu_ff, "cpu_s": cpu_py + cpu_ff,
            "realtime_per_core_cpu": (n / 24.0) / (cpu_py + cpu_ff)}


def case_quality(width: int, height: int, seconds: float) -> dict:
    """PSNR (Y, whole frame, vs the rendered RGB) and size: baseline vs ours."""
    from studio_kit.engines.local import encode_stream, render_frames
    from studio_kit.engines.local.encode import BASELINE_PARAMS, ffmpeg_exe

    req = _request(width, height, seconds)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "frames.rgb"
        with raw.open("wb") as fh:
            for fr in render_frames(req):
                fh.write(fr.tobytes())
        for name, params in (("baseline", BASELINE_PARAMS), ("ours", None)):
            clip = Path(tmp) / f"{name}.mp4"
            frames = (np.frombuffer(raw.read_bytes(), np.uint8)
                      .reshape(-1, height, width, 3))
            encode_stream(iter(frames), clip, req.format, params=params)
            p = subprocess.run(
                [ffmpeg_exe(), "-hide_banner", "-i", str(clip), "-f", "rawvideo",
                 "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", "24", "-i", str(raw),
                 "-lavfi", "[0:v]scale=in_color_matrix=bt709:in_range=tv,format=rgb24[a];"
                 "[a][1:v]psnr", "-f", "null", "-"], capture_output=True, text=True)
            line = [ln for ln in p.stderr.splitlines() if "PSNR" in ln][-1]
            out[name] = {"psnr": float(line.split("average:")[1].split()[0]),
                         "kbytes": clip.stat().st_size / 1024}
    return out


def case_png_then_encode(width: int, height: int, seconds: float) -> dict:
    from PIL import Image

    from studio_kit.engines.local import encode_args, render_frames
    from studio_kit.engines.local.encode import ffmpeg_exe

    req = _request(width, height, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        n = 0
        for i, fr in enumerate(render_frames(req)):
            Image.fromarray(fr).save(f"{tmp}/f{i:05d}.png", compress_level=1)
            n += 1
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-framerate", "24", "-i",
                        f"{tmp}/f%05d.png", *encode_args(req.format), f"{tmp}/out.mp4"],
                       check=True)
        dt = time.perf_counter() - t0
    return {"fps": n / dt, "realtime": (n / 24.0) / dt, "peak_mb": _peak_mb(), "frames": n,
            "cpu_s": cpu_seconds() - c0}


def case_moviepy(width: int, height: int, seconds: float) -> dict:
    from moviepy import ImageSequenceClip

    from studio_kit.engines.local import render_frames

    req = _request(width, height, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        frames = list(render_frames(req))  # moviepy's ImageSequenceClip wants them all
        clip = ImageSequenceClip(frames, fps=24)
        clip.write_videofile(f"{tmp}/out.mp4", codec="libx264", preset="veryfast",
                             audio=False, logger=None)
        dt = time.perf_counter() - t0
    return {"fps": len(frames) / dt, "realtime": (len(frames) / 24.0) / dt,
            "peak_mb": _peak_mb(), "frames": len(frames), "cpu_s": cpu_seconds() - c0}


def case_preview() -> dict:
    from studio_kit.engines.local import preview_frame, scene_preview_spec
    from studio_kit.project.series_folder import Project

    p = Project.load(SAMPLE)
    out = {}
    t0 = time.perf_counter()
    preview_frame(scene_preview_spec(p, "lamp_room"))
    out["cold_s"] = time.perf_counter() - t0
    for sid in sorted(p.scenes):
        spec = scene_preview_spec(p, sid)
        times = []
        for k in range(7):
            t0 = time.perf_counter()
            preview_frame(spec, overrides={"lighting.fill_ratio": 2 + k})
            times.append(time.perf_counter() - t0)
        out[sid] = statistics.median(times)
    shot = Project.load(SAMPLE).resolve_shot("01", "s05-lamp-theo")
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        preview_frame(shot, 1.0)
        times.append(time.perf_counter() - t0)
    out["shot s05-lamp-theo"] = statistics.median(times)
    return out


CASES = {"render": case_render, "stream": case_stream, "quality": case_quality, "png": case_png_then_encode,
         "moviepy": case_moviepy, "preview": case_preview}


def run(case: str, **kw) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-W", "ignore", "-m", "bench.engine_bench",
                          "--worker", json.dumps({"case": case, **kw})],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{case} {kw} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker")
    args = ap.parse_args()
    if args.worker:
        warnings.simplefilter("ignore")
        spec = json.loads(args.worker)
        print(json.dumps(CASES[spec.pop("case")](**spec)))
        return
    quick = args.quick
    secs = 2.0 if quick else 4.0
    reps = 1 if quick else 3
    print(f"# Local engine benchmark ({os.cpu_count()} cores, shot {SHOT}, 24 fps)\n")

    print("## Render only (no encode), one process\n")
    print("| size | shot | frames/s (wall) | frames/s (CPU time) |")
    print("|---|---|---|---|")
    for w, h in ([(640, 360), (1280, 720)] if quick else
                 [(640, 360), (1280, 720), (1920, 1080)]):
        for shot in (SHOT, "s04-lamp-mara"):
            r = run("render", width=w, height=h, frames=24 if quick else 48, shot=shot)
            print(f"| {w}x{h} | {shot} | {r['fps_wall']:.1f} | {r['fps_cpu']:.1f} |")

    print("\n## Render + H.264 encode streamed to ffmpeg (clip in the vault)\n")
    print("Wall-clock figures depend on what else the machine runs; the CPU-time column "
          "(video seconds per CPU second, render + ffmpeg) does not.\n")
    print("`baseline` = the previous encoder settings (plain veryfast, x264 threads = cores); "
          "`ours` = LOCAL_H264 (veryfast + subme=1:me=dia:aq-mode=0, 1 x264 thread). "
          "ms/frame are CPU milliseconds per frame (render / ffmpeg); the last column is "
          "the CPU-time ratio baseline / ours; each row is the lowest-CPU of "
          f"{reps} alternating run(s).\n")
    print("| size | cores | encoder | frames/s (wall) | x real time (wall) | "
          "CPU ms/frame render / ffmpeg | x real time per core (CPU) | peak RSS (MB) | "
          "CPU speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for w, h in ([(1280, 720)] if quick else [(1280, 720), (1920, 1080)]):
        for cores in (1, 2):
            # alternate the two, keep each one's lowest-CPU run: on a shared machine CPU
            # time still inflates with contention, and load drifts between runs
            best: dict[str, dict] = {}
            for _ in range(reps):
                for name in ("baseline", "ours"):
                    r = run("stream", width=w, height=h, seconds=secs, cores=cores,
                            baseline=name == "baseline")
                    if name not in best or r["cpu_s"] < best[name]["cpu_s"]:
                        best[name] = r
            rows = list(best.items())
            base_cpu = rows[0][1]["cpu_s"]
            for name, r in rows:
                n = r["frames"]
                print(f"| {w}x{h} | {cores} | {name} | {r['fps']:.1f} | {r['realtime']:.2f} | "
                      f"{1000 * r['cpu_render_s'] / n:.1f} / {1000 * r['cpu_ffmpeg_s'] / n:.1f} "
                      f"| {r['realtime_per_core_cpu']:.2f} | {r['peak_mb']:.0f} | "
                      f"{base_cpu / r['cpu_s']:.2f}x |")

    q = run("quality", width=1280, height=720, seconds=secs)
    print(f"\nEncode quality at 1280x720 ({secs:g} s, PSNR of the decoded RGB against the "
          "rendered frames, both encoders):\n")
    print("| encoder | PSNR (dB) | size (KB) |")
    print("|---|---|---|")
    for name, r in q.items():
        print(f"| {name} | {r['psnr']:.2f} | {r['kbytes']:.0f} |")

    print("\n## Memory against shot length (640x360, streamed vs moviepy's frame list)\n")
    print("| seconds | frames | streamed peak RSS (MB) | moviepy peak RSS (MB) |")
    print("|---|---|---|---|")
    for s in ([1.0, 4.0] if quick else [2.0, 8.0, 24.0]):
        a = run("stream", width=640, height=360, seconds=s, cores=2)
        m = run("moviepy", width=640, height=360, seconds=s)
        print(f"| {s:g} | {a['frames']} | {a['peak_mb']:.0f} | {m['peak_mb']:.0f} |")

    print(f"\n## Ways to get frames into an MP4 (640x360, {secs:g} s, 2 cores)\n")
    print("| approach | frames/s (wall) | x real time (wall) | CPU s | peak RSS (MB) | "
          "CPU vs streamed |")
    print("|---|---|---|---|---|---|")
    base = run("stream", width=640, height=360, seconds=secs, cores=2)
    rows = [("stream to ffmpeg stdin (ours)", base),
            ("PNG frames, then ffmpeg", run("png", width=640, height=360, seconds=secs)),
            ("moviepy ImageSequenceClip", run("moviepy", width=640, height=360, seconds=secs))]
    for name, r in rows:
        print(f"| {name} | {r['fps']:.1f} | {r['realtime']:.2f} | {r['cpu_s']:.2f} | "
              f"{r['peak_mb']:.0f} | {r['cpu_s'] / base['cpu_s']:.2f}x |")

    print("\n## Single-frame preview latency (640x360, median of 7)\n")
    p = run("preview")
    print("| what | seconds |")
    print("|---|---|")
    for k, v in p.items():
        print(f"| {k} | {v:.3f} |")


if __name__ == "__main__":
    main()
