"""Run a coroutine to completion from synchronous code, inside or outside an event loop.

Engines are async; the pipeline, the CLI and the notebooks call them from plain functions.
``asyncio.run`` refuses to start when a loop is already running, which is always the case
in a Jupyter kernel (papermill runs, Voila surfaces), so there the coroutine runs on a
fresh loop in a worker thread and this call waits for it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=work, name="studio-async", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
