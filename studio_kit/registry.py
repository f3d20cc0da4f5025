"""One registry for every kind of plugin: engines, TTS voices, scorers, exporters.

Plugins register by name with a decorator; callers look them up by name. Built-in plugins
live in the packages listed in ``_BUILTINS``; every module in them is imported on the first
lookup (so importing studio_kit stays cheap, and adding a plugin is adding a module).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import StudioError

T = TypeVar("T")

_BUILTINS: dict[str, str] = {
    "engine": "studio_kit.engines",
    "tts": "studio_kit.audio.tts",
    "scorer": "studio_kit.qc",
    "exporter": "studio_kit.exporters",
    "deliverable": "studio_kit.distribution",
    "publisher": "studio_kit.distribution",
}


def _import_package(name: str) -> None:
    """Import a package and all its modules (they register themselves on import)."""
    try:
        pkg = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            return  # the package does not exist (yet): nothing built in of this kind
        raise
    for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), prefix=name + "."):
        importlib.import_module(info.name)


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def _load_builtins(self) -> None:
        if not self._loaded:
            self._loaded = True
            if self.kind in _BUILTINS:
                _import_package(_BUILTINS[self.kind])

    def get(self, name: str) -> T:
        self._load_builtins()
        try:
            return self._items[name]
        except KeyError:
            raise StudioError(
                f"unknown {self.kind} {name!r}",
                hint=f"known {self.kind}s: {', '.join(sorted(self._items)) or 'none'}",
            ) from None

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        self._load_builtins()
        return sorted(self._items.items())

    def __contains__(self, name: str) -> bool:
        self._load_builtins()
        return name in self._items


ENGINES: Registry = Registry("engine")
TTS: Registry = Registry("tts")
SCORERS: Registry = Registry("scorer")
EXPORTERS: Registry = Registry("exporter")
#: per-platform deliverables (studio_kit/distribution/deliver.py, specs in data/platforms.yaml)
DELIVERABLES: Registry = Registry("deliverable")
#: where a release goes: a folder, a platform's upload API (studio_kit/distribution/publish.py)
PUBLISHERS: Registry = Registry("publisher")
