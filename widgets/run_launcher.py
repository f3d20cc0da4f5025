"""Run launcher: execute a parameterized pipeline notebook with papermill in a background
subprocess and show its progress live (cells done / total, last log lines).

The executed notebook is written to ``<project>/.studio/runs/`` - the reproducible record
of the run.
"""

from __future__ import annotations

import ast
import html
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as w
import yaml
from pydantic import BaseModel

from studio_kit import resources
from studio_kit.errors import StudioError
from studio_kit.project.series_folder import Project
from studio_kit.settings import settings

NOTEBOOKS = resources.notebooks_dir()
_TQDM_RE = re.compile(r"(\d+)/(\d+) \[")


def notebooks_dir() -> Path:
    return settings().notebooks or NOTEBOOKS


def notebook_parameters(path: Path) -> dict[str, dict[str, Any]]:
    """Names and default source text of the assignments in a notebook's ``parameters``
    cell. Parsed with ``ast`` rather than ``papermill.inspect_notebook`` because importing
    papermill costs ~3 s in the surface's kernel (the subprocess run uses papermill itself).
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or "parameters" not in cell.get("metadata", {}).get(
                "tags", []):
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        out: dict[str, dict[str, Any]] = {}
        for node in ast.parse(src).body:
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
            for t in targets:
                if isinstance(t, ast.Name):
                    out[t.id] = {"name": t.id,
                                 "default": ast.get_source_segment(src, node.value)}
        return out
    return {}


def runnable_notebooks(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """Notebooks with a papermill ``parameters`` cell -> their parameters (name -> info)."""
    out = {}
    for nb in sorted((folder or notebooks_dir()).glob("*.ipynb")):
        try:
            params = notebook_parameters(nb)
        except (ValueError, SyntaxError, OSError, KeyError):  # not a usable notebook
            continue
        if params:
            out[nb.name] = params
    return out


class NotebookRun:
    """One papermill run in a subprocess; progress parsed from papermill's tqdm bar."""

    def __init__(self, notebook: Path, output: Path, parameters: dict[str, Any], *,
                 cwd: Path | None = None, kernel: str | None = None) -> None:
        self.notebook, self.output, self.parameters = notebook, output, parameters
        self.cwd = cwd or notebook.parent
        self.kernel = kernel
        self.done = 0
        self.total = 0
        self.lines: list[str] = []
        self.status = "pending"
        self.returncode: int | None = None
        self.started = 0.0
        self.seconds = 0.0
        self._listeners: list[Callable[[NotebookRun], None]] = []
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def on_update(self, fn: Callable[[NotebookRun], None]) -> None:
        self._listeners.append(fn)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "papermill", str(self.notebook), str(self.output),
               "-y", yaml.safe_dump(self.parameters), "--progress-bar", "--log-output",
               "--cwd", str(self.cwd)]
        if self.kernel:
            cmd += ["-k", self.kernel]
        return cmd

    def start(self) -> NotebookRun:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.started = time.monotonic()
        self.status = "running"
        self._proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, env=env, cwd=self.cwd)
        self._thread = threading.Thread(target=self._pump, daemon=True,
                                        name=f"papermill-{self.notebook.stem}")
        self._thread.start()
        self._emit()
        return self

    def _pump(self) -> None:
        assert self._proc and self._proc.stdout
        buf = b""
        while True:
            chunk = self._proc.stdout.read1(4096) if hasattr(self._proc.stdout, "read1") \
                else self._proc.stdout.read(1)
            if not chunk:
                break
            buf += chunk
            parts = re.split(rb"[\r\n]", buf)
            buf = parts.pop()
            changed = False
            for raw in parts:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                m = _TQDM_RE.search(line)
                if m and ("Executing" in line or "cell" in line):
                    self.done, self.total = int(m.group(1)), int(m.group(2))
                else:
                    self.lines.append(line)
                    self.lines = self.lines[-200:]
                changed = True
            if changed:
                self.seconds = time.monotonic() - self.started
                self._emit()
        self.returncode = self._proc.wait()
        self.seconds = time.monotonic() - self.started
        self.status = "ok" if self.returncode == 0 else "failed"
        if self.returncode == 0 and self.total:
            self.done = self.total
        self._emit()

    def _emit(self) -> None:
        for fn in self._listeners:
            try:
                fn(self)
            except Exception:  # a display problem must not kill the run's reader
                pass

    def wait(self, timeout: float | None = None) -> str:
        if self._thread:
            self._thread.join(timeout)
        return self.status

    def cancel(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()


def parse_parameters(raw: dict[str, str], known: dict[str, Any]) -> dict[str, Any]:
    """Form text -> typed parameters (YAML scalars); unknown names are errors."""
    out: dict[str, Any] = {}
    for name, text in raw.items():
        if name not in known:
            raise StudioError(f"unknown parameter {name!r}", field=name,
                              hint=f"parameters: {', '.join(known)}")
        if text.strip() == "":
            continue
        default = str((known[name] or {}).get("default") or "")
        if default[:1] in ("'", '"'):  # a string parameter stays text ("01" is not 1)
            out[name] = text
            continue
        try:
            out[name] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise StudioError(f"{name}: {text!r} is not a value", field=name,
                              hint="write a number, true/false, or text") from None
    return out


PROJECT_PARAMS = ("project", "project_dir", "project_path", "project_root")


def _is_path_param(name: str) -> bool:
    return name in PROJECT_PARAMS or name in ("out", "output") or name.endswith(
        ("_dir", "_path", "_file", "_folder"))


def confine_paths(params: dict[str, Any], project: Project) -> dict[str, Any]:
    """Path parameters made absolute and kept to the served project: a ``project`` other
    than it, or an output folder outside it, is refused (the launcher renders the project
    this surface serves, nothing else on the machine). Relative paths are taken from the
    project folder."""
    root = project.root.resolve()
    out = dict(params)
    for name, value in params.items():
        if not _is_path_param(name) or not isinstance(value, str):
            continue
        path = Path(value).expanduser()
        path = (path if path.is_absolute() else root / path).resolve()
        if name in PROJECT_PARAMS:
            if path != root:
                raise StudioError(f"{name}: this launcher runs only the served project "
                                  f"{root}, not {value!r}", field=name,
                                  hint=f"serve the other project: studio serve {value}")
        elif path != root and root not in path.parents:
            raise StudioError(f"{name}: {value!r} is outside the project folder {root}",
                              field=name, hint=f"use a folder inside it, e.g. {root / 'out'}")
        out[name] = str(path)
    return out


# a notebook parameter holding a pydantic model as JSON -> the model its controls edit
OPTION_MODELS: dict[str, str] = {"options_json": "studio_kit.pipeline:RenderOptions"}


def _option_model(name: str) -> type[BaseModel] | None:
    ref = OPTION_MODELS.get(name)
    if ref is None:
        return None
    import importlib

    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def _choices(field: str) -> list[str] | None:
    """The values a choice field takes ('' = the series/routing default)."""
    if field == "engine":
        from studio_kit.registry import ENGINES

        try:
            return ["", *ENGINES.names()]
        except StudioError:
            return None
    if field == "tier":
        from studio_kit.models import Tier

        return ["", *(t.value for t in Tier)]
    return None


def option_controls(model: type[BaseModel], values: dict[str, Any]) -> dict[str, w.Widget]:
    """One validated control per field of ``model`` (a checkbox for a flag, a menu for a
    choice, a bounded number for a bounded count, text otherwise), set to ``values`` (else
    the field's default). CSS class ``param-<field>``."""
    out: dict[str, w.Widget] = {}
    style, layout = {"description_width": "120px"}, w.Layout(width="520px")
    for name, f in model.model_fields.items():
        value = values.get(name, f.default)
        ann = f.annotation
        tip = f.description or ""
        if ann is bool:
            c: w.Widget = w.Checkbox(value=bool(value), description=name, indent=False)
        elif (choices := _choices(name)) is not None:
            v = "" if value is None else str(getattr(value, "value", value))
            c = w.Dropdown(options=choices if v in choices else [*choices, v], value=v,
                           description=name, style=style, layout=layout)
        elif ann is int:
            lo = next((m.ge for m in f.metadata if getattr(m, "ge", None) is not None), 0)
            hi = next((m.le for m in f.metadata if getattr(m, "le", None) is not None), 10**6)
            c = w.BoundedIntText(value=int(value), min=lo, max=hi, description=name,
                                 style=style, layout=layout)
        else:  # optional numbers (blank = the series' value), lists as comma-separated text
            text = "" if value is None else (", ".join(map(str, value))
                                             if isinstance(value, list) else str(value))
            c = w.Text(value=text, description=name, style=style, layout=layout,
                       placeholder="(series default)")
        c.tooltip = tip
        c.add_class(f"param-{name}")
        out[name] = c
    return out


def option_values(model: type[BaseModel], controls: dict[str, w.Widget],
                  param: str) -> str:
    """The controls' values validated by ``model``, as the JSON the notebook reads
    (only what differs from the defaults); a bad value is a ``StudioError`` naming it."""
    from pydantic import ValidationError

    data: dict[str, Any] = {}
    for name, c in controls.items():
        v = c.value
        if isinstance(v, str):
            v = v.strip()
            if v == "":
                continue
            ann = str(model.model_fields[name].annotation)
            if "list" in ann:
                v = [x.strip() for x in v.split(",") if x.strip()]
        data[name] = v
    try:
        opts = model.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        field = ".".join(map(str, e["loc"])) or param
        raise StudioError(f"{field}: {e['msg']} (got {e.get('input')!r})", field=field,
                          hint=model.model_fields[str(e["loc"][0])].description
                          if e["loc"] and str(e["loc"][0]) in model.model_fields
                          else f"see {model.__name__}") from None
    return opts.model_dump_json(exclude_defaults=True)


class RunLauncher(w.VBox):
    """Pick a notebook and an episode, set parameters, Start; progress updates live."""

    def __init__(self, project: Project, notebook: str = "render_episode.ipynb",
                 defaults: dict[str, Any] | None = None) -> None:
        self.project = project
        self.available = runnable_notebooks()
        self.defaults = defaults or {}
        names = sorted(self.available)
        self.notebook = w.Dropdown(options=names,
                                   value=notebook if notebook in names else
                                   (names[0] if names else None), description="Notebook")
        self.notebook.add_class("studio-run-notebook")
        self.params_box = w.VBox([])
        self.param_fields: dict[str, w.Text] = {}
        self.start_button = w.Button(description="Start run", button_style="primary",
                                     disabled=not names)
        self.start_button.add_class("studio-run-start")
        self.progress = w.IntProgress(min=0, max=1, value=0, description="Cells")
        self.progress.add_class("studio-run-progress")
        self.state_html = w.HTML("<span class='studio-run-state'>idle</span>")
        self.log_view = w.HTML("")
        self.run: NotebookRun | None = None
        self.on_finished: list[Callable[[], None]] = []
        self.notebook.observe(lambda _c: self._fields(), names="value")
        self.start_button.on_click(lambda _b: self.start())
        self._fields()
        super().__init__([w.HTML("<h3>Run launcher</h3>"), self.notebook, self.params_box,
                          w.HBox([self.start_button, self.progress, self.state_html]), self.log_view])
        self.add_class("studio-run-launcher")
        if not names:
            self.state_html.value = ("<i>No parameterized notebooks found in "
                                f"{html.escape(str(notebooks_dir()))}.</i>")

    def _value_for(self, name: str, info: dict[str, Any]) -> str:
        if name in self.defaults:
            return str(self.defaults[name])
        if name in ("project", "project_dir", "project_path", "project_root"):
            return str(self.project.root)
        if name in ("out_dir", "output_dir"):
            return str(self.project.root / "out")
        if name == "episode" and self.project.episodes:
            return sorted(self.project.episodes)[0]
        default = info.get("default")
        return "" if default in (None, "None") else str(default).strip("'\"")

    def _fields(self) -> None:
        params = self.available.get(self.notebook.value or "", {})
        self.param_fields = {}
        self.option_fields: dict[str, dict[str, w.Widget]] = {}
        rows = []
        for name, info in params.items():
            model = _option_model(name)
            if model is not None:  # e.g. the render's options: one control per option
                given = self.defaults.get(name)
                try:
                    values = given if isinstance(given, dict) else \
                        json.loads(self._value_for(name, info) or "{}")
                except ValueError:
                    values = {}
                controls = option_controls(model, values if isinstance(values, dict) else {})
                self.option_fields[name] = controls
                rows += list(controls.values())
                continue
            t = w.Text(value=self._value_for(name, info), description=name,
                       style={"description_width": "120px"}, layout=w.Layout(width="520px"))
            t.add_class(f"param-{name}")
            self.param_fields[name] = t
            rows.append(t)
        self.params_box.children = rows

    def parameters(self) -> dict[str, Any]:
        params = self.available.get(self.notebook.value or "", {})
        out = parse_parameters({k: v.value for k, v in self.param_fields.items()}, params)
        for name, controls in self.option_fields.items():
            out[name] = option_values(_option_model(name), controls, name)
        return confine_paths(out, self.project)

    def start(self) -> NotebookRun | None:
        if self.run and self.run.status == "running":
            return self.run
        try:
            params = self.parameters()
        except StudioError as err:
            self.state_html.value = ("<span class='studio-run-error' style='color:#b00020'>"
                                     f"{html.escape(str(err))}</span>")
            return None
        nb = notebooks_dir() / self.notebook.value
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        label = str(params.get("episode", "")).strip() or "run"
        out = self.project.studio_dir / "runs" / f"{nb.stem}-{label}-{stamp}.ipynb"
        self.run = NotebookRun(nb, out, params, cwd=nb.parent)
        self.run.on_update(self._show)
        self.start_button.disabled = True
        self.run.start()
        return self.run

    def _show(self, run: NotebookRun) -> None:
        self.progress.max = max(run.total, 1)
        self.progress.value = run.done
        colour = {"ok": "#1b5e20", "failed": "#b00020"}.get(run.status, "#333")
        self.state_html.value = (f"<span class='studio-run-state' data-status='{run.status}' "
                            f"style='color:{colour}'>{run.status}: {run.done}/{run.total} "
                            f"cells, {run.seconds:.1f} s</span>")
        tail = "\n".join(run.lines[-8:])
        self.log_view.value = f"<pre style='font-size:11px;max-height:160px'>{html.escape(tail)}</pre>"
        if run.status != "running":
            self.start_button.disabled = False
            if run.status == "ok":
                self.log_view.value += (f"<div>record: {html.escape(str(run.output))}</div>")
            for fn in self.on_finished:
                fn()
