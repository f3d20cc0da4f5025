"""``studio serve``: the studio surfaces (Voila over notebooks/) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

from ..errors import StudioError
from ..project import Project
from ..yamlio import atomic_write_text
from . import app, console

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SURFACES = ("command_center", "project_builder", "talent_roster", "scene_workshop")


TEMPLATE = "studio"


def offline_template_dir() -> Path:
    """A Jupyter data dir holding the ``studio`` Voila template: Voila's ``lab`` template
    minus its two Font Awesome stylesheet links to cdn.jsdelivr.net (offline, they only
    fail with console errors). Generated from the installed template so it follows Voila
    upgrades; returns the data dir to put first on JUPYTER_PATH."""
    from jupyter_core.paths import jupyter_path

    src = next((Path(d) / "voila" / "templates" / "lab" / "index.html.j2"
                for d in jupyter_path() if (Path(d) / "voila/templates/lab/index.html.j2")
                .is_file()), None)
    if src is None:
        raise StudioError("Voila's lab template is not installed",
                          hint="pip install voila (it is a studio-kit dependency)")
    data = Path(tempfile.gettempdir()) / f"studio-voila-{os.getuid()}"
    dest = data / "voila" / "templates" / TEMPLATE
    dest.mkdir(parents=True, exist_ok=True)
    text = "\n".join(line for line in src.read_text().splitlines()
                     if "cdn.jsdelivr.net" not in line)
    atomic_write_text(dest / "index.html.j2", text + "\n")
    atomic_write_text(dest / "conf.json", json.dumps({"base_template": "lab"}))
    return data


def voila_command(notebooks: Path, port: int, token: str | None,
                  python: str | None = None) -> list[str]:
    """The Voila command line: loopback only, token auth unless ``token`` is None."""
    cmd = [python or sys.executable, "-m", "voila", str(notebooks), "--no-browser",
           f"--template={TEMPLATE}",
           f"--port={port}", "--Voila.ip=127.0.0.1", "--show_tracebacks=False",
           "--VoilaConfiguration.file_allowlist=['.*\\.(png|jpg|jpeg|svg|css|js|wav)']",
           # HoloViz's JupyterLab extension needs JupyterLab's document manager, which the
           # Voila page lacks: it only throws a console error there. Panel renders through
           # jupyter_bokeh's widget instead (comms='ipywidgets', see panel_setup).
           "--VoilaConfiguration.extension_denylist=['@pyviz/jupyterlab_pyviz']"]
    if token:
        cmd.append(f"--token={token}")
    else:
        cmd.append("--token=")
    return cmd


def serve_env(project: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the server and its kernels: the project, Panel/Bokeh offline."""
    env = dict(os.environ if base is None else base)
    env["STUDIO_PROJECT"] = str(project)
    env["BOKEH_RESOURCES"] = "inline"  # no CDN: Bokeh/Panel JS is embedded (STACK.md)
    env.setdefault("STUDIO_PROJECTS_DIR", str(project.parent))
    # the offline template first, then the venv's data (its python3 kernelspec runs this
    # interpreter, so kernels find studio_kit on a fresh machine too)
    paths = [str(offline_template_dir()), str(Path(sys.prefix) / "share" / "jupyter")]
    if env.get("JUPYTER_PATH"):
        paths.append(env["JUPYTER_PATH"])
    env["JUPYTER_PATH"] = os.pathsep.join(paths)
    return env


@app.command()
def serve(project: Path = typer.Argument(Path("samples/lighthouse"), help="Series folder"),
          port: int = typer.Option(8866, help="Port on 127.0.0.1"),
          no_token: bool = typer.Option(False, "--no-token",
                                        help="Disable token auth (local development only)"),
          notebooks: Path = typer.Option(NOTEBOOKS, help="Folder of surface notebooks")) -> None:
    """Serve the studio surfaces (command center, builder, talent roster, scene workshop)."""
    root = Project.load(project).root  # fail early, with file/line, on a broken project
    if not notebooks.is_dir():
        raise StudioError("no notebooks folder", file=notebooks,
                          hint="pass --notebooks pointing at the studio's notebooks/")
    token = None if no_token else os.environ.get("STUDIO_TOKEN") or secrets.token_urlsafe(24)
    cmd = voila_command(notebooks, port, token)
    query = f"?token={token}" if token else ""
    console.print(f"[green]serving[/] {root} on http://127.0.0.1:{port}/")
    for name in SURFACES:
        console.print(f"  http://127.0.0.1:{port}/voila/render/{name}.ipynb{query}",
                      soft_wrap=True, highlight=False)
    try:
        raise SystemExit(subprocess.call(cmd, env=serve_env(root)))
    except KeyboardInterrupt:
        raise SystemExit(0) from None
