"""Screenplay import speed on the corpus (Big Fish is the goal: whole import < 2 s).

Side by side, best of N runs each:
- screenplain's own ``parse()`` (the floor: classification only, no line numbers/notes);
- our ``parse_fountain`` (screenplain's classifier + line numbers, notes, synopses);
- parse + shot breakdown (in memory);
- full ``import_script`` into a new folder (scenes, characters, storyboard written
  atomically with fsync);
- re-import of the unchanged script into that project (load, align, merge, write);
- writing the storyboard with PyYAML's pure-Python dumper (what ``save_model`` does) vs the
  libyaml dumper the importer uses.

Run: ``.venv/bin/python -m bench.import_bench`` (the corpus is ``../shared/corpus/screenplays``
beside the checkout, or ``$STUDIO_CORPUS``)
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from screenplain.parsers import fountain as sp_fountain

from studio_kit.screenplay import BreakdownInput, breakdown, import_script, parse_fountain
from studio_kit.screenplay.importer import resolve_characters, resolve_scenes

ROOT = Path(__file__).resolve().parents[1]
#: the shared corpus beside the checkout (as tests/conftest.py finds it); $STUDIO_CORPUS
#: names another folder of .fountain files
CORPUS = Path(os.environ.get("STUDIO_CORPUS", ROOT.parent / "shared" / "corpus"
                             / "screenplays"))
RUNS = 3


CPU: dict[str, float] = {}


def best(fn, runs: int = RUNS, label: str | None = None) -> float:
    """Best wall time of ``runs``; with ``label``, also records that run's CPU time."""
    times = []
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    wall, cpu = min(times)
    if label:
        CPU[label] = cpu
    return wall


def main() -> None:
    scripts = sorted(CORPUS.glob("*.fountain"))
    if not scripts:
        print(f"(no .fountain files in {CORPUS}: the import bench is skipped; set "
              "STUDIO_CORPUS to a folder of screenplays)", file=sys.stderr)
        return
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="import-bench-"))
    try:
        for path in scripts:
            text = path.read_text(encoding="utf-8")
            t_sp = best(lambda text=text: sp_fountain.parse(io.StringIO(text)))
            t_parse = best(lambda text=text, path=path: parse_fountain(text, str(path)))
            script = parse_fountain(text, str(path))

            def parse_and_break(text=text, path=path):
                s = parse_fountain(text, str(path))
                ids, _, _ = resolve_scenes(s, {})
                chars, _, _ = resolve_characters(s, {}, "en")
                return breakdown(s, BreakdownInput("01", ids, chars))[0]

            t_break = best(parse_and_break)
            sb = parse_and_break()
            n = [0]

            def full(path=path, n=n):
                n[0] += 1
                return import_script(tmp / f"{path.stem}-{n[0]}", path, "01", create=True)

            t_full = best(full, label=path.stem)
            proj = tmp / f"{path.stem}-1"
            t_re = best(lambda path=path, proj=proj: import_script(proj, path, "01"), runs=1)
            data = sb.model_dump(mode="json", exclude_none=True)
            t_py = best(lambda data=data: yaml.safe_dump(data, sort_keys=False,
                                                         allow_unicode=True), runs=1)
            t_c = best(lambda data=data: yaml.dump(data, Dumper=yaml.CSafeDumper,
                                                   sort_keys=False, allow_unicode=True), runs=1)
            rows.append((path.stem, len(text) // 1024, len(script.headings), len(sb.shots),
                         t_sp, t_parse, t_break, t_full, t_re, t_py, t_c))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("| script | KB | headings | shots | screenplain parse | our parse | parse+breakdown "
          "| full import (new project) | re-import (unchanged) | storyboard dump: pure-Python "
          "YAML | libyaml |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, kb, heads, shots, t_sp, t_p, t_b, t_f, t_r, t_py, t_c in rows:
        print(f"| {name} | {kb} | {heads} | {shots} | {t_sp * 1000:.0f} ms | "
              f"{t_p * 1000:.0f} ms ({t_p / t_sp:.1f}x) | {t_b * 1000:.0f} ms "
              f"({t_b / t_sp:.1f}x) | {t_f * 1000:.0f} ms ({t_f / t_sp:.1f}x; CPU "
              f"{CPU[name] * 1000:.0f} ms) | "
              f"{t_r * 1000:.0f} ms | {t_py * 1000:.0f} ms | {t_c * 1000:.0f} ms "
              f"({t_py / t_c:.1f}x faster) |")
    print(f"\nbest of {RUNS} runs (re-import and dumps: one run); ratios are vs screenplain's "
          "raw parse of the same file. Goal: Big Fish full import < 2 s.")


if __name__ == "__main__":
    main()
