"""A feature's export through papermill: ``notebooks/render_feature.ipynb`` is the run's
record (parameters, running time against the format, the act / mood arc, the export's
stages, chapters probed back from the MP4, credits, loudness), one executed copy per run
in ``<out>/notebooks/``, as ``studio render --notebook`` does for episodes."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from .. import resources
from ..notebook_run import execute_recorded
from .model import load_feature

NOTEBOOK = resources.notebook("render_feature.ipynb")


class FeatureRunOptions(BaseModel):
    """What the notebook exports (one validated JSON parameter)."""

    prores: bool = False
    dcp: bool = False
    sign: bool = True
    draft: bool = False  # masters not yet approved at Gate C are accepted


def run_feature_notebook(spec: str | Path, root: str | Path | None = None,
                         out_dir: str | Path | None = None,
                         options: FeatureRunOptions | None = None, *,
                         notebook: str | Path = NOTEBOOK, kernel_name: str = "python3",
                         timeout_s: int = 6 * 3600) -> Path:
    """Execute the feature notebook for ``spec`` (features/<id>.yaml); return the executed
    copy ``<out>/notebooks/feature-<id>-<UTC>-<pid>-<random>.ipynb``. ``root`` defaults to
    the folder above features/, ``out_dir`` to ``<root>/deliver/<id>``."""
    from .bay import export_dir

    spec = Path(spec).resolve()
    feature = load_feature(spec)  # a broken file fails here, with its line
    if root is None:
        root = spec.parent.parent if spec.parent.name == "features" else spec.parent
    root = Path(root).resolve()
    out = (Path(out_dir) if out_dir is not None else export_dir(root, feature.id)).resolve()
    options = FeatureRunOptions.model_validate(options or FeatureRunOptions())
    params = {"feature": str(spec), "root": str(root), "out_dir": str(out),
              "options_json": options.model_dump_json()}
    return execute_recorded(notebook, out / "notebooks", f"feature-{feature.id}", params,
                            what="feature", cwd=root, kernel_name=kernel_name,
                            timeout_s=timeout_s)
