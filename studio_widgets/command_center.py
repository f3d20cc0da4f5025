"""Command center: episodes and their stage, budget vs spend, gate queue, run launcher."""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as w

from studio_kit.project import Project
from studio_kit.status import project_status

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
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    output_notebook(INLINE, hide_banner=True)


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
        super().__init__(parts)
        self.add_class("studio-command-center")
        self.chart_thread: threading.Thread | None = None
        if chart:
            load_bokehjs()
            # HoloViews' Bokeh renderer imports Panel (seconds on 2 cores): the rest of the
            # surface is interactive first, the chart arrives when drawn.
            self.chart_thread = threading.Thread(target=self._draw_chart, daemon=True,
                                                 name="budget-chart")
            self.chart_thread.start()

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
