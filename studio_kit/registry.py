"""One registry for every kind of plugin: engines, TTS voices, scorers, exporters.

Plugins register by name with a decorator; callers look them up by name. Built-in plugins
live in modules listed in ``_BUILTINS`` and are imported on first lookup, so importing
studio_kit stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import StudioError

T = TypeVar("T")

_BUILTINS: dict[str, list[str]] = {
    "engine": ["studio_kit.engines.local"],
    "tts": [],
    "scorer": [],
    "exporter": [],
}


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
            for module in _BUILTINS.get(self.kind, []):
                importlib.import_module(module)

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
