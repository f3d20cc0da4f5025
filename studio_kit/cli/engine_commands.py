"""Local engine commands: preview a scene or shot as a still, render shots to MP4."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from ..errors import StudioError
from ..project.series_folder import Project
from ..store.yamlio import atomic_copy
from . import app, console


def _format(project: Project, width: int | None, height: int | None):
    from ..engines.base import RenderFormat

    fmt = project.series.format
    return RenderFormat(width=width or fmt.width, height=height or fmt.height, fps=fmt.fps)


@app.command("preview")
def preview(project: Path = typer.Argument(..., help="Series folder"),
            scene: str = typer.Option(None, "--scene", help="Scene id (a scene alone)"),
            shot: str = typer.Option(None, "--shot", help="Shot id (needs --episode)"),
            episode: str = typer.Option("01", "--episode", help="Episode of --shot"),
            t: float = typer.Option(0.0, "--t", help="Time in the shot, seconds"),
            width: int = typer.Option(640, help="Preview width"),
            height: int = typer.Option(360, help="Preview height"),
            out: Path = typer.Option(..., "-o", "--out", help="PNG to write")) -> None:
    """Render one still of a scene or a shot with the local engine (nothing is spent)."""
    from ..engines.base import RenderFormat
    from ..engines.local import preview_png, scene_preview_spec
    from ..store.yamlio import atomic_write_bytes

    if not (16 <= width <= 7680 and 16 <= height <= 4320):
        raise StudioError(f"{width}x{height} is not a preview size", field="--width/--height",
                          hint="use 16..7680 x 16..4320, e.g. --width 640 --height 360")
    p = Project.load(project)
    if shot:
        spec = p.resolve_shot(episode, shot)
        if scene and scene != spec.scene.id:
            raise StudioError(f"shot {shot} is in scene {spec.scene.id}, not {scene}",
                              field="--scene", hint="leave --scene out with --shot")
    elif scene:
        spec = scene_preview_spec(p, scene)
    else:
        raise StudioError("nothing to preview", field="--scene",
                          hint="pass --scene ID, or --shot ID [--episode NN]")
    data = preview_png(spec, t, format=RenderFormat(width=width, height=height, fps=24.0))
    atomic_write_bytes(out, data)
    console.print(f"[green]wrote[/] {out}")


@app.command("render-shot")
def render_shot(project: Path = typer.Argument(..., help="Series folder"),
                episode: str = typer.Argument(..., help="Episode, e.g. 01"),
                shot: str = typer.Argument(..., help="Shot id, or 'all' for every shot"),
                out: Path = typer.Option(..., "-o", "--out",
                                         help="MP4 to write (a folder with 'all')"),
                seed: int = typer.Option(None, help="Seed (default: the shot's, else 0)"),
                width: int = typer.Option(None, help="Override the series width"),
                height: int = typer.Option(None, help="Override the series height"),
                drift: float = typer.Option(0.0, help="Deliberate drift 0..1 (QC tests)"),
                ) -> None:
    """Render shots with the local engine into the vault and copy them out.

    With 'all', every shot of the episode is written to OUT/<shot>.mp4 plus
    OUT/contact_sheet.png (one frame per shot)."""
    from ..engines.base import Drift, EngineRequest
    from ..engines.local import LocalEngine, contact_sheet
    from ..store.yamlio import atomic_write_bytes

    if not 0.0 <= drift <= 1.0:
        raise StudioError(f"--drift {drift:g} is out of range", field="--drift",
                          hint="0 = none .. 1 = the most drift")
    p = Project.load(project)
    fmt = _format(p, width, height)
    ids = [s.id for s in p.storyboard(episode).shots] if shot == "all" else [shot]
    engine = LocalEngine()
    vault = p.vault()
    written: list[Path] = []
    for sid in ids:
        spec = p.resolve_shot(episode, sid)
        req = EngineRequest(spec=spec, seed=seed if seed is not None else (spec.shot.seed or 0),
                            format=fmt, drift=Drift(amount=drift))
        res = asyncio.run(engine.generate(req, vault))
        dest = out / f"{sid}.mp4" if shot == "all" else out
        atomic_copy(vault.get(res.asset), dest)
        written.append(dest)
        console.print(f"[green]rendered[/] {sid}: {res.metadata['frames']} frames "
                      f"{res.width}x{res.height} -> {dest}")
    if shot == "all":
        sheet = out / "contact_sheet.png"
        atomic_write_bytes(sheet, contact_sheet(written, cols=4))
        console.print(f"[green]wrote[/] {sheet}")
