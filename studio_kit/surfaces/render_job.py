"""A render on a thread with progress, for the surfaces (the Edit Suite's re-render after
an edit, and any surface that re-renders an episode while the page stays live)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..pipeline import render_episode


@dataclass
class RenderJob:
    """``render_episode`` on a thread with progress: ``fraction`` (stages done / seen),
    ``stage`` (the running one), ``ran`` (stages that ran, not cache hits), ``result`` or
    ``error`` once ``done``. A re-render after an edit re-runs only the stages whose
    inputs changed (the stage runner's cache does the rest)."""

    project: Any
    episode: str
    options: Any = None
    out_dir: str | Path | None = None
    on_progress: Callable[[RenderJob], None] | None = None
    stage: str = ""
    ran: list[str] = field(default_factory=list)
    hits: int = 0
    seen: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    result: Any = None
    error: BaseException | None = None
    seconds: float = 0.0
    _thread: threading.Thread | None = None
    _finished: bool = False

    @property
    def done(self) -> bool:
        """True once the render returned or failed (already inside the last callback)."""
        return self._finished

    @property
    def fraction(self) -> float:
        if self.done:
            return 1.0
        return len(self.finished) / max(1, len(self.seen) + 1)

    def _event(self, ev) -> None:
        label = ev.label
        self.seen.add(label)
        if ev.status in ("hit", "done", "failed"):
            self.finished.add(label)
            if ev.status == "done":
                self.ran.append(label)
            elif ev.status == "hit":
                self.hits += 1
        else:
            self.stage = label
        if self.on_progress is not None:
            self.on_progress(self)

    def _work(self) -> None:
        t0 = time.perf_counter()
        try:
            self.result = render_episode(self.project, self.episode, options=self.options,
                                         out_dir=self.out_dir, progress=self._event)
        except BaseException as exc:  # reported to the page, not lost on the thread
            self.error = exc
        finally:
            self.seconds = time.perf_counter() - t0
            self._finished = True
            if self.on_progress is not None:
                self.on_progress(self)

    def start(self) -> RenderJob:
        self._thread = threading.Thread(target=self._work, name="edit-rerender", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> RenderJob:
        if self._thread is not None:
            self._thread.join(timeout)
        return self
