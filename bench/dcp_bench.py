"""DCP bench: JPEG 2000 throughput (ours vs naive ffmpeg) and DCP time vs running time.

    .venv/bin/python bench/dcp_bench.py [--short 5 --long 10]

Side by side in one run, on the same 2K-upscaled synthetic source:
1. ours: studio_kit.dcp.picture.encode_picture (RGB->XYZ in numpy, cinema2k libopenjpeg),
   with 1 and 2 worker processes; frames/s wall and frames per CPU-second (= per core);
2. naive: one ffmpeg process, default libopenjpeg settings, scale to 1998x1080 -> .j2c;
3. export_dcp end to end for two running times, extrapolated linearly to 30/60/120 min.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio_kit.dcp import DcpOptions, export_dcp, picture  # noqa: E402

FF = picture.ffmpeg_exe()


def source(path: Path, seconds: float) -> Path:
    subprocess.run([FF, "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x180:rate=24:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=f=440:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "pcm_s16le", str(path)], check=True)
    return path


def cpu() -> float:
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), cpu()
    fn()
    return time.perf_counter() - w, cpu() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--short", type=float, default=5.0)
    ap.add_argument("--long", type=float, default=10.0)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dcp-bench-"))
    try:
        src = source(tmp / "src.mov", a.frames / 24)
        rows = []
        for workers in (1, 2):
            out = tmp / f"ours{workers}"
            wall, cpus = timed(partial(picture.encode_picture, src, a.frames, out, "flat",
                                       workers=workers, chunk=a.frames // 2))
            rows.append((f"ours cinema2k XYZ, {workers} proc", wall, cpus))
        out = tmp / "naive"
        out.mkdir()
        wall, cpus = timed(lambda: subprocess.run(
            [FF, "-v", "error", "-i", str(src), "-s", "1998x1080", "-c:v", "libopenjpeg",
             "-f", "image2", str(out / "%06d.j2c")], check=True))
        rows.append(("naive ffmpeg libopenjpeg defaults, 1 proc", wall, cpus))
        print(f"JPEG 2000 at 1998x1080, {a.frames} frames")
        print(f"{'encoder':44} {'wall s':>7} {'fps':>6} {'cpu s':>7} {'fps/core':>8}")
        for name, wall, cpus in rows:
            print(f"{name:44} {wall:7.1f} {a.frames / wall:6.2f} {cpus:7.1f} "
                  f"{a.frames / cpus:8.2f}")
        times = []
        for secs in (a.short, a.long):
            s = source(tmp / f"m{secs}.mov", secs)
            wall, _ = timed(partial(export_dcp, s, s, tmp / f"D{secs}",
                                    DcpOptions(title="Bench")))
            times.append((secs, wall))
            print(f"export_dcp {secs:g} s of content: {wall:.1f} s wall "
                  f"({wall / secs:.2f} s per content second)")
        (s1, t1), (s2, t2) = times
        slope = (t2 - t1) / (s2 - s1)
        fixed = t1 - slope * s1
        for minutes in (30, 60, 120):
            est = fixed + slope * minutes * 60
            print(f"extrapolated {minutes:3d} min: {est / 3600:.1f} h")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
