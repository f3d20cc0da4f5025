"""Command center: episodes and their stage, budget vs spend, gate queue, run launcher."""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as w

from studio_kit.project.series_folder import Project
from studio_kit.surfaces.status import project_status

from .common import header, open_project, table
from .gate_queue import GateQueue
from .run_launcher import RunLauncher


def episode_rows(project: Project) -> list[dict[str, Any]]:
    st = project_status(project)
    return [{"episode": e.episode, "title": e.title, "stage": e.stage, "shots": e.shots,
             "duration s": f"{e.duration_s:.1f}", "spent": f"{e.spent:.2f}",
             "last run": e.last_run or "", "gates": " ".join(f"{k}:{v}" for k, v in
                                                             e.gates.items())}
            for e in st.episodes]


def load_bokehjs() -> None:
    """Put BokehJS in the page (inline, no CDN): jupyter_bokeh's widget view needs
    ``window.Bokeh``. Displayed from the cell itself, before the chart widget exists."""
    import importlib.metadata
    import json
    import os

    # Importing bokeh.io costs ~2 s on 2 cores; the page's outputs it publishes depend only on
    # the bokeh version, so they are cached once and replayed without importing bokeh.
    cache = (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "studio-kit"
             / f"bokehjs-inline-{importlib.metadata.version('bokeh')}.json")
    try:
        from IPython import get_ipython
        from IPython.display import publish_display_data
        ip = get_ipython()
    except ImportError:
        ip = None
    if ip is not None and cache.exists():
        try:
            for data, metadata in json.loads(cache.read_text("utf-8")):
                publish_display_data(data, metadata)
            return
        except (OSError, ValueError, TypeError):
            pass  # a damaged cache: load BokehJS the slow way below and rewrite it
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    if ip is None:
        output_notebook(INLINE, hide_banner=True)
        return
    from IPython.utils.capture import capture_output

    with capture_output(stdout=False, stderr=False) as captured:
        output_notebook(INLINE, hide_banner=True)
    outputs = [(o.data, o.metadata) for o in captured.outputs]
    for data, metadata in outputs:
        publish_display_data(data, metadata)
    try:
        from studio_kit.store.yamlio import atomic_write_text

        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, json.dumps(outputs))
    except OSError:
        pass  # no cache: the next page loads BokehJS the slow way again


def budget_widget(project: Project) -> w.Widget:
    """The HoloViews budget chart as an ipywidget: rendered to a Bokeh figure and shown by
    jupyter_bokeh's widget, whose JS ships as a lab extension (works offline, no CDN)."""
    import holoviews as hv
    from jupyter_bokeh import BokehModel

    from .budget_view import budget_plot

    hv.extension("bokeh", logo=False)
    return BokehModel(hv.render(budget_plot(project), backend="bokeh"))


class CommandCenter(w.VBox):
    def __init__(self, project: Project | str | Path | None = None,
                 launcher_defaults: dict[str, Any] | None = None, *, chart: bool = True) -> None:
        self.project = project if isinstance(project, Project) else open_project(project)
        self.episodes = w.HTML(table(episode_rows(self.project), css_class="studio-episodes"))
        self.gates = GateQueue(self.project)
        self.launcher = RunLauncher(self.project, defaults=launcher_defaults)
        self.launcher.on_finished.append(self.refresh)
        parts: list[w.Widget] = [w.HTML(header("Command center", self.project.series.title)),
                                 w.HTML("<h3>Episodes</h3>"), self.episodes]
        self.chart_box = w.VBox([w.HTML("<i>loading the budget chart...</i>")])
        self.chart_box.add_class("studio-budget")
        if chart:
            parts += [w.HTML("<h3>Budget</h3>"), self.chart_box]
        parts += [self.gates, self.launcher]
        from .season_dashboard import SeasonDashboard  # the latest season run, if any

        self.season = SeasonDashboard(self.project)
        parts.append(self.season)
        super().__init__(parts)
        self.add_class("studio-command-center")
        self.chart_thread: threading.Thread | None = None
        if chart:
            load_bokehjs()
            # HoloViews' Bokeh renderer imports Panel (seconds on 2 cores): the rest of the
            # surface is interactive first, the chart arrives when drawn.
            # The thread starts only once the cell that built the surface has finished (an
            # IPython post_run_cell hook): its imports hold the GIL and would otherwise slow
            # the page's own first render. Outside IPython it starts at once.
            self.chart_thread = threading.Thread(target=self._draw_chart, daemon=True,
                                                 name="budget-chart")
            self._start_chart_after_cell()

    def _start_chart_after_cell(self) -> None:
        try:
            from IPython import get_ipython

            ip = get_ipython()
        except ImportError:
            ip = None
        if ip is None:
            assert self.chart_thread is not None
            self.chart_thread.start()
            return

        def start(*_args: object) -> None:
            ip.events.unregister("post_run_cell", start)
            assert self.chart_thread is not None
            self.chart_thread.start()

        ip.events.register("post_run_cell", start)

    def _draw_chart(self) -> None:
        try:
            self.chart_box.children = [budget_widget(self.project)]
        except Exception as exc:  # show it; the rest of the surface keeps working
            self.chart_box.children = [w.HTML(
                f"<span style='color:#b00020'>budget chart failed: {html.escape(repr(exc))}"
                "</span>")]

    def refresh(self) -> None:
        self.episodes.value = table(episode_rows(self.project), css_class="studio-episodes")
        self.gates.refresh()
        self.season.refresh()
