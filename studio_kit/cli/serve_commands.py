"""``studio serve``: the studio surfaces (Voila over notebooks/) on 127.0.0.1.

The server is Voila run through ``widgets.voila_server.launch`` (``python -m
widgets.voila_server``: the Voila/tornado side lives with the UI, not in studio_kit),
which adds what a shared machine needs and Voila's own app lacks:

- the token comes from the environment (``STUDIO_VOILA_TOKEN``, removed before any kernel
  starts), never from the command line (``ps`` shows every user the arguments);
- the access log names the path without the query string's token;
- only ``Host: 127.0.0.1[:port]`` / ``localhost[:port]`` is answered (DNS rebinding);
- the login and XSRF cookies are ``SameSite=Strict``;
- a kernel whose page closed (its last websocket went away) is shut down after a short
  grace, and kernels idle without a page are culled (``MappingKernelManager.cull_*``).

``studio serve`` keeps its Jupyter data (the offline template) and Voila's connection files
in a private ``mkdtemp`` folder (0700, unpredictable name), removed on exit; it checks the
port before starting and prints the URLs only once the server answers on it; SIGTERM /
SIGINT / SIGHUP stop Voila's process group and every kernel it started.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from .. import resources
from ..errors import StudioError
from ..project.series_folder import Project
from ..settings import reveal, settings
from ..store.yamlio import atomic_write_text
from . import app, console

NOTEBOOKS = resources.notebooks_dir()
SURFACES = ("command_center", "project_builder", "talent_roster", "scene_workshop",
            "episode_bay", "edit_suite", "asset_vault", "feature_bay", "distribution_hub")
TEMPLATE = "studio"
TOKEN_ENV = "STUDIO_VOILA_TOKEN"  # server only: popped by launch() before kernels start
#: a page's kernel is shut down this long after its last websocket closed (a reload
#: reconnects within a second or two, and gets a new kernel anyway)
KERNEL_GRACE_S = 10.0
#: kernels with no page at all (never connected, or left behind) are culled after this
CULL_IDLE_S = 120
CULL_INTERVAL_S = 15
FILE_ALLOWLIST = r".*\.(png|jpg|jpeg|svg|css|js|wav)"


def private_dir() -> Path:
    """A fresh folder only this user can enter (mkdtemp: 0700, unpredictable name)."""
    return Path(tempfile.mkdtemp(prefix="studio-serve-"))


def offline_template_dir(data: Path | None = None) -> Path:
    """A Jupyter data dir holding the ``studio`` Voila template: Voila's ``lab`` template
    minus its two Font Awesome stylesheet links to cdn.jsdelivr.net (offline, they only
    fail with console errors). Generated from the installed template so it follows Voila
    upgrades, into ``data`` (default: a new private folder); returns the data dir to put
    first on JUPYTER_PATH. ``data`` must be owned by this user and closed to others: it is
    trusted for templates, so a folder someone else could write to is refused."""
    from jupyter_core.paths import jupyter_path

    src = next((Path(d) / "voila" / "templates" / "lab" / "index.html.j2"
                for d in jupyter_path() if (Path(d) / "voila/templates/lab/index.html.j2")
                .is_file()), None)
    if src is None:
        raise StudioError("Voila's lab template is not installed",
                          hint='pip install "studio-kit[ui]" (Voila is in the ui extra)')
    data = private_dir() if data is None else Path(data)
    st = data.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise StudioError(f"refusing to use {data} for Voila templates: it is not a private "
                          "folder of this user", file=data,
                          hint="use a folder made by tempfile.mkdtemp (mode 0700)")
    dest = data / "voila" / "templates" / TEMPLATE
    dest.mkdir(parents=True, exist_ok=True)
    text = "\n".join(line for line in src.read_text().splitlines()
                     if "cdn.jsdelivr.net" not in line)
    atomic_write_text(dest / "index.html.j2", text + "\n")
    atomic_write_text(dest / "conf.json", json.dumps({"base_template": "lab"}))
    return data


def voila_command(notebooks: Path, port: int, python: str | None = None, *,
                  runtime_dir: Path | None = None, cull_idle: int = CULL_IDLE_S,
                  cull_interval: int = CULL_INTERVAL_S,
                  kernel_grace: float = KERNEL_GRACE_S) -> list[str]:
    """The server's command line: loopback only, no secret in it (the token, if any, is
    ``STUDIO_VOILA_TOKEN`` in the environment, see ``serve_env``)."""
    cmd = [python or sys.executable, "-m", "widgets.voila_server", str(notebooks),
           "--no-browser", f"--template={TEMPLATE}",
           f"--port={port}", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0",
           "--show_tracebacks=False",
           f"--VoilaConfiguration.file_allowlist={FILE_ALLOWLIST}",
           # HoloViz's JupyterLab extension needs JupyterLab's document manager, which the
           # Voila page lacks: it only throws a console error there. Panel renders through
           # jupyter_bokeh's widget instead (comms='ipywidgets', see panel_setup).
           "--VoilaConfiguration.extension_denylist=@pyviz/jupyterlab_pyviz",
           # one kernel per page, started on request: no preheated pool of idle kernels
           "--VoilaConfiguration.preheat_kernel=False",
           f"--MappingKernelManager.cull_idle_timeout={cull_idle}",
           f"--MappingKernelManager.cull_interval={cull_interval}",
           "--MappingKernelManager.cull_connected=False",
           "--MappingKernelManager.cull_busy=False",
           f"--StudioVoila.kernel_grace={kernel_grace}"]
    if runtime_dir is not None:
        cmd.append(f"--Voila.connection_dir_root={runtime_dir}")
    return cmd


def serve_env(project: Path, token: str | None, data_dir: Path,
              base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the server and its kernels: the project, the token (server only),
    Panel/Bokeh offline, the private template folder first on JUPYTER_PATH."""
    env = dict(os.environ if base is None else base)
    env.pop("STUDIO_TOKEN", None)  # the kernels never see a token
    env[TOKEN_ENV] = token or ""
    env["STUDIO_PROJECT"] = str(project)
    env["BOKEH_RESOURCES"] = "inline"  # no CDN: Bokeh/Panel JS is embedded (STACK.md)
    env.setdefault("STUDIO_PROJECTS_DIR", str(project.parent))
    # the offline template first, then the venv's data (its python3 kernelspec runs this
    # interpreter, so kernels find studio_kit on a fresh machine too)
    paths = [str(offline_template_dir(data_dir)), str(Path(sys.prefix) / "share" / "jupyter")]
    if env.get("JUPYTER_PATH"):
        paths.append(env["JUPYTER_PATH"])
    env["JUPYTER_PATH"] = os.pathsep.join(paths)
    return env


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(port: int, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    """Until the server answers HTTP on ``port``; a server that exits first is an error."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise StudioError(f"the Voila server exited (code {proc.returncode}) before it "
                              f"served port {port}", hint="see its messages above")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers (401/403/404 are answers)
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise StudioError(f"the Voila server did not answer on port {port} within "
                              f"{timeout:.0f} s", hint="the machine may be overloaded; retry")
        time.sleep(0.3)


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (the kernels of one server name its
    private connection-file folder)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    "utf-8", "replace"):
                out.append(int(entry.name))
        except OSError:
            continue
    return out


def stop_server(proc: subprocess.Popen, runtime_dir: Path, timeout: float = 15.0) -> None:
    """SIGTERM Voila's process group (Voila shuts its kernels down), wait, SIGKILL what is
    left, then end any kernel of this server still running (kernels have their own
    sessions, so they are found by the private folder their command line names)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # helpers left in the group
    left = _pids_mentioning(str(runtime_dir))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            left = [p for p in left if Path(f"/proc/{p}").exists()
                    and "Z" not in _proc_state(p)]
            if not left:
                return
            time.sleep(0.1)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


@app.command()
def serve(project: Path = typer.Argument(Path("samples/lighthouse"), help="Series folder"),
          port: int = typer.Option(8866, help="Port on 127.0.0.1 (0: any free port)"),
          no_token: bool = typer.Option(False, "--no-token",
                                        help="Disable token auth (local development only)"),
          notebooks: Path = typer.Option(NOTEBOOKS, help="Folder of surface notebooks"),
          cull_idle: int = typer.Option(CULL_IDLE_S, help="Seconds before a kernel without "
                                        "a page is shut down"),
          kernel_grace: float = typer.Option(KERNEL_GRACE_S, help="Seconds a closed page's "
                                             "kernel waits for the page to come back")) -> None:
    """Serve the studio surfaces (command center, builder, talent roster, scene workshop)."""
    root = Project.load(project).root  # fail early, with file/line, on a broken project
    if not notebooks.is_dir():
        raise StudioError("no notebooks folder", file=notebooks,
                          hint="pass --notebooks pointing at the studio's notebooks/")
    if importlib.util.find_spec("voila") is None:
        raise StudioError("studio serve needs the surfaces' extra (Voila, Panel, ipywidgets)",
                          hint='pip install "studio-kit[ui]"')
    if port and not port_free(port):
        chosen = free_port()
        console.print(f"[yellow]port {port} is in use on 127.0.0.1; serving on {chosen} "
                      "instead[/]", highlight=False)
        port = chosen
    elif not port:
        port = free_port()
    token = None if no_token else reveal(settings().token) or secrets.token_urlsafe(24)
    private = private_dir()
    runtime = private / "runtime"
    runtime.mkdir(mode=0o700)
    proc: subprocess.Popen | None = None
    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopping.append(signum)
        raise KeyboardInterrupt

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        data = private / "data"
        data.mkdir(mode=0o700)
        env = serve_env(root, token, data)
        proc = subprocess.Popen(
            voila_command(notebooks, port, runtime_dir=runtime, cull_idle=cull_idle,
                          kernel_grace=kernel_grace),
            env=env, cwd=notebooks, start_new_session=True)
        wait_until_serving(port, proc)
        query = _token_query(token, from_env=settings().token is not None,
                             folder=private)
        console.print(f"[green]serving[/] {root} on http://127.0.0.1:{port}/", highlight=False)
        for name in SURFACES:
            console.print(f"  http://127.0.0.1:{port}/voila/render/{name}.ipynb{query}",
                          soft_wrap=True, highlight=False)
        code = proc.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if proc is not None:
            stop_server(proc, runtime)
        shutil.rmtree(private, ignore_errors=True)
    if stopping:
        console.print("stopped: the server and its kernels are shut down")
    raise SystemExit(code)


@dataclasses.dataclass
class RunningServer:
    """A ``studio serve`` started by ``running_server``: its URL, token and process."""

    url: str
    port: int
    token: str | None
    proc: subprocess.Popen
    output: list[str]


@contextlib.contextmanager
def running_server(project: Path, *, token: str | None, port: int = 0,
                   env: dict[str, str] | None = None, log: Path | None = None,
                   timeout: float = 120.0, args: list[str] | None = None,
                   ) -> Iterator[RunningServer]:
    """Run the real ``studio serve`` command (for tests and benchmarks) until the block
    ends, then SIGTERM it and wait. ``output`` collects its console lines (also written to
    ``log``)."""
    import threading

    cmd = [sys.executable, "-m", "studio_kit.cli", "serve", str(project), f"--port={port}",
           *(args or [])]
    if token is None:
        cmd.append("--no-token")
    full_env = dict(os.environ if env is None else env)
    full_env.pop("STUDIO_TOKEN", None)
    if token:
        full_env["STUDIO_TOKEN"] = token
    full_env.setdefault("COLUMNS", "300")  # one URL per line in the console output
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    output: list[str] = []
    found = threading.Event()
    where: list[int] = []

    def pump() -> None:
        assert proc.stdout is not None
        with open(log, "a", encoding="utf-8") if log else contextlib.nullcontext() as fh:
            for line in proc.stdout:
                output.append(line.rstrip("\n"))
                if fh:
                    fh.write(line)
                    fh.flush()
                m = re.search(r"serving .* on http://127\.0\.0\.1:(\d+)/", line)
                if m and not where:
                    where.append(int(m.group(1)))
                    found.set()
        found.set()

    threading.Thread(target=pump, daemon=True, name="studio-serve-output").start()
    try:
        if not found.wait(timeout) or not where:
            raise StudioError("studio serve did not start:\n" + "\n".join(output[-40:]),
                              hint="read the server output above; is the port free?")
        yield RunningServer(f"http://127.0.0.1:{where[0]}", where[0], token, proc, output)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _token_query(token: str | None, *, from_env: bool, folder: Path) -> str:
    """The ``?token=`` part of the printed URLs. The token is shown only on a terminal:
    output that goes to a file or a pipe (a log) never carries it. Then a token from
    $STUDIO_TOKEN is named by the variable, a generated one is written to a 0600 file."""
    if not token:
        return ""
    if sys.stdout.isatty():
        return f"?token={token}"
    if from_env:
        console.print("(the token is the value of $STUDIO_TOKEN)")
        return "?token=$STUDIO_TOKEN"
    path = folder / "token"
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write(token + "\n")
    console.print(f"(the token is in {path}, readable only by you, removed when the server "
                  "stops)", highlight=False)
    return "?token=$(cat " + str(path) + ")"


# -- shared with the server process (python -m widgets.voila_server ...) -----------
_LOCAL_HOST_RE = re.compile(r"^(127\.0\.0\.1|localhost|\[::1\])(:(\d+))?$", re.IGNORECASE)
_TOKEN_RE = re.compile(r"(token=)[^&;#\s]*", re.IGNORECASE)


def host_allowed(host: str, port: int) -> bool:
    """Only loopback names (with this server's port, or none) are answered."""
    m = _LOCAL_HOST_RE.match(host or "")
    return bool(m) and (m.group(3) is None or int(m.group(3)) == port)


def scrub(uri: str) -> str:
    return _TOKEN_RE.sub(r"\1[secret]", uri)
