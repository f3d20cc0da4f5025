"""``studio render`` of the sample episode against a fake cloud engine with job latency:
one job at a time (routing.yaml ``concurrency: 1``, what the render did before it generated
shots concurrently) vs the engine's concurrency limit, side by side in one run. The engine
is the loopback fake of ``tests/fakes/engine_servers.py`` (real HTTP, real downloads).

    .venv/bin/python -m bench.render_cloud_bench [--latency 0.5] [--concurrency 4]
        [--width 160 --height 90]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "lighthouse"


def render_once(work: Path, url: str, concurrency: int, width: int, height: int
                ) -> tuple[float, float, int]:
    """Seconds for the whole render, seconds in the generate stages, shots."""
    from studio_kit.pipeline import RenderOptions, render_episode
    from studio_kit.production.budget import approve_gate_a
    from studio_kit.project.series_folder import Project

    root = work / f"lighthouse-c{concurrency}"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns(".studio", "out"))
    (root / "routing.yaml").write_text(
        "schema_version: 1\ndefault: runway\nfailover: [local]\nengines:\n"
        f"  runway: {{base_url: '{url}', concurrency: {concurrency}}}\nrules: []\n")
    approve_gate_a(Project.load(root), "01", who="bench")
    # attempts=1: the fake delivers test patterns (QC would reroute them all to local)
    opts = RenderOptions(width=width, height=height, attempts=1, sign=False, prores=False)
    t0 = time.perf_counter()
    result = render_episode(root, "01", options=opts, out_dir=root / "out")
    total = time.perf_counter() - t0
    assert {s.engine for s in result.shots} == {"runway"}, [s.failover for s in result.shots]
    gen = sum(s.seconds for s in result.stages if s.stage == "generate")
    return total, gen, len(result.shots)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", type=float, default=0.5, help="seconds per fake job")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=90)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from fakes.engine_servers import KEY_ENV, FakeEngineServer

    os.environ[KEY_ENV["runway"]] = "test-key"  # the fake's key
    os.environ.setdefault("STUDIO_ENGINE_POLL_S", "0.05")
    os.environ.setdefault("STUDIO_ENGINE_MAX_POLL_S", "0.1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for conc in (1, args.concurrency):
            with FakeEngineServer("runway", job_latency_s=args.latency) as server:
                total, gen, n = render_once(Path(tmp), server.url, conc, args.width,
                                            args.height)
            rows.append((conc, total, gen, n))
    print(f"render of samples/lighthouse 01 ({rows[0][3]} shots, {args.width}x{args.height}) "
          f"against fake runway, {args.latency:g} s per job")
    print(f"{'runway concurrency':>20} {'render s':>9} {'generate-stage s (sum)':>23}")
    for conc, total, gen, _ in rows:
        print(f"{conc:>20} {total:>9.2f} {gen:>23.2f}")
    print(f"speed-up of the whole render: {rows[0][1] / rows[1][1]:.2f}x "
          f"(saved {rows[0][1] - rows[1][1]:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
