"""Episode Bay figures: timeline interactive for a 24-shot and a 200-shot episode, and a
reorder to the updated storyboard on disk.

Episodes:
* **24 shots**: the sample series' episode 01 (10 shots) extended to 24 with copies of its
  shots under new ids.
* **200 shots**: Big Fish's screenplay from the shared corpus imported into a new series
  (``import_script``); the import is one act of 1633 shots, so its first 200 shots are kept,
  split into four acts of 50 (act boundaries drawn). Skipped without the corpus.

Measures, side by side for both:
* **kernel**: a started kernel runs the notebook's code cells (imports + ``EpisodeBay``:
  the shot strip with thumbnails, editor, review, pacing, player) - the surface is usable
  (select, move, edit, review) when they return. Thumbnail cache cold (first open: scene
  previews drawn) and warm (a second open in the same kernel).
* **chart**: the HoloViews timeline + pacing charts, drawn in a thread after the cell (as in
  the page); measured in-process.
* **browser**: a real ``studio serve`` + Chromium: navigation until the strip is visible
  (kernel start included).
* **reorder**: ``step_shot`` + ``save`` (validation, reference checks, in-place YAML edit)
  until storyboard.yaml is replaced on disk; median of 9.

Run: ``.venv/bin/python -m bench.episode_bay_bench``
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("STUDIO_CORPUS", ROOT.parent / "shared" / "corpus"
                             / "screenplays"))


def make_24(base: Path) -> Path:
    from studio_kit.project.series_folder import Project

    root = base / "lighthouse24"
    shutil.copytree(ROOT / "samples" / "lighthouse", root,
                    ignore=shutil.ignore_patterns(".studio", "out"))
    p = Project.load(root)
    sb = p.storyboard("01").model_copy(deep=True)
    originals = [(a, s) for a in sb.acts for s in a.shots]
    n = 0
    while len(sb.shots) < 24:
        act, shot = originals[n % len(originals)]
        act.shots.append(shot.model_copy(update={"id": f"{shot.id}-x{n}", "source": None},
                                         deep=True))
        n += 1
    p.save_storyboard(sb)
    return root


def make_200(base: Path) -> Path | None:
    fish = CORPUS / "Big-Fish.fountain"
    if not fish.is_file():
        return None
    from studio_kit.models.storyboard import Act
    from studio_kit.project.series_folder import Project
    from studio_kit.screenplay.importer import import_script

    root = base / "bigfish"
    import_script(root, fish, "01", create=True)
    p = Project.load(root)
    sb = p.storyboard("01").model_copy(deep=True)
    shots = sb.shots[:200]
    sb.acts = [Act(id=f"act-{i + 1}", title=f"ACT {i + 1}", shots=shots[i * 50:(i + 1) * 50])
               for i in range(4)]
    p.save_storyboard(sb)
    return root


def kernel_times(project: Path) -> tuple[float, float]:
    from bench.surfaces_bench import _cells, _kernel_tti

    cells = _cells("episode_bay")
    env = {"STUDIO_PROJECT": str(project), "BOKEH_RESOURCES": "inline"}
    cold = _kernel_tti(cells, env)
    warm = _kernel_tti(cells, env)  # a new kernel; the thumbnails are cached in .studio
    return cold, warm


def chart_time(project: Path) -> float:
    from widgets.episode_bay import EpisodeBay

    bay = EpisodeBay(project, chart=False)
    t0 = time.perf_counter()
    bay._draw_charts()
    assert "failed" not in str(getattr(bay.chart_box.children[0], "value", ""))
    return time.perf_counter() - t0


def browser_time(project: Path) -> float | None:
    if not Path("/usr/bin/chromium").exists():
        return None
    from playwright.sync_api import sync_playwright

    from studio_kit.cli.serve_commands import running_server

    with running_server(project, token="bench") as srv, sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = b.new_page()
        t0 = time.perf_counter()
        page.goto(f"http://127.0.0.1:{srv.port}/voila/render/episode_bay.ipynb?token=bench",
                  timeout=300_000)
        page.wait_for_selector(".studio-episode-bay .studio-shot", timeout=300_000)
        dt = time.perf_counter() - t0
        b.close()
    return dt


def reorder_time(project: Path) -> float:
    from studio_kit.project.series_folder import Project
    from studio_kit.surfaces import episode_bay as bay

    p = Project.load(project)
    path = p.episode("01").storyboard_path
    sid = p.storyboard("01").shots[len(p.storyboard("01").shots) // 2].id
    times = []
    for i in range(9):
        before = path.stat().st_mtime_ns
        t0 = time.perf_counter()
        bay.save(p, bay.step_shot(p.storyboard("01"), sid, 1 if i % 2 == 0 else -1))
        times.append(time.perf_counter() - t0)
        assert path.stat().st_mtime_ns != before
    return statistics.median(times)


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="bay-bench-"))
    try:
        cases = [("24 shots (lighthouse x2.4)", make_24(base))]
        big = make_200(base)
        if big is not None:
            cases.append(("200 shots (Big Fish, first 200)", big))
        else:
            print(f"(no corpus at {CORPUS}: the 200-shot case is skipped)", file=sys.stderr)
        browser = "--no-browser" not in sys.argv
        print("| episode | kernel, cold thumbs (s) | kernel, warm (s) | chart thread (s) | "
              "browser nav -> strip (s) | reorder -> disk (ms) |")
        print("|---|---|---|---|---|---|")
        for name, root in cases:
            cold, warm = kernel_times(root)
            chart = chart_time(root)
            nav = browser_time(root) if browser else None
            reorder = reorder_time(root)
            nav_s = f"{nav:.2f}" if nav is not None else "-"
            print(f"| {name} | {cold:.2f} | {warm:.2f} | {chart:.2f} | {nav_s} | "
                  f"{reorder * 1000:.0f} |", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
