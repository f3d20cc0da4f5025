"""The wheel works outside a checkout: built from a copy of the source tree, installed
into a fresh venv in a temporary folder, and run from another temporary folder.

Offline: the wheel is built with ``--no-build-isolation`` (setuptools and wheel from this
environment) and installed with ``--no-deps --no-index``; the fresh venv borrows the
dependencies through a ``.pth`` line naming this environment's site-packages (a plain path:
the ``.pth`` files there, among them this checkout's editable install, are not processed,
so studio_kit can only come from the fresh venv). JUPYTER_PATH names this environment's
share/jupyter, which a real ``pip install studio-kit`` fills in the fresh venv itself
(Voila's templates, the widget extensions).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from studio_kit import resources
from studio_kit.errors import StudioError

ROOT = Path(__file__).resolve().parents[1]
#: what the build reads: the metadata, the build step, the packages and the shipped folders
SOURCE = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "studio_kit", "widgets",
          *resources.FOLDERS)
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".studio", "out", ".ipynb_checkpoints",
                              "*.egg-info", "build", "_bundled")


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300,
         ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if ok and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


class Installed:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.venv = base / "venv"
        self.bin = self.venv / "bin"
        self.python = self.bin / "python"
        self.studio = self.bin / "studio"
        self.cwd = base / "work"
        self.wheel: Path | None = None
        self.site: Path | None = None
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")
               and not k.startswith("STUDIO_")}
        env.update(PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
                   VIRTUAL_ENV=str(self.venv), COLUMNS="300", PYTHONNOUSERSITE="1",
                   JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"))
        self.env = env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    inst = Installed(tmp_path_factory.mktemp("wheel-install"))
    src, dist = inst.base / "src", inst.base / "dist"
    src.mkdir()
    for name in SOURCE:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=SKIP)
        else:
            shutil.copy2(path, src / name)
    t0 = time.monotonic()
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", str(dist), str(src)], cwd=inst.base, env=inst.env)
    (inst.wheel,) = dist.glob("studio_kit-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", str(inst.venv)], cwd=inst.base,
         env=inst.env)
    # install before the dependencies are visible: pip then sees no other studio-kit
    _run([sys.executable, "-m", "pip", "--python", str(inst.python), "install", "-q",
          "--no-deps", "--no-index", str(inst.wheel)], cwd=inst.base, env=inst.env)
    inst.site = Path(_run([str(inst.python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          cwd=inst.base, env=inst.env).stdout.strip())
    (inst.site / "_studio_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    inst.cwd.mkdir()
    print(f"built and installed in {time.monotonic() - t0:.1f}s")
    return inst


def test_locator_uses_the_checkout_folders_when_run_from_one() -> None:
    assert resources.in_checkout()
    assert resources.notebooks_dir() == ROOT / "notebooks"
    assert resources.templates_dir() == ROOT / "templates"
    assert resources.sample_series() == ROOT / "samples" / "lighthouse"
    assert resources.notebook("render_episode.ipynb").is_file()
    with pytest.raises(ValueError, match="unknown shipped folder"):
        resources.folder("schema")
    with pytest.raises(StudioError, match="sample series not found"):
        resources.require(ROOT / "samples" / "no-such-series", "the sample series")


def test_wheel_carries_the_shipped_folders(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for folder in resources.FOLDERS:
        tracked = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True,
                                 text=True, check=True).stdout.split()
        assert tracked, folder
        missing = [f for f in tracked if f"studio_kit/_bundled/{f}" not in names
                   and (ROOT / f).exists()]
        assert missing == [], f"not in the wheel: {missing}"
    assert not [n for n in names if "/.studio/" in n or "__pycache__" in n]
    assert "studio_kit/resources.py" in names and "widgets/voila_server.py" in names


def test_studio_kit_is_imported_from_the_fresh_venv(installed: Installed) -> None:
    out = _run([str(installed.python), "-c",
                "import studio_kit, widgets, widgets.common as c\n"
                "from studio_kit import resources as r\n"
                "from studio_kit.surfaces.builder import list_genres\n"
                "print(studio_kit.__file__); print(widgets.__file__)\n"
                "print(r.in_checkout()); print(r.notebooks_dir()); print(c.DEFAULT_PROJECT)\n"
                "print(','.join(list_genres()))"],
               cwd=installed.cwd, env=installed.env).stdout.splitlines()
    site = installed.site.resolve()
    kit, ui, in_checkout, notebooks, project, genres = out
    assert Path(kit).resolve().is_relative_to(site), kit
    assert Path(ui).resolve().is_relative_to(site), ui
    assert not Path(kit).resolve().is_relative_to(ROOT)
    assert in_checkout == "False"
    assert Path(notebooks) == site / "studio_kit" / "_bundled" / "notebooks"
    assert Path(project) == site / "studio_kit" / "_bundled" / "samples" / "lighthouse"
    assert genres.split(",") == sorted(p.stem for p in (ROOT / "templates").glob("*.yaml"))


def test_studio_new_sample_outside_the_checkout(installed: Installed) -> None:
    _run([str(installed.studio), "new", "series", "--sample"], cwd=installed.cwd,
         env=installed.env)
    made = installed.cwd / "series"
    assert sorted(p.relative_to(made).as_posix() for p in made.rglob("*") if p.is_file()) \
        == sorted(p.relative_to(ROOT / "samples" / "lighthouse").as_posix()
                  for p in (ROOT / "samples" / "lighthouse").rglob("*")
                  if p.is_file() and ".studio" not in p.parts)
    proc = _run([str(installed.studio), "validate", "series"], cwd=installed.cwd,
                env=installed.env)
    out = proc.stdout + proc.stderr  # the CLI's console is stderr
    assert "ok" in out and "The Lighthouse at Kerbrat" in out


def test_studio_demo_small_outside_the_checkout(installed: Installed) -> None:
    proc = _run([str(installed.studio), "demo", "--out", "demo-out", "--width", "160",
                 "--height", "90"], cwd=installed.cwd, env=installed.env, timeout=600)
    master = installed.cwd / "demo-out" / "episode-01" / "episode-01.mp4"
    out = proc.stdout + proc.stderr
    assert master.is_file() and master.stat().st_size > 10_000, out[-2000:]
    assert "rendered episode 01" in out
    assert not (installed.site / "studio_kit" / "_bundled" / "samples" / "lighthouse"
                / ".studio").exists(), "the demo wrote its cache into the installed package"


def test_studio_serve_help_and_serve_outside_the_checkout(installed: Installed) -> None:
    bundled = installed.site / "studio_kit" / "_bundled" / "notebooks"
    help_text = _run([str(installed.studio), "serve", "--help"], cwd=installed.cwd,
                     env=installed.env).stdout
    assert "--notebooks" in help_text and str(bundled) in help_text, help_text
    series = installed.cwd / "served"
    _run([str(installed.studio), "new", str(series), "--sample"], cwd=installed.cwd,
         env=installed.env)
    proc = subprocess.Popen([str(installed.studio), "serve", str(series), "--port", "0",
                             "--no-token"], cwd=installed.cwd, env=installed.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    try:
        port = None
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"serving .* on http://127\.0\.0\.1:(\d+)/", line)
            port = int(m.group(1)) if m else None
        assert port, "studio serve did not start:\n" + "".join(lines)
        # keep reading the server's log so a full pipe never blocks it
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        url = f"http://127.0.0.1:{port}/voila/render/command_center.ipynb"
        with urllib.request.urlopen(url, timeout=120) as r:
            page = r.read().decode()
        (installed.base / "command_center.html").write_text(page)
        assert r.status == 200 and "Command center" in page, page[-2000:]
        # the surface ran in a kernel of the fresh venv: its widget is on the page, no error
        assert re.search(r'"application/vnd.jupyter.widget-view\+json".*"text/plain": '
                         r'"CommandCenter\(', page), page[-3000:]
        assert '"ename"' not in page and "Traceback" not in page, page[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_a_wheel_without_its_data_says_so(installed: Installed) -> None:
    samples = installed.site / "studio_kit" / "_bundled" / "samples"
    hidden = samples.with_name("samples.hidden")
    samples.rename(hidden)
    try:
        proc = _run([str(installed.studio), "new", "again", "--sample"], cwd=installed.cwd,
                    env=installed.env, ok=False)
    finally:
        hidden.rename(samples)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "the sample series not found" in text and "reinstall" in text, text
    assert "Traceback" not in text


def test_serve_without_the_ui_extra_says_which_extra(monkeypatch, tmp_path, capsys) -> None:
    import importlib.util

    from studio_kit.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "voila" else real(name, *a))
    shutil.copytree(ROOT / "samples" / "lighthouse", tmp_path / "series",
                    ignore=shutil.ignore_patterns(".studio"))
    assert main(["serve", str(tmp_path / "series"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "needs the surfaces' extra" in err and 'pip install "studio-kit[ui]"' in err, err


def test_lock_file_pins_every_declared_dependency() -> None:
    """requirements.lock (bash scripts/lock.sh) satisfies pyproject.toml: every dependency
    of the core and of the ui, test and bench extras pinned, inside its bounds."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    lines = [ln.strip() for ln in (ROOT / "requirements.lock").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", ln) for ln in lines), \
        [ln for ln in lines if "==" not in ln or "://" in ln]
    pins = {canonicalize_name(n): Version(v) for n, v in (ln.split("==") for ln in lines)}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = project["dependencies"] + extras["ui"] + extras["test"] + extras["bench"]
    problems = []
    for req in map(Requirement, wanted):
        name = canonicalize_name(req.name)
        if name == canonicalize_name(project["name"]) or (req.marker and
                                                          not req.marker.evaluate()):
            continue
        if name not in pins:
            problems.append(f"{req}: not in the lock")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req}: locked at {pins[name]}")
    assert problems == [], "requirements.lock is stale (bash scripts/lock.sh): " + \
        "; ".join(problems)


def test_shipped_folders_are_located_only_through_resources() -> None:
    """A path built from ``__file__`` to notebooks/, templates/ or samples/ breaks in a wheel
    (the folders are in studio_kit/_bundled/ there): studio_kit.resources is the one way."""
    pattern = re.compile(r"__file__\)?(\.resolve\(\))?\.parents?\[?\d*\]?[^\n]*"
                         r"""["'](notebooks|templates|samples)["']""")
    offenders = [f"{p.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}"
                 for top in ("studio_kit", "widgets") for p in sorted((ROOT / top).rglob("*.py"))
                 if p.name != "resources.py"
                 for text in [p.read_text()] for m in pattern.finditer(text)]
    assert offenders == [], "use studio_kit.resources: " + ", ".join(offenders)
    import ast

    tree = ast.parse((ROOT / "setup.py").read_text())
    bundled = next(ast.literal_eval(node.value) for node in tree.body
                   if isinstance(node, ast.Assign)
                   and getattr(node.targets[0], "id", None) == "BUNDLED_FOLDERS")
    assert bundled == resources.FOLDERS, "setup.py bundles other folders than resources finds"
