"""A season on Dask (issue 17): 3 small episodes rendered in process (``render_episode`` per
episode, as ``studio render`` does) vs ``render_season`` on LocalCluster(1) and
LocalCluster(2), side by side in one run, each cold (a fresh copy of the series, its own
vault); the scheduler's overhead per task measured with no-op tasks; and a projection, from
the measured per-task costs, of a 10-episode season on 8 and 32 workers.

Every process that renders is warm first, as a long-lived cluster's workers are: one
throwaway 1-shot 32x18 render in this process before the in-process baseline, and on every
worker after its cluster starts, before the clock (the start-up is printed on its own line). Masters are checked
bit-identical to the in-process ones.

Run: ``.venv/bin/python -m bench.scale_bench [--width 160 --height 90 --shots 2]``
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _season(dest: Path, shots: int) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    import scale_helpers

    scale_helpers.SHOTS.update({ep: shots for ep in scale_helpers.SHOTS})
    return scale_helpers.tiny_season(dest)


def _warm() -> bool:
    """One throwaway 1-shot render at 32x18 in a scratch series: the process's imports and
    per-process state (synthesizer, QC detector, ffmpeg lookups) warm, as on a long-lived
    worker. Run in this process before the in-process baseline and on every worker."""
    from studio_kit.pipeline import RenderOptions, render_episode

    scratch = Path(tempfile.mkdtemp(prefix="scale-warm-"))
    try:
        root = _season(scratch / "lighthouse", 1)
        render_episode(root, "02", out_dir=root / "out", options=RenderOptions(
            engine="local", width=32, height=18, sign=False, prores=True, languages=["en"]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=90)
    ap.add_argument("--shots", type=int, default=2)
    args = ap.parse_args()

    from studio_kit.pipeline import RenderOptions, render_episode
    from studio_kit.scale import make_executor, render_season, task_overhead_ms
    from studio_kit.store.hashing import file_hash

    opts = RenderOptions(engine="local", width=args.width, height=args.height, sign=False,
                         prores=True, languages=["en"])
    eps = ["01", "02", "03"]
    work = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    rows = []
    try:
        _warm()
        root = _season(work / "inproc" / "lighthouse", args.shots)
        t0 = time.perf_counter()
        ref = {ep: file_hash(render_episode(root, ep, options=opts,
                                            out_dir=root / "out").master) for ep in eps}
        base = time.perf_counter() - t0
        rows.append(("in process (render_episode x3)", base, None, None))
        per_episode: list[float] = []
        overheads = {}
        for n in (1, 2):
            t_start = time.perf_counter()
            with make_executor(workers=n) as ex:
                ex.client.run(_warm)
                started = time.perf_counter() - t_start
                overheads[n] = (task_overhead_ms(ex, 300), task_overhead_ms(ex, 1000, batch=True))
                root = _season(work / f"dask{n}" / "lighthouse", args.shots)
                t0 = time.perf_counter()
                season = render_season(root, eps, options=opts, out_dir=root / "out",
                                       executor=ex)
                took = time.perf_counter() - t0
            assert season.ok, [(e.episode, e.error) for e in season.episodes]
            same = all(file_hash(e.master) == ref[e.episode] for e in season.episodes)
            per_episode += [e.seconds for e in season.episodes]
            rows.append((f"LocalCluster({n}) render_season", took, same, started))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"season: 3 episodes x {args.shots} shots, {args.width}x{args.height}, local "
          "engine, ProRes on, no C2PA, cold vault each\n")
    print("| run | season s | vs in process | masters bit-identical | cluster start + warm-up s |")
    print("|---|---:|---:|---|---:|")
    for name, secs, same, started in rows:
        print(f"| {name} | {secs:.1f} | {base / secs:.2f}x | "
              f"{'' if same is None else ('yes' if same else 'NO')} | "
              f"{'' if started is None else f'{started:.1f}'} |")
    print()
    for n, (one_by_one, batched) in overheads.items():
        print(f"scheduler overhead per no-op task, LocalCluster({n}): {one_by_one:.2f} ms "
              f"(300 submitted one by one, gathered), {batched:.2f} ms (1000 in one map)")
    t_ep = sorted(per_episode)[len(per_episode) // 2]
    t_shot = t_ep / args.shots
    print(f"\nmeasured per-task cost: one episode task (worker side) median {t_ep:.1f} s "
          f"= {t_shot:.1f} s per shot at this size")
    print("\nprojection, 10 episodes x 16 shots at this size, episodes as tasks "
          "(a worker per core, perfectly packed, overhead per task as measured):\n")
    print("| workers | busy workers | waves | projected s | vs 1 worker |")
    print("|---:|---:|---:|---:|---:|")
    t10 = 16 * t_shot
    one = 10 * t10
    for w in (1, 8, 32):
        busy = min(w, 10)
        waves = math.ceil(10 / busy)
        proj = waves * t10 + 10 * overheads[2][0] / 1000.0
        print(f"| {w} | {busy} | {waves} | {proj:.0f} | {one / proj:.1f}x |")


if __name__ == "__main__":
    main()
