"""``studio feature episodes ROOT`` and ``studio feature render FEATURE.yaml [--notebook]``:
the Feature Bay's library and the per-feature run on the command line
(studio_kit.feature.bay, studio_kit.feature.notebook)."""

from __future__ import annotations

from pathlib import Path

import typer

from . import console
from .feature_commands import _root, feature_app


@feature_app.command("episodes")
def episodes_cmd(root: Path = typer.Argument(Path("."), help="Folder holding the series "
                                             "folders (and features/)")) -> None:
    """The rendered episodes of every series folder under ROOT, and the features there."""
    from ..feature import bay

    lib = bay.rendered_episodes(root)
    for e in lib:
        console.print(f"{e.series}/{e.episode}  {e.duration_s:8.1f} s  {e.width}x{e.height}"
                      f"@{e.fps:g}  {e.series_title}", highlight=False)
    ids = bay.list_features(root)
    console.print(f"{len(lib)} rendered episodes; features: {', '.join(ids) or 'none'}",
                  highlight=False)


@feature_app.command("render")
def render_cmd(spec: Path = typer.Argument(..., help="features/<id>.yaml"),
               out: Path = typer.Option(None, "-o", "--output",
                                        help="Delivery folder (default <root>/deliver/<id>)"),
               root: Path | None = typer.Option(None, help="Folder the series paths are "
                                                "relative to (default: above features/)"),
               notebook: bool = typer.Option(False, help="Run through the papermill "
                                             "notebook (its executed copy is the record)"),
               prores: bool = typer.Option(False, help="Also a ProRes 422 HQ master"),
               dcp: bool = typer.Option(False, help="Also a SMPTE DCP (24 fps sources)"),
               sign: bool = typer.Option(True, help="C2PA-sign the MP4"),
               draft: bool = typer.Option(False, help="Accept masters not yet approved at "
                                          "Gate C (a draft, not a delivery)"),
               ) -> None:
    """Check the running time against the format, then export the feature (MP4 with
    chapters and captions; ProRes and DCP on request), with progress."""
    from ..feature import bay
    from ..feature.model import load_feature

    feature = load_feature(spec)
    where = _root(spec, root)
    if notebook:
        from ..feature.notebook import FeatureRunOptions, run_feature_notebook

        path = run_feature_notebook(spec, where, out, FeatureRunOptions(
            prores=prores, dcp=dcp, sign=sign, draft=draft))
        console.print(f"notebook: {path}", highlight=False)
        return
    console.print(bay.running_time(feature, where).text(), highlight=False)

    def progress(ev) -> None:  # a studio_kit.progress.ProgressEvent
        stage = "done" if ev.status == "done" else ev.stage
        console.print(f"[{ev.fraction * 100:3.0f}%] {stage}", highlight=False)

    res = bay.export(feature, where, out, prores=prores, dcp=dcp, sign=sign, draft=draft,
                     progress=progress)
    console.print("\n".join(p for p in (res.mp4, res.prores, res.dcp) if p), highlight=False)
