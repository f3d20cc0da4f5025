"""Season dashboard: episodes x stages, progress, failures and spend of the latest season run
(``studio render-season``), read from ``<out>/season.json`` and the ledger."""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as w

from studio_kit.project.series_folder import Project
from studio_kit.scale.dashboard import load_season, season_view

from .common import table


class SeasonDashboard(w.VBox):
    """Refreshes on demand (``refresh()``, the button) or on a timer while a season runs
    (``watch(seconds)``); reading never writes anything."""

    def __init__(self, project: Project, out_dir: str | Path | None = None) -> None:
        self.project = project
        self.out_dir = Path(out_dir) if out_dir is not None else project.root / "out"
        self.summary = w.HTML()
        self.bar = w.FloatProgress(min=0.0, max=1.0, description="episodes")
        self.grid = w.HTML()
        self.failures = w.HTML()
        self.button = w.Button(description="Refresh", icon="refresh")
        self.button.on_click(lambda _b: self.refresh())
        super().__init__([w.HTML("<h3>Season</h3>"), self.summary, self.bar, self.grid,
                          self.failures, self.button])
        self.add_class("studio-season")
        self.refresh()

    def refresh(self) -> None:
        season = load_season(self.out_dir)
        with self.project.ledger() as ledger:
            view = season_view(season, ledger)
        if season is None:
            self.summary.value = ("<i>no season run yet: 'studio render-season "
                                  f"{html.escape(str(self.project.root))}'</i>")
            self.grid.value = self.failures.value = ""
            self.bar.value = 0.0
            return
        self.summary.value = (f"{view.done}/{view.total} episodes done on "
                              f"{html.escape(view.executor)} ({view.workers} worker(s)), "
                              f"{view.seconds:.1f} s, spend {view.spend:.2f}")
        self.bar.value = view.progress
        cols = ["episode", "status", "worker", "seconds", "spend", "paid takes", *view.stages]
        self.grid.value = table(view.rows, columns=cols, css_class="studio-season-grid")
        self.failures.value = "" if not view.failures else (
            "<div style='color:#b00020'>" + "<br>".join(html.escape(f) for f in view.failures)
            + "</div>")

    def watch(self, seconds: float = 2.0):
        """Refresh every ``seconds`` on a daemon thread until the season is done; returns
        the thread."""
        import threading
        import time

        def loop() -> None:
            while True:
                self.refresh()
                season = load_season(self.out_dir)
                if season is not None and all(e.status in ("done", "failed")
                                              for e in season.episodes):
                    return
                time.sleep(seconds)

        thread = threading.Thread(target=loop, daemon=True, name="season-watch")
        thread.start()
        return thread
