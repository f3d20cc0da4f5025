"""Feature assembly from rendered episodes vs a full re-encode of the same timeline.

    .venv/bin/python bench/feature_bench.py [--episodes 2] [--size 320x180]

Renders the sample episodes once (local engine, tiny), then times side by side in one run:
(a) ``assemble_feature`` with a cold piece cache (stream copy of each master + cards + one
sound master), (b) the same with a warm cache, (c) a full H.264 re-encode of the same
timeline (what a naive editor export does).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio_kit.feature.assemble import assemble_feature, full_reencode  # noqa: E402
from studio_kit.feature.model import Feature  # noqa: E402
from studio_kit.pipeline import RenderOptions, render_episode  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="320x180")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmpd:
        base = Path(tmpd)
        series = base / "lighthouse"
        shutil.copytree(ROOT / "samples" / "lighthouse", series,
                        ignore=shutil.ignore_patterns(".studio", "out"))
        opts = RenderOptions(engine="local", width=w, height=h, sign=False, prores=False)
        t0 = time.perf_counter()
        for ep in ("01", "02"):
            render_episode(series, ep, options=opts)
        render_s = time.perf_counter() - t0
        f = Feature.model_validate({"id": "bench", "title": "Bench", "format": "anthology",
                                    "sources": [{"series": "lighthouse", "episode": e}
                                                for e in ("01", "02")]})
        out = base / "feature" / "bench.mp4"
        cold = assemble_feature(f, base, out)
        warm = assemble_feature(f, base, out)
        t0 = time.perf_counter()
        full_reencode(out, base / "full.mp4")
        full_s = time.perf_counter() - t0
        print(yaml.safe_dump({
            "size": args.size, "feature_s": cold.duration_s, "episodes_render_s":
            round(render_s, 2), "assemble_cold_s": cold.seconds, "assemble_warm_s": warm.seconds,
            "full_reencode_s": round(full_s, 2),
            "speedup_cold": round(full_s / cold.seconds, 1),
            "speedup_warm": round(full_s / warm.seconds, 1)}, sort_keys=False))


if __name__ == "__main__":
    main()
