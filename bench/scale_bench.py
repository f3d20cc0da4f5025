"""A season on Dask (issue 17): 3 small episodes rendered in process (``render_episode`` per
episode, as ``studio render`` does) vs ``render_season`` on LocalCluster(1), LocalCluster(2)
LocalCluster(2) with per-shot tasks (``shot_tasks``), LocalCluster(2) with the cores
shared (``share_cores``, the default: each worker pinned to one core) and with both,
side by side in one run, each cold (a fresh copy of the series, its own vault).

For each run: the cores it used (user+sys CPU seconds of the process and its finished
children - ffmpeg - over wall seconds; for a cluster, each worker's and the coordinator's),
which bounds what more processes can give on this machine; each episode's phases (the
season path's cost beyond the render); then the scheduler's overhead per no-op task three
ways (submitted one by one; one ``client.map`` + ``gather``; ``submit(pure=False)`` each +
one ``gather``) on Dask's defaults, tuned for tiny tasks (no work stealing,
worker-saturation inf) and with scheduler and worker in one process; and a projection of a
10-episode season on 8 and 32 workers from the measured per-task cost.

Every process that renders is warm first, as a long-lived cluster's workers are: one
throwaway 1-shot 32x18 render in this process before the in-process baseline, and on every
worker after its cluster starts, before the clock. Masters are checked bit-identical to the
in-process ones.

Run: ``.venv/bin/python -m bench.scale_bench [--width 160 --height 90 --shots 2]``
"""

from __future__ import annotations

import argparse
import math
import os
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


def _noop_config_cluster(tuned: bool, processes: bool = True):
    """A LocalCluster(1) for the no-op overhead alone; ``tuned``: Dask's scheduler settings
    for many tiny tasks (no work stealing; worker-saturation inf = no scheduler-side
    queuing, every ready task sent to the worker at once)."""
    import dask
    from distributed import Client, LocalCluster

    cfg = {"distributed.scheduler.work-stealing": False,
           "distributed.scheduler.worker-saturation": float("inf")} if tuned else {}
    with dask.config.set(cfg):
        where = {"host": "127.0.0.1"} if processes else {}  # in-process: Dask's inproc://
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=processes,
                               dashboard_address=None, silence_logs=40, **where)
        client = Client(cluster, set_as_default=False)

    class _Ex:  # the executor's surface task_overhead_ms uses
        pass

    ex = _Ex()
    ex.client = client
    ex.submit = lambda fn, *a, key=None: client.submit(fn, *a, key=key, pure=False)
    return cluster, client, ex


def _overheads(task_overhead_ms) -> list[tuple[str, float, float, float]]:
    """(setup, one by one, map+gather, submit+gather) ms per no-op task."""
    out = []
    for label, tuned, processes in (("LocalCluster(1), defaults", False, True),
                                    ("LocalCluster(1), tuned for tiny tasks", True, True),
                                    ("floor: scheduler + worker in this process "
                                     "(processes=False, tuned)", True, False)):
        cluster, client, ex = _noop_config_cluster(tuned, processes)
        try:
            client.map(len, [[1]] * 50, pure=False)  # warm the connection
            task_overhead_ms(ex, 100, mode="map")
            out.append((label, task_overhead_ms(ex, 300, mode="one-by-one"),
                        task_overhead_ms(ex, 2000, mode="map"),
                        task_overhead_ms(ex, 2000, mode="submit-gather")))
        finally:
            client.close()
            cluster.close()
    return out


def _workers_cpu(ex) -> dict[str, dict[str, float]]:
    from studio_kit.scale.executor import process_cpu

    return ex.client.run(process_cpu)


