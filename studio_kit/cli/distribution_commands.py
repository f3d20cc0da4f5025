"""Distribution: per-platform deliverables from the Gate C approved master."""

from __future__ import annotations

from pathlib import Path

import typer

from ..project.series_folder import Project
from . import app, console


@app.command("deliver")
def deliver_cmd(project: Path = typer.Argument(..., help="Series folder"),
                episode: str = typer.Argument(..., help="Episode id, e.g. 01"),
                platform: list[str] = typer.Option(
                    ..., "--platform", "-p",
                    help="Platform name (repeatable): see docs/distribution.md"),
                out: Path | None = typer.Option(
                    None, "--out", "-o", help="Output folder (default PROJECT/out/deliver)"),
                thumbnails: int = typer.Option(3, "--thumbnails", min=0, max=12,
                                               help="Thumbnails to offer per deliverable")
                ) -> None:
    """Encode the episode's approved master for each platform: reframed video, captions,
    metadata JSON with chapters, thumbnails. Refused unless Gate C approved the master."""
    from ..distribution.platforms import platform as spec_of

    specs = [spec_of(name) for name in platform]  # unknown names fail before any work
    p = Project.load(project)
    dest = out if out is not None else p.root / "out" / "deliver"
    from ..registry import DELIVERABLES

    for spec in specs:
        d = DELIVERABLES.get(spec.name).export(p, episode, dest, thumbnails=thumbnails)
        console.print(f"{spec.name}: {d.video} ({d.width}x{d.height}, {d.duration_s:g} s, "
                      f"gain {d.gain_db:+.2f} dB); captions {', '.join(d.captions) or 'none'}; "
                      f"metadata {d.metadata}; {len(d.thumbnails)} thumbnails", highlight=False)
