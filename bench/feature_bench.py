"""Feature assembly from rendered episodes vs a full re-encode of the same timeline.

    .venv/bin/python bench/feature_bench.py [--size 320x180] [--minutes 30]

Renders the sample episodes once (local engine, tiny), then times side by side in one run:
(a) ``assemble_feature`` with a cold piece cache (stream copy of each master + cards + one
sound master), (b) the same with a warm cache, (c) a full H.264 re-encode of the same
timeline (what a naive editor export does). ``--minutes N`` builds an N-minute feature
("short" format at 20-40 min) by drawing on the two rendered episodes again and again
(every other repeat drops the cold open and the end hook, so the cut pieces are real);
it then changes one episode's master and re-assembles, counting the re-encoded pieces.
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
    ap.add_argument("--minutes", type=float, default=0.0)
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
        sources = [{"series": "lighthouse", "episode": e} for e in ("01", "02")]
        fmt = "anthology"
        if args.minutes:
            import json

            ep_s = sum(json.loads((series / "out" / f"episode-{e}" / "render.json")
                                  .read_text())["duration_s"] for e in ("01", "02"))
            reps = max(1, int(args.minutes * 60 // ep_s))
            sources = [{"series": "lighthouse", "episode": e, "act": 1 + k * 3 // reps,
                        "drop": ["cold_open", "end_hook"] if k % 2 else []}
                       for k in range(reps) for e in ("01", "02")]
            fmt = "short" if 20 <= args.minutes <= 40 else "anthology"
        f = Feature.model_validate({"id": "bench", "title": "Bench", "format": fmt,
                                    "sources": sources, "recaps": bool(args.minutes)})
        out = base / "feature" / "bench.mp4"
        cold = assemble_feature(f, base, out)
        warm = assemble_feature(f, base, out)
        t0 = time.perf_counter()
        full_reencode(out, base / "full.mp4")
        full_s = time.perf_counter() - t0
        row = {
            "size": args.size, "sources": len(sources), "feature_s": cold.duration_s,
            "episodes_render_s": round(render_s, 2), "assemble_cold_s": cold.seconds,
            "pieces_cold": len(cold.pieces_encoded), "assemble_warm_s": warm.seconds,
            "full_reencode_s": round(full_s, 2),
            "speedup_cold": round(full_s / cold.seconds, 1),
            "speedup_warm": round(full_s / warm.seconds, 1)}
        if args.minutes:  # one episode changes: only its pieces are made again
            m = series / "out" / "episode-02" / "episode-02.mp4"
            m.write_bytes(m.read_bytes() + b"\0" * 16)
            again = assemble_feature(f, base, out)
            row.update({"changed_episode_s": again.seconds,
                        "changed_pieces_encoded": again.pieces_encoded,
                        "speedup_changed": round(full_s / again.seconds, 1)})
        print(yaml.safe_dump(row, sort_keys=False))


if __name__ == "__main__":
    main()
