"""What the curated package and the plugin entry points cost, side by side in one run.

- ``import studio_kit`` in a fresh interpreter (the public API is lazy) vs a bare
  interpreter, vs ``import studio_kit`` + ``__version__`` (importlib.metadata), vs importing
  the render pipeline (what the first ``studio_kit.render_episode`` access costs);
- registry lookups: a built-in name (dict hit), a name known to be absent (``in``: the
  entry points cached per ``sys.path``), the first lookup of a third-party engine (entry
  points read afresh + the plugin imported), an unknown name (read afresh, then the error).

Run: ``.venv/bin/python -m bench.plugin_bench``
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 15


def interp(code: str, runs: int = RUNS) -> float:
    """Median wall time (ms) of a fresh interpreter running ``code``."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def per_call_us(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) * 1e6 / n


def write_plugin(site: Path, i: int) -> str:
    name = f"bench_plugin_{i}"
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(
        "from studio_kit.engines.local import LocalEngine\n"
        f"class E(LocalEngine):\n    name = 'bench-{i}'\n", encoding="utf-8")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[studio_kit.engines]\nbench-{i} = {name}:E\n",
                                           encoding="utf-8")
    return f"bench-{i}"


def main() -> None:
    bare = interp("pass")
    kit = interp("import studio_kit")
    ver = interp("import studio_kit; studio_kit.__version__")
    pipe = interp("import studio_kit; studio_kit.render_episode")
    print("| fresh interpreter | median ms | over bare |")
    print("|---|---:|---:|")
    for label, ms in (("bare `python -c pass`", bare), ("`import studio_kit`", kit),
                      ("+ `__version__`", ver), ("+ `render_episode` (pipeline)", pipe)):
        print(f"| {label} | {ms:.1f} | {ms - bare:+.1f} |")

    from studio_kit.registry import ENGINES

    ENGINES.get("local")  # built-ins loaded
    hit = per_call_us(lambda: ENGINES.get("local"), 20000)
    absent = per_call_us(lambda: "no-such-engine" in ENGINES, 20000)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        names = [write_plugin(site, i) for i in range(20)]
        sys.path.insert(0, str(site))
        t0 = time.perf_counter()
        for n in names:
            ENGINES.get(n)
        first = (time.perf_counter() - t0) * 1e6 / len(names)
        miss = per_call_us(lambda: _miss(ENGINES), 50)
        sys.path.remove(str(site))
    print()
    print("| registry lookup | us per call |")
    print("|---|---:|")
    print(f"| built-in name (`ENGINES.get('local')`) | {hit:.2f} |")
    print(f"| absent name, `in` (entry points cached per sys.path) | {absent:.2f} |")
    print(f"| first lookup of an entry-point engine (read + import) | {first:.0f} |")
    print(f"| unknown name, `get` (entry points read afresh, StudioError) | {miss:.0f} |")


def _miss(reg) -> None:
    from studio_kit.errors import StudioError

    try:
        reg.get("no-such-engine")
    except StudioError:
        pass


if __name__ == "__main__":
    main()
