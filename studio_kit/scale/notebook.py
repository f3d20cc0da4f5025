"""The season through papermill: ``notebooks/render_season.ipynb`` renders the season on the
executor (``render_season``) and then executes each episode's ``render_episode.ipynb`` (one
executed notebook per episode, as ``studio render --notebook`` leaves; every stage of it is
a vault hit, so nothing is paid or rendered twice)."""

from __future__ import annotations

from pathlib import Path

from .. import resources
from ..pipeline.episode import RenderOptions

SEASON_NOTEBOOK = resources.notebook("render_season.ipynb")


def run_season_notebook(project: str | Path, episodes: list[str] | None = None,
                        options: RenderOptions | None = None, *,
                        out_dir: str | Path | None = None, workers: int | None = None,
                        scheduler: str | None = None, kernel_name: str = "python3",
                        notebook: str | Path = SEASON_NOTEBOOK, timeout_s: int = 6 * 3600
                        ) -> Path:
    """Execute the season notebook; return the executed copy
    (``<out>/season/notebooks/season-<UTC>-<pid>-<random>.ipynb``). The scheduler address
    goes in as a parameter; credentials never do (the kernel reads its environment)."""
    from ..notebook_run import execute_recorded
    from ..project.series_folder import Project

    options = RenderOptions.model_validate(options or RenderOptions())
    proj = Project.load(project)
    out = (Path(out_dir) if out_dir is not None else proj.root / "out").resolve()
    params = {"project": str(proj.root), "episodes": ",".join(episodes or []),
              "out_dir": str(out), "options_json": options.model_dump_json(),
              "workers": int(workers or 0), "scheduler": scheduler or ""}
    dest = execute_recorded(notebook, out / "season" / "notebooks", "season", params,
                            what="season", cwd=proj.root, kernel_name=kernel_name,
                            timeout_s=timeout_s)
    return dest
