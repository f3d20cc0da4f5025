"""The season through papermill: ``notebooks/render_season.ipynb`` renders the season on the
executor (``render_season``) and then executes each episode's ``render_episode.ipynb`` (one
executed notebook per episode, as ``studio render --notebook`` leaves; every stage of it is
a vault hit, so nothing is paid or rendered twice)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from .. import resources
from ..errors import StudioError
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
    import papermill as pm

    from ..project import Project

    options = RenderOptions.model_validate(options or RenderOptions())
    proj = Project.load(project)
    out = (Path(out_dir) if out_dir is not None else proj.root / "out").resolve()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = out / "season" / "notebooks" / \
        f"season-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:6]}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    params = {"project": str(proj.root), "episodes": ",".join(episodes or []),
              "out_dir": str(out), "options_json": options.model_dump_json(),
              "workers": int(workers or 0), "scheduler": scheduler or ""}
    try:
        pm.execute_notebook(str(notebook), str(dest), parameters=params,
                            kernel_name=kernel_name, progress_bar=False,
                            execution_timeout=timeout_s, cwd=str(proj.root))
    except pm.PapermillExecutionError as exc:
        raise StudioError(f"the season notebook failed in cell {exc.exec_count}: "
                          f"{exc.ename}: {exc.evalue}", file=dest,
                          hint="open the executed notebook to see the failing cell") from None
    return dest
