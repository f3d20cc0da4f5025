"""What ``--force`` costs now that it reaches every cache, and what the Cache layer costs.

    .venv/bin/python -m bench.cache_bench [--width 160 --height 90] [--shots 4] [--n 2000]

One run, side by side, on a fresh copy of the sample series' episode 01 (local engine):

- **cold**: empty vault, everything made;
- **warm**: unchanged re-render (every stage a cache hit);
- **forced**: ``force=True``: every forceable cache re-made once (TTS lines, QC reference
  stills, pieces, layers, tracks, stages); the takes (``generation``) reused, never re-made;
- per namespace: the forced run's puts, forced misses and hits (``store.cache.stats``);
- the layer itself: ``n`` lookups of stored records through the raw ``Vault.lookup`` and
  through ``Cache.lookup`` (the counting and the force-scope check).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench import cpu_seconds
from bench.render_bench import _copy
from studio_kit.audio import dialogue
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.store.cache import Cache, reset_stats, stats
from studio_kit.store.vault import Vault


def _render(root: Path, opts: RenderOptions) -> tuple[float, float]:
    dialogue._CACHE.clear()  # as a new process would start
    t0, c0 = time.perf_counter(), cpu_seconds()
    render_episode(root, "01", options=opts, out_dir=root / "out")
    return time.perf_counter() - t0, cpu_seconds() - c0


def _lookups(tmp: Path, n: int) -> tuple[float, float]:
    vault = Vault(tmp / "vault")
    c = Cache(vault, "tts")
    keys = [c.key(i) for i in range(200)]
    for k in keys:
        c.put(k, data={"samples": k.encode()})
    for k in keys:  # each object hashed once per process first (the vault's read check)
        vault.lookup("tts", k)

    def timed(fn) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            fn(keys[i % len(keys)])
        return (time.perf_counter() - t0) / n * 1e6

    raw, cached = [], []
    for _ in range(5):  # alternated, best of 5: the machine's other load cancels
        raw.append(timed(lambda k: vault.lookup("tts", k)))
        cached.append(timed(c.lookup))
    return min(raw), min(cached)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--height", type=int, default=90)
    ap.add_argument("--shots", type=int, default=4)
    ap.add_argument("--n", type=int, default=2000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = _copy(Path(tmp) / "lighthouse", a.shots)
        opts = RenderOptions(engine="local", width=a.width, height=a.height, sign=False)
        rows = [("cold", *_render(root, opts)), ("warm", *_render(root, opts))]
        reset_stats()
        rows.append(("forced", *_render(root, opts.model_copy(update={"force": True}))))
        forced = stats()
        raw_us, cache_us = _lookups(Path(tmp), a.n)
    cold = rows[0][1]
    print(f"## --force reaches every cache ({a.width}x{a.height}, {a.shots} shots)\n")
    print("| run | wall s | cpu s | wall vs cold |")
    print("|---|---|---|---|")
    for name, wall, cpu in rows:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / cold:.2f}x |")
    print("\n| namespace (forced run) | puts | forced misses | hits |")
    print("|---|---|---|---|")
    for ns, c in forced.items():
        print(f"| {ns} | {c['puts']} | {c['forced']} | {c['hits']} |")
    print(f"\nlookup of a stored record: Vault.lookup {raw_us:.1f} us, Cache.lookup "
          f"{cache_us:.1f} us ({cache_us / raw_us:.2f}x), n={a.n}")


if __name__ == "__main__":
    main()
