"""Where the studio's shipped folders are: the surface notebooks, the genre templates and
the sample series.

In a checkout they are the top-level ``notebooks/``, ``templates/`` and ``samples/``
beside ``studio_kit/`` (edited in place, so the checkout's copy always wins). A built
wheel carries a copy of the same folders as package data under ``studio_kit/_bundled/``
(``setup.py``'s ``build_py`` step copies them at build time), so an installed studio finds
them there. The Voila page template is not among them: ``studio serve`` derives it at
start from the installed Voila's own ``lab`` template (``offline_template_dir``), so it
follows Voila upgrades.

Only paths are computed here (no I/O beyond ``is_dir``/``is_file``), so modules can keep
them as import-time defaults; ``require`` turns a missing folder into a StudioError.
"""

from __future__ import annotations

from pathlib import Path

from .errors import StudioError

PACKAGE = Path(__file__).resolve().parent
#: the checkout root, when studio_kit/ is imported from one (a source tree has pyproject.toml)
CHECKOUT = PACKAGE.parent
#: where a wheel keeps the folders (see setup.py)
BUNDLED = PACKAGE / "_bundled"
#: the top-level folders shipped as package data, by name
FOLDERS = ("notebooks", "templates", "samples")
SAMPLE_SERIES = "lighthouse"


def in_checkout() -> bool:
    """True when studio_kit/ is imported from a source tree (editable install or PYTHONPATH),
    not from an installed wheel."""
    return (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "studio_kit").is_dir()


def folder(name: str) -> Path:
    """One of the shipped folders: the checkout's when running from a checkout that has it,
    else the installed package's copy (which may be missing in a broken install: see
    ``require``)."""
    if name not in FOLDERS:
        raise ValueError(f"unknown shipped folder {name!r} (one of {', '.join(FOLDERS)})")
    if in_checkout() and (CHECKOUT / name).is_dir():
        return CHECKOUT / name
    return BUNDLED / name


def notebooks_dir() -> Path:
    """The surface and render notebooks (``*.ipynb``)."""
    return folder("notebooks")


def notebook(name: str) -> Path:
    """One notebook by file name, e.g. ``render_episode.ipynb``."""
    return notebooks_dir() / name


def templates_dir() -> Path:
    """The builder's genre templates (``<genre>.yaml``)."""
    return folder("templates")


def samples_dir() -> Path:
    return folder("samples")


def sample_series(name: str = SAMPLE_SERIES) -> Path:
    """A sample series folder (default: the Lighthouse series ``studio demo`` renders)."""
    return samples_dir() / name


def require(path: Path, what: str = "studio data folder") -> Path:
    """``path`` if it exists, else a StudioError saying the install lacks it."""
    if path.exists():
        return path
    hint = ("this checkout is missing it: restore it from git" if in_checkout() else
            "the installed studio-kit has no package data: reinstall it from a wheel built "
            "by `pip wheel .` (setup.py bundles notebooks/, templates/ and samples/)")
    raise StudioError(f"{what} not found", file=path, hint=hint)
