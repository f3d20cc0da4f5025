"""Routing bench: rule routing + Gate A estimate on a Big Fish-sized storyboard, and
generation throughput with per-engine concurrency vs one at a time, against a real fake
HTTP server with latency.

    .venv/bin/python -m bench.routing_bench [--shots 1000] [--jobs 16] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "lighthouse"


def big_project(dest: Path, shots: int):
    """The sample series with episode 01 repeated to ``shots`` shots (Big Fish has 190
    scene headings; ~5 shots per scene gives ~1000)."""
    from studio_kit.models import Act
    from studio_kit.project.series_folder import Project

    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".studio"))
    p = Project.load(dest)
    sb = p.storyboard("01")
    base = sb.shots
    acts, n, k = [], 0, 0
    while n < shots:
        chunk = []
        for s in base:
            if n >= shots:
                break
            chunk.append(s.model_copy(update={"id": f"{s.id}-{k:04d}"}))
            n += 1
        acts.append(Act(id=f"act-{k:04d}", shots=chunk))
        k += 1
    p.save_storyboard(sb.model_copy(update={"acts": acts}))
    return Project.load(dest)


def bench_routing(shots: int) -> list[tuple[str, float]]:
    from studio_kit.production.budget import estimate_episode
    from studio_kit.production.routing import load_rules, route_episode, route_shot

    for env in ("RUNWAYML_API_SECRET", "LUMAAI_API_KEY", "FAL_KEY", "REPLICATE_API_TOKEN"):
        os.environ.setdefault(env, "bench")
    with tempfile.TemporaryDirectory() as tmp:
        p = big_project(Path(tmp) / "lh", shots)
        rules = load_rules(p)
        t0 = time.perf_counter()
        decisions = route_episode(p, "01", rules)
        est = estimate_episode(p, "01", rules=rules, decisions=decisions)
        ours = time.perf_counter() - t0
        assert len(est.shots) == shots
        # naive: what a per-shot caller does (reload rules, resolve engines, find scene start)
        sample = [s.id for s in p.storyboard("01").shots[: min(shots, 100)]]
        t0 = time.perf_counter()
        for sid in sample:
            route_shot(p, "01", sid)
        naive = (time.perf_counter() - t0) * shots / len(sample)
    return [("route + estimate, whole episode (ours)", ours),
            ("route_shot per shot, rules reloaded (naive, extrapolated)", naive)]


def bench_concurrency(jobs: int, latency: float) -> list[tuple[str, float]]:
    sys.path.insert(0, str(ROOT / "tests"))
    from fakes.engine_servers import FakeEngineServer

    from studio_kit.engines.factory import get_engine
    from studio_kit.production.failover import generate_episode
    from studio_kit.production.routing import EngineSettings, RoutingRules
    from studio_kit.project.series_folder import Project
    from studio_kit.store.ledger import Ledger

    os.environ["REPLICATE_API_TOKEN"] = "test-key"
    out = []
    for conc in (1, 4, 8):
        with tempfile.TemporaryDirectory() as tmp, \
                FakeEngineServer("replicate", job_latency_s=latency) as server:
            p = big_project(Path(tmp) / "lh", jobs) if jobs != 10 else Project.load(SAMPLE)
            led = Ledger(Path(tmp) / "ledger.sqlite")
            led.decide(episode="01", gate="A", subject="budget", decision="approved",
                       who="bench")
            from studio_kit.store.vault import Vault

            eng = get_engine("replicate", base_url=server.url, poll_interval=0.05,
                             max_poll_interval=0.2)
            rules = RoutingRules(default="replicate",
                                 engines={"replicate": EngineSettings(concurrency=conc)})
            t0 = time.perf_counter()
            res = asyncio.run(generate_episode(p, "01", rules=rules, engines={"replicate": eng},
                                               vault=Vault(Path(tmp) / "v"), ledger=led))
            out.append((f"{jobs} shots, concurrency {conc}", time.perf_counter() - t0))
            assert all(r.ok for r in res) and len(server.billed) == jobs
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shots", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.5)
    a = ap.parse_args()
    rows = bench_routing(a.shots)
    print(f"\n### Routing + Gate A estimate, {a.shots} shots\n")
    print("| approach | seconds | per shot (ms) | ratio |\n|---|---:|---:|---:|")
    for name, s in rows:
        print(f"| {name} | {s:.3f} | {1000 * s / a.shots:.2f} | {s / rows[0][1]:.1f}x |")
    rows = bench_concurrency(a.jobs, a.latency)
    print(f"\n### Generation against a fake engine with {a.latency:g} s job latency\n")
    print("| run | seconds | shots/s | speed-up vs sequential |\n|---|---:|---:|---:|")
    for name, s in rows:
        print(f"| {name} | {s:.2f} | {a.jobs / s:.2f} | {rows[0][1] / s:.1f}x |")


if __name__ == "__main__":
    main()
