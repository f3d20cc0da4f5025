"""The benchmarks find their inputs relative to the project, never at a machine path."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_bench_corpus_is_beside_the_checkout() -> None:
    env = {k: v for k, v in os.environ.items() if k != "STUDIO_CORPUS"}
    out = subprocess.run([sys.executable, "-c", "import bench.import_bench as b; print(b.CORPUS)"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    assert Path(out.strip()) == ROOT.parent / "shared" / "corpus" / "screenplays"
    source = (ROOT / "bench" / "import_bench.py").read_text()
    assert not re.search(r"""["']/(work|home|root|tmp)/""", source), "a machine path"


def test_import_bench_runs_on_a_corpus_named_by_the_environment(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "samples" / "lighthouse" / "episodes" / "01" / "script.fountain",
                corpus / "lighthouse-01.fountain")
    env = dict(os.environ, STUDIO_CORPUS=str(corpus))
    proc = subprocess.run([sys.executable, "-m", "bench.import_bench"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| lighthouse-01 "))
    assert re.search(r"\| \d+ ms \(\d+\.\dx\) \|", row), row


def test_import_bench_without_a_corpus_says_where_it_looked(tmp_path: Path) -> None:
    env = dict(os.environ, STUDIO_CORPUS=str(tmp_path / "none"))
    proc = subprocess.run([sys.executable, "-m", "bench.import_bench"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "| script |" not in proc.stdout
    assert f"no .fountain files in {tmp_path / 'none'}" in proc.stderr
