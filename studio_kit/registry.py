"""One registry for every kind of plugin: engines, TTS voices, scorers, exporters.

Plugins register by name with a decorator; callers look them up by name. Built-in plugins
live in the packages listed in ``_BUILTINS``; every module in them is imported on the first
lookup (so importing studio_kit stays cheap, and adding a plugin is adding a module).

Third-party plugins are discovered through entry points (``importlib.metadata``), one group
per kind (``GROUPS``: ``studio_kit.engines``, ``studio_kit.tts``, ``studio_kit.scorers``,
``studio_kit.exporters``, ...). A distribution declares, in its ``pyproject.toml``::

    [project.entry-points."studio_kit.engines"]
    my-engine = "my_package.engine:MyEngine"

and ``my-engine`` can then be named in a series' routing.yaml. Entry points are read when a
name that is not built in is looked up, and only that plugin is imported then (``names()``
lists them without importing; ``items()`` imports them all). A built-in name always wins
over an entry point of the same name. A plugin that fails to import is a ``StudioError``
naming the group, the entry point and the distribution. See docs/engine.md.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Generic, TypeVar

from .errors import StudioError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

T = TypeVar("T")

_BUILTINS: dict[str, str] = {
    "engine": "studio_kit.engines",
    "tts": "studio_kit.audio.tts",
    "scorer": "studio_kit.qc",
    "exporter": "studio_kit.exporters",
    "deliverable": "studio_kit.distribution",
    "publisher": "studio_kit.distribution",
}

#: the entry point group third-party plugins of each kind are declared in
GROUPS: dict[str, str] = {
    "engine": "studio_kit.engines",
    "tts": "studio_kit.tts",
    "scorer": "studio_kit.scorers",
    "exporter": "studio_kit.exporters",
    "deliverable": "studio_kit.deliverables",
    "publisher": "studio_kit.publishers",
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


def _dist_label(ep: EntryPoint) -> str:
    dist = ep.dist  # None when unknown
    return f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"


#: one import of built-in plugins at a time (re-entrant: they register as they load)
_BUILTINS_LOCK = threading.RLock()


class Registry(Generic[T]):
    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        #: the entry point group third-party plugins of this kind are declared in
        self.group = group or GROUPS.get(kind, f"studio_kit.{kind}s")
        self._items: dict[str, T] = {}
        self._loaded = False  # their import has started (a re-entrant lookup returns)
        self._ready = False  # ... and finished (other threads wait for it)
        self._plugins: dict[str, EntryPoint] = {}
        self._plugins_path: tuple[str, ...] | None = None  # sys.path they were read for

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def _load_builtins(self) -> None:
        """Import the built-in plugins once, whichever thread looks first (the render's
        shot workers all look up engines at once); the others wait until they are in."""
        if self._ready:
            return
        with _BUILTINS_LOCK:
            if self._loaded:  # done, or this thread is inside the import (re-entrant)
                return
            self._loaded = True
            try:
                if self.kind in _BUILTINS:
                    _import_package(_BUILTINS[self.kind])
            finally:
                self._ready = True

    # -- third-party plugins (entry points) -------------------------------------------
    def entry_points(self, *, fresh: bool = False) -> dict[str, EntryPoint]:
        """This kind's entry points by name (the first on ``sys.path`` wins), read again
        when ``sys.path`` changed or ``fresh``; none is imported."""
        path = tuple(sys.path)
        if fresh or self._plugins_path != path:
            from importlib.metadata import entry_points

            found: dict[str, EntryPoint] = {}
            for ep in entry_points(group=self.group):
                found.setdefault(ep.name, ep)
            self._plugins, self._plugins_path = found, path
        return self._plugins

    def _load_plugin(self, name: str) -> bool:
        """Import the entry point ``name`` (read afresh: a package installed since the
        last lookup is found) and register what it names; False when there is none."""
        ep = self.entry_points(fresh=True).get(name)
        if ep is None:
            return False
        where = (f"entry point {name} = {ep.value} in group {self.group!r} of "
                 f"{_dist_label(ep)}")
        dist = ep.dist
        fix = (f"fix or reinstall that distribution, or remove it "
               f"('pip uninstall {dist.name}')" if dist is not None
               else "fix or remove the package that declares it")
        try:
            obj = ep.load()
        except Exception as exc:  # any failure of third-party code: the plugin's fault
            raise StudioError(
                f"{self.kind} plugin {name!r} failed to load ({where}): "
                f"{type(exc).__name__}: {exc}", field=self.group, hint=fix) from exc
        if name not in self._items:  # the module may have registered itself by decorator
            if isinstance(obj, ModuleType):
                raise StudioError(
                    f"{self.kind} plugin {name!r}: module {ep.value} was imported but "
                    f"registered no {self.kind} named {name!r} ({where})", field=self.group,
                    hint=f"point the entry point at the {self.kind} itself "
                         f"(\"{ep.value}:ClassName\") or register it under {name!r}")
            self._items[name] = obj
        return True

    def get(self, name: str) -> T:
        self._load_builtins()
        if name not in self._items:
            self._load_plugin(name)
        try:
            return self._items[name]
        except KeyError:
            raise StudioError(
                f"unknown {self.kind} {name!r}",
                hint=f"known {self.kind}s: {', '.join(self.names()) or 'none'} (a "
                     f"third-party {self.kind} is declared in the entry point group "
                     f"{self.group!r} of its distribution)",
            ) from None

    def names(self) -> list[str]:
        """Built-in and registered names, and the entry points' (not imported)."""
        self._load_builtins()
        return sorted(set(self._items) | set(self.entry_points()))

    def items(self) -> list[tuple[str, T]]:
        """Every plugin of this kind, entry points imported."""
        self._load_builtins()
        for name in self.entry_points():
            if name not in self._items:
                self._load_plugin(name)
        return sorted(self._items.items())

    def __contains__(self, name: str) -> bool:
        self._load_builtins()
        return name in self._items or name in self.entry_points()


ENGINES: Registry = Registry("engine")
TTS: Registry = Registry("tts")
SCORERS: Registry = Registry("scorer")
EXPORTERS: Registry = Registry("exporter")
#: per-platform deliverables (studio_kit/distribution/deliver.py, specs in data/platforms.yaml)
DELIVERABLES: Registry = Registry("deliverable")
#: where a release goes: a folder, a platform's upload API (studio_kit/distribution/publish.py)
PUBLISHERS: Registry = Registry("publisher")
