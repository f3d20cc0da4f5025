"""``studio feature validate|assemble|export FEATURE.yaml``: features from rendered episodes
(studio_kit.feature)."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app, console

feature_app = typer.Typer(help="Features, shorts and anthologies from rendered episodes.",
                          no_args_is_help=True)
app.add_typer(feature_app, name="feature")


def _root(spec: Path, root: Path | None) -> Path:
    """Series folders are named relative to the folder holding features/."""
    if root is not None:
        return root
    parent = spec.resolve().parent
    return parent.parent if parent.name == "features" else parent


@feature_app.command("validate")
def validate_cmd(spec: Path = typer.Argument(..., help="features/<id>.yaml"),
                 root: Path | None = typer.Option(None, help="Folder the series paths are "
                                                  "relative to (default: above features/)"),
                 ) -> None:
    """Check the feature file and that every episode it names is rendered, at one format."""
    from ..feature.assemble import resolve_sources
    from ..feature.model import load_feature

    f = load_feature(spec)
    srcs = resolve_sources(f, _root(spec, root), str(spec))
    total = sum(s.duration_s for s in srcs)
    console.print(f"{spec}: ok ({len(srcs)} episodes, {total / 60:.1f} min, {f.format.value})")


@feature_app.command("assemble")
def assemble_cmd(spec: Path = typer.Argument(..., help="features/<id>.yaml"),
                 out: Path = typer.Option(..., "-o", "--output", help="The MP4 to write"),
                 root: Path | None = typer.Option(None, help="Folder the series paths are "
                                                  "relative to"),
                 ) -> None:
    """Join the rendered episodes (stream copy) with cards, chapters and one sound master."""
    from ..feature.assemble import assemble_feature
    from ..feature.model import load_feature

    res = assemble_feature(load_feature(spec), _root(spec, root), out, file=str(spec))
    console.print(f"{res.out}: {res.duration_s / 60:.1f} min, {len(res.chapters)} chapters, "
                  f"{res.loudness['integrated_lufs']} LUFS, {len(res.pieces_encoded)} pieces "
                  f"made, {len(res.pieces_reused)} reused, {res.seconds} s")


@feature_app.command("export")
def export_cmd(spec: Path = typer.Argument(..., help="features/<id>.yaml"),
               out: Path = typer.Option(..., "-o", "--output", help="Delivery folder"),
               root: Path | None = typer.Option(None, help="Folder the series paths are "
                                                "relative to"),
               prores: bool = typer.Option(True, help="Also a ProRes 422 HQ master"),
               dcp: bool = typer.Option(False, help="Also a SMPTE DCP (24 fps sources)"),
               sign: bool = typer.Option(True, help="C2PA-sign the MP4"),
               draft: bool = typer.Option(False, "--draft", help=(
                   "Export although a master has not passed Gate C (a draft, as the "
                   "Feature Bay's check box); otherwise every master must be approved")),
               ) -> None:
    """MP4 (chapters, captions, C2PA), ProRes master and optionally a DCP (with the
    feature's subtitles). Like the Feature Bay: the sources rendered, the running time
    within the format and, unless --draft, every master approved at Gate C."""
    from ..feature import bay
    from ..feature.model import load_feature
    from ..progress import ProgressEvent

    shown: dict[str, int] = {}

    def progress(ev: ProgressEvent) -> None:
        pct, stage = int(ev.fraction * 100), ev.stage if ev.status != "done" else "done"
        if shown.get(stage) != pct:  # one line per stage and percent
            shown[stage] = pct
            console.print(f"[{pct:3d}%] {stage}")

    from ..production.gates import GateError

    try:
        res = bay.export(load_feature(spec), _root(spec, root), out, prores=prores, dcp=dcp,
                         sign=sign, draft=draft, progress=progress, file=str(spec))
    except GateError as err:  # say how to export a draft anyway, as the surface does
        p = err.problems[0]
        raise GateError(p.message, file=p.file, line=p.line, field=p.field,
                        hint=f"{p.hint}; or export a draft with --draft") from None
    console.print(f"{res.mp4}" + (f"\n{res.prores}" if res.prores else "")
                  + (f"\n{res.dcp}" if res.dcp else "")
                  + "".join(f"\nnote: {n}" for n in res.notes))
