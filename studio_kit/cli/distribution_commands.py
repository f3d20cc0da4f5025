"""Distribution: per-platform deliverables and cut-downs from the Gate C approved master."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import StudioError
from ..project.series_folder import Project
from . import app, console

#: cut-down kinds: (what is cut, default length in seconds, default platform)
CUT_KINDS = {"trailer": ("trailer", 30.0, "youtube"), "teaser": ("trailer", 15.0, "youtube"),
             "vertical": ("vertical", 60.0, "shorts")}


@app.command("deliver")
def deliver_cmd(project: Path = typer.Argument(..., help="Series folder"),
                episode: str = typer.Argument(..., help="Episode id, e.g. 01"),
                platform: list[str] = typer.Option(
                    ..., "--platform", "-p",
                    help="Platform name (repeatable): see docs/distribution.md"),
                out: Path | None = typer.Option(
                    None, "--out", "-o", help="Output folder (default PROJECT/out/deliver)"),
                thumbnails: int = typer.Option(3, "--thumbnails", min=0, max=12,
                                               help="Thumbnails to offer per deliverable"),
                burn_in: str | None = typer.Option(
                    None, "--burn-in", metavar="LANG",
                    help="Burn this caption language into the picture (clear of the face); "
                         "sidecars are still written"),
                thumbnail_title: str | None = typer.Option(
                    None, "--thumbnail-title", metavar="TEXT",
                    help="Draw this title on the thumbnails (outlined, clear of the faces)")
                ) -> None:
    """Encode the episode's approved master for each platform: reframed video, captions,
    metadata JSON with chapters, thumbnails. Refused unless Gate C approved the master."""
    from ..distribution.platforms import platform as spec_of

    specs = [spec_of(name) for name in platform]  # unknown names fail before any work
    title = _title(thumbnail_title)
    p = Project.load(project)
    dest = out if out is not None else p.root / "out" / "deliver"
    from ..registry import DELIVERABLES

    for spec in specs:
        d = DELIVERABLES.get(spec.name).export(p, episode, dest, thumbnails=thumbnails,
                                               burn_captions=burn_in or None,
                                               thumbnail_title=title)
        burned = f"; {d.burned_captions} captions burned in" if d.burned_captions else ""
        console.print(f"{spec.name}: {d.video} ({d.width}x{d.height}, {d.duration_s:g} s, "
                      f"gain {d.gain_db:+.2f} dB); captions {', '.join(d.captions) or 'none'}"
                      f"{burned}; metadata {d.metadata}; {len(d.thumbnails)} thumbnails",
                      highlight=False)


def _title(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    if not text:
        raise StudioError("the thumbnail title is empty", field="--thumbnail-title",
                          hint="give the text to draw, e.g. --thumbnail-title 'The storm'")
    if len(text) > 100:
        raise StudioError(f"the thumbnail title has {len(text)} characters",
                          field="--thumbnail-title", hint="keep it to at most 100")
    return text


@app.command("cutdown")
def cutdown_cmd(project: Path = typer.Argument(..., help="Series folder"),
                episode: str = typer.Argument(..., help="Episode id, e.g. 01"),
                kind: str = typer.Option("trailer", "--kind", "-k",
                                         help="trailer (30 s), teaser (15 s) or vertical "
                                              "(a 60 s 9:16 clip)"),
                length: float | None = typer.Option(
                    None, "--length", "-l", help="Target length in seconds (default: the "
                                                 "kind's)"),
                platform: str | None = typer.Option(
                    None, "--platform", "-p", help="Platform (default youtube; vertical: "
                                                   "shorts)"),
                out: Path | None = typer.Option(
                    None, "--out", "-o", help="Output folder (default PROJECT/out/cutdowns)"),
                burn_in: str | None = typer.Option(
                    None, "--burn-in", metavar="LANG",
                    help="Burn this caption language into the picture (clear of the face)")
                ) -> None:
    """Cut a trailer / teaser of a target length from the episode's strongest shots, or a
    vertical clip (9:16, reframed along the subject). Refused unless Gate C approved the
    master."""
    from ..distribution.cutdowns import trailer, vertical_clip
    from ..distribution.platforms import platform as spec_of

    if kind not in CUT_KINDS:
        raise StudioError(f"unknown cut-down kind {kind!r}", field="--kind",
                          hint=f"kinds: {', '.join(CUT_KINDS)}")
    what, default_s, default_platform = CUT_KINDS[kind]
    target = default_s if length is None else length
    if target <= 0:
        raise StudioError(f"a {kind} of {target:g} s", field="--length",
                          hint=f"give a positive length in seconds, e.g. {default_s:g}")
    spec = spec_of(platform or default_platform)  # an unknown name fails before any work
    p = Project.load(project)
    dest = out if out is not None else p.root / "out" / "cutdowns"
    if what == "trailer":
        cut = trailer(p, episode, dest, target_s=target, platform_name=spec.name,
                      burn_captions=burn_in or None)
    else:
        cut = vertical_clip(p, episode, dest, length_s=target, platform_name=spec.name,
                            burn_captions=burn_in or None)
    burned = f"; {cut.burned_captions} captions burned in" if cut.burned_captions else ""
    console.print(f"{kind} for {spec.name}: {cut.video} ({cut.width}x{cut.height}, "
                  f"{cut.duration_s:g} s of {cut.target_s:g} s asked, {len(cut.pieces)} "
                  f"pieces); captions {', '.join(cut.captions) or 'none'}{burned}; record "
                  f"{cut.record}", highlight=False)