def _cores_used(before: dict, after: dict) -> tuple[float, list[float]]:
    per = [(after[w]["cpu"] - before[w]["cpu"]) / max(after[w]["wall"] - before[w]["wall"],
                                                      1e-9) for w in before if w in after]
    return sum(per), per


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=90)
    ap.add_argument("--shots", type=int, default=2)
    args = ap.parse_args()

    from bench import cpu_seconds
    from studio_kit.pipeline import RenderOptions, render_episode
    from studio_kit.scale import make_executor, render_season, task_overhead_ms
    from studio_kit.store.hashing import file_hash

    opts = RenderOptions(engine="local", width=args.width, height=args.height, sign=False,
                         prores=True, languages=["en"])
    eps = ["01", "02", "03"]
    work = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    rows = []
    phases: dict[str, list[dict[str, float]]] = {}
    load0 = os.getloadavg()
    try:
        _warm()
        root = _season(work / "inproc" / "lighthouse", args.shots)
        c0, t0 = cpu_seconds(), time.perf_counter()
        ref = {ep: file_hash(render_episode(root, ep, options=opts,
                                            out_dir=root / "out").master) for ep in eps}
        base = time.perf_counter() - t0
        inproc_cores = (cpu_seconds() - c0) / base
        rows.append(("in process (render_episode x3)", base, None, None, inproc_cores, ""))
        per_episode: list[float] = []
        for n, share, shot_tasks in ((1, False, False), (2, False, False),
                                     (2, False, True), (2, True, False), (2, True, True)):
            t_start = time.perf_counter()
            with make_executor(workers=n, share_cores=share) as ex:
                ex.client.run(_warm)
                started = time.perf_counter() - t_start
                root = _season(work / f"dask{n}{share}{shot_tasks}" / "lighthouse",
                               args.shots)
                w0, c0 = _workers_cpu(ex), cpu_seconds()
                t0 = time.perf_counter()
                season = render_season(root, eps, options=opts, out_dir=root / "out",
                                       executor=ex, shot_tasks=shot_tasks)
                took = time.perf_counter() - t0
                coord = (cpu_seconds() - c0) / took
                cores, per = _cores_used(w0, _workers_cpu(ex))
            assert season.ok, [(e.episode, e.error) for e in season.episodes]
            same = all(file_hash(e.master) == ref[e.episode] for e in season.episodes)
            name = f"LocalCluster({n}) render_season" + (", cores shared" if share else "") \
                + (", shot tasks" if shot_tasks else "")
            phases[name] = [e.phases for e in season.episodes]
            if not share and not shot_tasks:
                per_episode += [e.seconds for e in season.episodes]
            rows.append((name, took, same, started, cores + coord,
                         " + ".join(f"{c:.2f}" for c in per) + f" + coord {coord:.2f}"))
        overheads = _overheads(task_overhead_ms)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load1 = os.getloadavg()

    print(f"season: 3 episodes x {args.shots} shots, {args.width}x{args.height}, local "
          "engine, ProRes on, no C2PA, cold vault each; load average "
          f"{load0[0]:.1f} before, {load1[0]:.1f} after, {os.cpu_count()} cores\n")
    print("| run | season s | vs in process | masters bit-identical | CPU s | cores used (CPU s "
          "/ wall s) | of which per worker | cluster start + warm-up s |")
    print("|---|---:|---:|---|---:|---:|---|---:|")
    for name, secs, same, started, cores, split in rows:
        print(f"| {name} | {secs:.1f} | {base / secs:.2f}x | "
              f"{'' if same is None else ('yes' if same else 'NO')} | {cores * secs:.1f} | "
              f"{cores:.2f} | {split} | {'' if started is None else f'{started:.1f}'} |")
    ncpu = os.cpu_count() or 1
    print(f"\nbound on {ncpu} cores: the in-process render already uses {inproc_cores:.2f} "
          f"cores, so more processes can give at most {ncpu / inproc_cores:.2f}x; 3 equal "
          "episode tasks on 2 workers take 2 waves, at most 1.50x a perfect 1-worker run; "
          f"together at most {min(ncpu / inproc_cores, 1.5):.2f}x (meaningful on a quiet "
          "machine only: under load a process gets fewer cores than it would use; the CPU "
          "seconds are the load-independent figure)")
    print("\nper-episode phases, median s (worker: series rebuilt / render / outputs stored /"
          " rows read; coordinator: prepare = paid takes + ledger snapshot, record):\n")
    print("| run | series | render | store | rows | prepare | record |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, items in phases.items():
        def med(k, items=items):
            vals = sorted(p.get(k, 0.0) for p in items)
            return vals[len(vals) // 2] if vals else 0.0
        print(f"| {name} | " + " | ".join(f"{med(k):.2f}" for k in (
            "series", "render", "store", "rows", "prepare", "record")) + " |")
    print("\nscheduler overhead per no-op task, ms (one by one: submit each, wait each; "
          "map: one client.map of 2000, one gather; submit+gather: 2000 submit(pure=False), "
          "one gather):\n")
    print("| cluster | one by one | map + gather | submit + gather |")
    print("|---|---:|---:|---:|")
    for label, a, b, c in overheads:
        print(f"| {label} | {a:.2f} | {b:.2f} | {c:.2f} |")
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
        proj = waves * t10 + 10 * overheads[0][1] / 1000.0
        print(f"| {w} | {busy} | {waves} | {proj:.0f} | {one / proj:.1f}x |")


if __name__ == "__main__":
    main()
