"""A tiny copy of the sample series, rendered: what the vault, distribution and surface
tests serve or inspect (a 2-shot render at 64x36 costs seconds, not minutes)."""

from __future__ import annotations

import shutil
from pathlib import Path

from studio_kit.pipeline import RenderOptions, RenderResult, render_episode
from studio_kit.project.series_folder import Project

ROOT = Path(__file__).resolve().parents[1]


def sample_copy(dest: Path, *, acts: int = 1, shots: int = 2) -> Path:
    """The sample series copied to ``dest`` (no caches, no renders), episode 01 cut to its
    first ``acts`` acts with at most ``shots`` shots in the last of them."""
    shutil.copytree(ROOT / "samples" / "lighthouse", dest,
                    ignore=shutil.ignore_patterns(".studio", "out"))
    project = Project.load(dest)
    sb = project.storyboard("01").model_copy(deep=True)
    sb.acts = sb.acts[:acts]
    sb.acts[-1].shots = sb.acts[-1].shots[:shots]
    project.save_storyboard(sb)
    return dest


def tiny_render(root: Path, *, sign: bool = False, width: int = 64,
                height: int = 36) -> RenderResult:
    """Episode 01 of ``root`` rendered on the local engine at a tiny size into root/out."""
    return render_episode(root, "01", options=RenderOptions(
        engine="local", width=width, height=height, sign=sign, prores=False),
        out_dir=root / "out")
