"""Building an engine instance from the registry by name, with the configuration its class
takes (routing.yaml's base_url, model, price, timeout)."""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import EngineError
from ..registry import ENGINES
from .base import Engine


def get_engine(name: str, **config: Any) -> Engine:
    """An engine instance from the registry, built with the ``config`` its class takes
    (e.g. the local engine has no ``base_url``); a ``price_per_second`` the class does not
    take is set on the instance's capabilities."""
    obj = ENGINES.get(name)
    if isinstance(obj, Engine):
        return obj
    if isinstance(obj, type):
        if not issubclass(obj, Engine):  # e.g. a third-party entry point naming a helper
            raise EngineError(
                f"engine {name!r} is the class {obj.__module__}.{obj.__qualname__}, which is "
                "not an Engine", hint="subclass studio_kit.engines.base.Engine (see "
                "docs/engine.md, 'Writing a third-party engine')")
        params = inspect.signature(obj).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            config_taken = {k: v for k, v in config.items() if k in params}
        else:
            config_taken = dict(config)
        eng = obj(**config_taken)
        price = config.get("price_per_second")
        if price is not None and eng.capabilities.price_per_second != price:
            eng.capabilities = eng.capabilities.model_copy(update={"price_per_second": price})
        return eng
    if callable(obj):
        return obj(**config) if config else obj()
    raise EngineError(f"engine {name!r} is registered as {type(obj).__name__}, not an Engine",
                      hint="register an Engine subclass or instance in registry.ENGINES")
