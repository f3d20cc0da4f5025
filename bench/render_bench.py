"""Cold render vs warm re-render vs re-render after a one-shot dialogue edit, side by side.

    .venv/bin/python -m bench.render_bench [--width 640 --height 360] [--shots N]

Renders the sample series' episode 01 on the local engine into a fresh copy (cold: empty
vault), again unchanged (warm: every stage a cache hit), then after editing one line of
dialogue in one shot (only that shot's dialogue/prompt/picture/grade/QC and the episode's
assembly, mix and masters run). The first edit makes its shot longer (every later cut
moves, so every audio track changes); a second edit changes an English line without
changing its shot's length and keeps its French translation (music, ambience, effects, the
French dub and its AAC track come from the vault's piece caches). Prints markdown tables
with the ratios to cold and the per-stage seconds of both edit runs.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from bench import cpu_seconds
from studio_kit.pipeline import RenderOptions, render_episode

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "lighthouse"
EDIT_SHOT = "s06-lamp-mara2"
SAME_TIMING_SHOT = "s10-cliff-beam"


def _copy(dest: Path, shots: int | None) -> Path:
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".studio", "out"))
    if shots:
        path = dest / "episodes" / "01" / "storyboard.yaml"
        sb = yaml.safe_load(path.read_text())
        kept = 0
        for act in sb["acts"]:
            keep = []
            for shot in act["shots"]:
                if kept < shots or shot["id"] == EDIT_SHOT:
                    keep.append(shot)
                    kept += 1
            act["shots"] = keep
        path.write_text(yaml.safe_dump(sb, allow_unicode=True, sort_keys=False))
    return dest


def _edit(root: Path, shot_id: str = EDIT_SHOT,
          text: str = "Nobody at all. That is the problem.") -> None:
    path = root / "episodes" / "01" / "storyboard.yaml"
    sb = yaml.safe_load(path.read_text())
    for act in sb["acts"]:
        for shot in act["shots"]:
            if shot["id"] == shot_id:
                shot["dialogue"][0]["text"] = text
    path.write_text(yaml.safe_dump(sb, allow_unicode=True, sort_keys=False))


RUNS = ("cold", "warm (no change)", "one-shot dialogue edit",
        "same-timing line edit (dub kept)")


def run(width: int | None, height: int | None, shots: int | None) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="render-bench-") as tmp:
        root = _copy(Path(tmp) / "lighthouse", shots)
        opts = RenderOptions(engine="local", width=width, height=height)
        for label in RUNS:
            if label.startswith("one-shot"):
                _edit(root)
            elif label.startswith("same-timing"):
                _edit(root, SAME_TIMING_SHOT, "Tomorrow night, I will wait for it.")
            t0, c0 = time.perf_counter(), cpu_seconds()
            res = render_episode(root, "01", options=opts, out_dir=root / "out")
            seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            ran = sorted({f"{s.stage}[{s.subject}]" if s.subject else s.stage
                          for s in res.stages if not s.cache_hit})
            rows.append({"run": label, "seconds": seconds, "cpu": cpu,
                         "stages": len(res.stages),
                         "hits": res.stage_summary["hits"], "ran": ran,
                         "duration_s": res.duration_s, "format": res.format,
                         "times": [(f"{s.stage}[{s.subject}]" if s.subject else s.stage,
                                    s.seconds) for s in res.stages if not s.cache_hit]})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=None, help="default: the series' (640)")
    ap.add_argument("--height", type=int, default=None)
    ap.add_argument("--shots", type=int, default=None, help="keep only the first N shots")
    args = ap.parse_args()
    rows = run(args.width, args.height, args.shots)
    cold = rows[0]["seconds"]
    f = rows[0]["format"]
    print(f"\nEpisode 01 of the sample series, {f.width}x{f.height}@{f.fps:g}, "
          f"{rows[0]['duration_s']:.1f} s of picture, local engine\n")
    cold_cpu = rows[0]["cpu"]
    print("| run | seconds | vs cold | CPU s | CPU vs cold | stages | cache hits | "
          "stages that ran |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        ran = ", ".join(r["ran"]) if len(r["ran"]) <= 14 else f"{len(r['ran'])} stages"
        print(f"| {r['run']} | {r['seconds']:.2f} | {r['seconds'] / cold:.1%} | "
              f"{r['cpu']:.1f} | {r['cpu'] / cold_cpu:.1%} | "
              f"{r['stages']} | {r['hits']} | {ran or '-'} |")
    for row in rows[2:]:
        print(f"\nStages that ran after the {row['run']} (seconds; mix, ProRes and QC run "
              "on worker threads beside other stages):\n")
        print("| stage | seconds |")
        print("|---|---:|")
        for name, sec in sorted(row["times"], key=lambda x: -x[1]):
            print(f"| {name} | {sec:.2f} |")


if __name__ == "__main__":
    main()
