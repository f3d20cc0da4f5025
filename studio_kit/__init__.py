"""studio_kit: the production pipeline around video generators, as a library.

The public API (everything else is reachable through its module, with no promise)::

    import studio_kit as sk

    project = sk.load_project("samples/lighthouse")       # a series folder (Project)
    result = sk.render_episode(project, "01", options=sk.RenderOptions(engine="local"))
    vault, ledger = project.vault(), project.ledger()      # sk.Vault, sk.Ledger
    sk.ENGINES.names()                                     # the plugin registries
    try: ...
    except sk.StudioError as err: print(err)               # every user mistake

``import studio_kit`` imports nothing else: each name is imported on first use (module
``__getattr__``, PEP 562), so the CLI, a notebook or a worker pays only for what it uses.
``__version__`` is the installed distribution's (``importlib.metadata``), else the
checkout's ``pyproject.toml`` version.
"""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False  # not typing's: importing typing would double the import's cost
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from .engines.base import Engine, EngineCapabilities, EngineRequest, EngineResult
    from .engines.factory import get_engine
    from .errors import StudioError
    from .pipeline import RenderOptions, RenderResult, render_episode
    from .project.series_folder import Project
    from .registry import ENGINES, EXPORTERS, SCORERS, TTS, Registry
    from .store.ledger import Ledger
    from .store.vault import Vault

#: public name -> the module it lives in (imported on first access)
_LAZY: dict[str, str] = {
    "Project": ".project.series_folder",
    "render_episode": ".pipeline",
    "RenderOptions": ".pipeline",
    "RenderResult": ".pipeline",
    "Vault": ".store.vault",
    "Ledger": ".store.ledger",
    "StudioError": ".errors",
    "Registry": ".registry",
    "ENGINES": ".registry",
    "TTS": ".registry",
    "SCORERS": ".registry",
    "EXPORTERS": ".registry",
    "Engine": ".engines.base",
    "EngineCapabilities": ".engines.base",
    "EngineRequest": ".engines.base",
    "EngineResult": ".engines.base",
    "get_engine": ".engines.factory",
}

__all__ = [
    "ENGINES", "EXPORTERS", "SCORERS", "TTS", "Engine", "EngineCapabilities", "EngineRequest",
    "EngineResult", "Ledger", "Project", "Registry", "RenderOptions", "RenderResult",
    "StudioError", "Vault", "__version__", "get_engine", "load_project", "render_episode",
]


def load_project(root: str | Path, *, check_references: bool = True) -> Project:
    """The series folder at ``root`` (``Project.load``): validated, a StudioError naming
    the file and field when something is wrong."""
    from .project.series_folder import Project

    return Project.load(root, check_references=check_references)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("studio-kit")
    except PackageNotFoundError:  # a source checkout on sys.path, not installed
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
                       ["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
