"""Time to interactive of each studio surface.

Two measures per surface, on a copy of the sample series:

* **kernel**: a kernel is started and ready (not counted); then the surface notebook's code
  cells run in it (imports + building the widgets). This is "time to interactive after the
  kernel starts" - the goal is under 3 s.
* **browser**: a real Voila server and Debian's Chromium (when installed): navigation to the
  surface until its root widget is visible - the whole wait a reviewer sees, kernel start
  included.

Side by side: the command center with and without its HoloViews/Panel budget chart, and
reading notebook parameters with ``ast`` versus ``papermill.inspect_notebook`` (a fresh
interpreter each, so import costs count).

Run: ``.venv/bin/python -m bench.surfaces_bench``
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SURFACES = {"command_center": ".studio-command-center", "project_builder": ".studio-builder",
            "talent_roster": ".studio-talent-roster", "scene_workshop": ".studio-scene-workshop"}
REPEATS = 2


def _kernel_tti(code_cells: list[str], env: dict[str, str]) -> float:
    from jupyter_client.manager import start_new_kernel

    old = dict(os.environ)
    os.environ.update(env)
    try:
        km, kc = start_new_kernel(kernel_name="python3", cwd=str(NOTEBOOKS))
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        t0 = time.perf_counter()
        for src in code_cells:
            reply = kc.execute_interactive(src, timeout=120, output_hook=lambda _m: None)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"cell failed: {reply['content'].get('evalue')}")
        return time.perf_counter() - t0
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _cells(name: str) -> list[str]:
    import nbformat

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _fresh(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return time.perf_counter() - t0


def _browser_tti(project: Path, projects: Path) -> dict[str, float]:
    from studio_kit.cli.serve_commands import running_server

    if not Path("/usr/bin/chromium").exists():
        return {}
    from playwright.sync_api import sync_playwright
    out: dict[str, float] = {}
    with running_server(project, token="bench",
                        env={**os.environ, "STUDIO_PROJECTS_DIR": str(projects)}) as srv:
        port = srv.port
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            for name, sel in SURFACES.items():
                times = []
                for _ in range(REPEATS):
                    page = b.new_page()
                    t0 = time.perf_counter()
                    page.goto(f"http://127.0.0.1:{port}/voila/render/{name}.ipynb?token=bench",
                              timeout=180_000)
                    page.wait_for_selector(sel, timeout=180_000)
                    times.append(time.perf_counter() - t0)
                    page.close()
                out[name] = statistics.median(times)
            b.close()
    return out


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="surfaces-bench-"))
    try:
        project = tmp / "lighthouse"
        shutil.copytree(ROOT / "samples" / "lighthouse", project,
                        ignore=shutil.ignore_patterns(".studio", "out"))
        env = {"STUDIO_PROJECT": str(project), "STUDIO_PROJECTS_DIR": str(tmp / "projects"),
               "BOKEH_RESOURCES": "inline"}
        kernel = {name: statistics.median(_kernel_tti(_cells(name), env)
                                          for _ in range(REPEATS)) for name in SURFACES}
        no_chart = statistics.median(_kernel_tti([
            f"from widgets.command_center import CommandCenter\n"
            f"CommandCenter({str(project)!r}, chart=False)"], env) for _ in range(REPEATS))
        browser = _browser_tti(project, tmp / "projects")
        nb = str(NOTEBOOKS / "render_episode.ipynb")
        by_ast = _fresh("from pathlib import Path\nfrom widgets.run_launcher import "
                        f"notebook_parameters as f\nf(Path({nb!r}))")
        by_pm = _fresh(f"import papermill\npapermill.inspect_notebook({nb!r})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"median of {REPEATS}, 2-core machine; goal: under 3 s after the kernel starts\n")
    print("| surface | after kernel start (s) | browser, navigation to interactive (s) | goal met |")
    print("|---|---:|---:|---|")
    for name in SURFACES:
        b = f"{browser[name]:.2f}" if name in browser else "n/a (no chromium)"
        print(f"| {name} | {kernel[name]:.2f} | {b} | {'yes' if kernel[name] < 3 else 'no'} |")
    print("\n| approach | seconds | ratio |")
    print("|---|---:|---:|")
    cc = kernel["command_center"]
    print(f"| command center with HoloViews/Panel chart | {cc:.2f} | 1.00 |")
    print(f"| command center without chart | {no_chart:.2f} | {no_chart / cc:.2f} |")
    print(f"| parameters via papermill.inspect_notebook (fresh process) | {by_pm:.2f} | 1.00 |")
    print(f"| parameters via ast (fresh process) | {by_ast:.2f} | {by_ast / by_pm:.2f} |")


if __name__ == "__main__":
    main()
