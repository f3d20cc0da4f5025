"""Vault verify speed: ``Vault.verify`` (what ``studio vault verify`` runs: re-hash every
object, check every stage record) against coreutils ``sha256sum`` on the same files, side by
side in one run.

The vault: seeded random objects in two shapes, like a real project's - 40 takes of 5 MB and
400 small pieces of 64 KB (236 MB in all), stored through ``Vault.put_bytes``. Both readers
run warm (the files read once first, so both hash from the page cache: the figure is the
hashing path, not the disk); each is timed 3 times, alternating, and the median is kept.
``sha256sum`` is one process over all files (its fastest form; single-threaded like verify).

Run: ``.venv/bin/python -m bench.vault_bench``
"""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from studio_kit.store.vault import Vault

SHAPES = ((40, 5 * 1024 * 1024), (400, 64 * 1024))
RUNS = 3


def _build(root: Path) -> tuple[Vault, list[Path], int]:
    vault = Vault(root / "vault")
    rng = random.Random(16)
    for count, size in SHAPES:
        for _ in range(count):
            vault.put_bytes(rng.randbytes(size))
    files = [p for _d, p, _s in vault.iter_objects()]
    total = sum(p.stat().st_size for p in files)
    return vault, files, total


def _verify(vault: Vault) -> float:
    t0 = time.perf_counter()
    report = vault.verify()
    dt = time.perf_counter() - t0
    assert report.ok and report.checked == sum(c for c, _ in SHAPES)
    return dt


def _sha256sum(files: list[Path]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(["sha256sum", *map(str, files)], capture_output=True, text=True,
                         check=True).stdout
    dt = time.perf_counter() - t0
    for line in out.splitlines():  # the same answer: every file's hash is its name
        digest, name = line.split(maxsplit=1)
        assert name.endswith(digest)
    return dt


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="vault-bench-"))
    try:
        vault, files, total = _build(tmp)
        _sha256sum(files)  # warm the page cache for both
        ours, theirs = [], []
        for _ in range(RUNS):
            ours.append(_verify(vault))
            theirs.append(_sha256sum(files))
        mb = total / 1e6
        v, s = statistics.median(ours), statistics.median(theirs)
        print(f"{len(files)} objects, {mb:.0f} MB (warm page cache), median of {RUNS}\n")
        print("| reader | seconds | MB/s |\n|---|---|---|")
        print(f"| `studio vault verify` (Vault.verify) | {v:.3f} | {mb / v:.0f} |")
        print(f"| `sha256sum` (coreutils, one process) | {s:.3f} | {mb / s:.0f} |")
        print(f"\nverify / sha256sum time: {v / s:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
