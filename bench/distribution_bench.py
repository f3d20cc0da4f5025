"""9:16 reframe (subject track + crop path + one ffmpeg pass) vs ffmpeg's plain centre crop
of the same master at the same encode settings, side by side in one run.

    .venv/bin/python bench/distribution_bench.py PROJECT EPISODE [--platform shorts]

PROJECT must have a rendered episode (any size); nothing is written into it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from studio_kit.distribution.deliver import _master_seconds, encode
from studio_kit.distribution.platforms import platform
from studio_kit.distribution.reframe import CropPath, crop_path, crop_size, subject_track
from studio_kit.edit.timeline import Timeline
from studio_kit.gates import latest_render
from studio_kit.project import Project


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("project")
    ap.add_argument("episode")
    ap.add_argument("--platform", default="shorts")
    a = ap.parse_args()
    proj = Project.load(a.project)
    spec = platform(a.platform)
    with proj.ledger() as led:
        render = latest_render(led, proj.storyboard(a.episode).episode)
    master = Path(render["master"])
    tl = Timeline.model_validate_json(Path(render["timeline"]).read_text())
    secs = _master_seconds(master)
    cw, ch = crop_size(tl.width, tl.height, spec.width, spec.height)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        n = tl.total_frames
        centre = CropPath(width=tl.width, height=tl.height, crop_w=cw, crop_h=ch,
                          fps=float(tl.fps), max_pan_px_s=0, x=[(tl.width - cw) // 2] * n,
                          y=[(tl.height - ch) // 2] * n)
        encode(master, spec, Path(tmp) / "centre.mp4", gain_db=0, path=centre,
               duration_s=secs)
        t_centre = time.perf_counter() - t0
        t0 = time.perf_counter()
        track = subject_track(render, tl, proj.vault(), master)
        t_track = time.perf_counter() - t0
        path = crop_path(track, tl, cw, ch, spec.max_pan)
        encode(master, spec, Path(tmp) / "reframe.mp4", gain_db=0, path=path,
               duration_s=secs)
        t_reframe = time.perf_counter() - t0
    print(json.dumps({"master": f"{tl.width}x{tl.height}", "seconds": round(secs, 2),
                      "platform": spec.name, "out": f"{spec.width}x{spec.height}",
                      "centre_crop_s": round(t_centre, 2), "reframe_s": round(t_reframe, 2),
                      "of_which_subject_track_s": round(t_track, 2),
                      "ratio": round(t_reframe / t_centre, 2)}))


if __name__ == "__main__":
    main()
