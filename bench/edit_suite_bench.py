"""Edit Suite figures, side by side in one run: a trim to the updated storyboard on disk
(median of N saves), and the re-render after that trim vs the cold render (time, and
which stages ran rather than came from the cache).

    .venv/bin/python bench/edit_suite_bench.py [--size 160x90] [--saves 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="160x90")
    ap.add_argument("--saves", type=int, default=20)
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.split("x"))

    from test_edit_suite import SHOT, small_sample

    from studio_kit.edit import decisions as d
    from studio_kit.pipeline import RenderOptions, render_episode
    from studio_kit.project.series_folder import Project

    opts = RenderOptions(engine="local", width=w, height=h, sign=False, prores=False)
    with tempfile.TemporaryDirectory() as tmp:
        root = small_sample(Path(tmp) / "lighthouse")
        t0 = time.perf_counter()
        cold = render_episode(root, "01", options=opts, out_dir=root / "out")
        cold_s = time.perf_counter() - t0

        saves = []
        for i in range(args.saves):
            t = time.perf_counter()
            proj = Project.load(root)  # as the page holds it (loaded once per save here)
            sb = d.trim_shot(proj.storyboard("01"), SHOT, 0.0, 0.25 + 0.01 * (i % 2))
            d.save(proj, sb)
            saves.append((time.perf_counter() - t) * 1000)
        # the page's save: the project is already loaded
        proj = Project.load(root)
        page_saves = []
        for i in range(args.saves):
            t = time.perf_counter()
            sb = d.trim_shot(proj.storyboard("01"), SHOT, 0.0, 0.5 - 0.01 * (i % 2))
            d.save(proj, sb)
            page_saves.append((time.perf_counter() - t) * 1000)
            proj = Project.load(root)
        t0 = time.perf_counter()
        again = render_episode(root, "01", options=opts, out_dir=root / "out")
        warm_s = time.perf_counter() - t0
        shutil.rmtree(root / "out", ignore_errors=True)

    def ran(res) -> str:
        c = Counter(s.stage for s in res.stages if not s.cache_hit)
        return ", ".join(f"{k} x{v}" if v > 1 else k for k, v in sorted(c.items()))

    print(f"size {w}x{h}, 3-shot sample episode, engine local, no signing, no ProRes")
    print(f"trim -> storyboard on disk, load+edit+save: median "
          f"{statistics.median(saves):.1f} ms (max {max(saves):.1f}) over {args.saves}")
    print(f"trim -> storyboard on disk, edit+save (project loaded): median "
          f"{statistics.median(page_saves):.1f} ms (max {max(page_saves):.1f})")
    print(f"cold render   {cold_s:6.2f} s  ran: {ran(cold)}")
    print(f"after a trim  {warm_s:6.2f} s  ran: {ran(again)}")
    print(f"master {cold.duration_s:.3f} s -> {again.duration_s:.3f} s")


if __name__ == "__main__":
    main()
