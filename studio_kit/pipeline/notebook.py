"""The render as a papermill-parameterized notebook, and helpers the notebook uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import resources
from ..notebook_run import execute_recorded
from ..progress import ProgressEvent
from ..project.series_folder import Project
from ..store.ledger import Ledger
from .episode import RenderOptions, RenderResult

NOTEBOOK = resources.notebook("render_episode.ipynb")


class TqdmProgress:
    """Progress callback for notebooks and scripts: one tqdm bar over the stages."""

    def __init__(self, **tqdm_kwargs: Any) -> None:
        from tqdm.std import tqdm  # here: importing the pipeline does not load tqdm

        self.bar = tqdm(total=None, unit="stage", **{"desc": "render", **tqdm_kwargs})
        self.hits = 0

    def __call__(self, event: ProgressEvent) -> None:
        if event.status in ("hit", "done", "failed"):
            self.hits += event.status == "hit"
            self.bar.set_postfix_str(f"{event.label} {event.status}", refresh=False)
            self.bar.update(1)

    def __enter__(self) -> TqdmProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def stage_table(result: RenderResult) -> Any:
    """The run's stages as a pandas DataFrame (pandas comes with holoviews)."""
    import pandas as pd  # here: importing the pipeline does not load pandas

    return pd.DataFrame([s.model_dump() for s in result.stages])


def run_notebook(project: str | Path, episode: str, options: RenderOptions | None = None, *,
                 out_dir: str | Path | None = None, notebook: str | Path = NOTEBOOK,
                 kernel_name: str = "python3", timeout_s: int = 3600) -> Path:
    """Execute the render notebook with papermill; return the executed notebook's path.

    Every render option goes in as ONE parameter, ``options_json`` (the validated
    ``RenderOptions`` as JSON; the notebook validates it again). Each run keeps its own
    executed copy: ``<out>/episode-<nn>/notebooks/render-<UTC time>-<pid>-<random>.ipynb``.
    """
    options = RenderOptions.model_validate(options or RenderOptions())
    proj = Project.load(project)
    ep = proj.storyboard(episode).episode
    out = Path(out_dir) if out_dir is not None else proj.root / "out"
    out = out.resolve()
    params = {"project": str(proj.root), "episode": ep, "out_dir": str(out),
              "options_json": options.model_dump_json()}
    dest = execute_recorded(notebook, out / f"episode-{ep}" / "notebooks", "render", params,
                            what="render", cwd=proj.root, kernel_name=kernel_name,
                            timeout_s=timeout_s)
    _link_record(dest, out / f"episode-{ep}" / "render.json")
    return dest


def _link_record(notebook: Path, render: Path) -> None:
    """Note the executed notebook beside the run in the ledger (a ``notebook`` stage row);
    the run's record stays its ``render.json`` (what the gates, ``studio qc`` and status
    read as the current takes and master)."""
    if not render.is_file():
        return
    data = json.loads(render.read_text(encoding="utf-8"))
    ledger_path = Path(data["project"]) / ".studio" / "ledger.sqlite"
    with Ledger(ledger_path) as ledger:
        ledger.stage_result(int(data["run_id"]), "notebook", str(notebook), cache_hit=False,
                            subject=str(data.get("episode", "")),
                            outputs={"notebook": str(notebook)})
