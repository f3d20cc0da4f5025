"""Project commands: new, validate, storyboard, status."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from rich.table import Table

from .. import resources
from ..errors import StudioError
from ..project.series_folder import Project
from . import app, console

SAMPLE = resources.sample_series()


@app.command()
def validate(project: Path = typer.Argument(Path("."), help="Series folder")) -> None:
    """Check every file of a series: schema, cross-references, reference images."""
    p = Project.load(project)
    from ..production.routing import load_rules

    load_rules(p)  # routing.yaml too: syntax, schema and engine names
    n_shots = sum(len(e.storyboard.shots) for e in p.episodes.values() if e.storyboard)
    console.print(f"[green]ok[/] {p.series.title}: {len(p.characters)} characters, "
                  f"{len(p.scenes)} scenes, {len(p.episodes)} episodes, {n_shots} shots")


@app.command()
def storyboard(project: Path = typer.Argument(Path(".")),
               episode: str = typer.Argument("01")) -> None:
    """Print an episode's storyboard as a table: acts, shots, camera, duration."""
    p = Project.load(project)
    sb = p.storyboard(episode)
    table = Table(title=f"{p.series.title} - episode {sb.episode}: {sb.title}")
    for col in ("act", "shot", "scene", "camera", "move", "s", "characters", "dialogue", "to next"):
        table.add_column(col)
    for act in sb.acts:
        for shot in act.shots:
            mv = shot.camera.movement
            table.add_row(act.id, shot.id, shot.scene, shot.camera.angle.value,
                          mv.type.value + (f" {mv.direction.value}" if mv.direction else ""),
                          f"{shot.duration_s:.1f}", ", ".join(shot.character_ids),
                          " / ".join(f"{d.character}: {d.text}" for d in shot.dialogue)[:60],
                          shot.transition.kind.value)
    from rich.console import Console

    out = Console()
    out.width = max(out.width, 120)  # nine columns: don't squeeze them into a pipe's 80
    out.print(table)
    Console().print(f"{len(sb.shots)} shots, {sb.duration_s:.1f} s")


@app.command()
def new(folder: Path, title: str = typer.Option(None, help="Series title"),
        sample: bool = typer.Option(False, help="Copy the sample series instead")) -> None:
    """Create a series folder (empty, or a copy of the sample series)."""
    from ..project.scaffold import create_series_folder, require_empty_folder

    require_empty_folder(folder)
    if sample:
        shutil.copytree(resources.require(SAMPLE, "the sample series"), folder,
                        dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".studio"))
    else:
        from ..models import Series

        create_series_folder(folder, Series(title=title or folder.name))
    console.print(f"[green]created[/] {folder}")


@app.command()
def schema(out: Path = typer.Option(Path("schema"), help="Folder for <kind>.schema.json"),
           check: bool = typer.Option(False, help="Only check that the files are current")
           ) -> None:
    """Export the JSON Schema of every project file, for editors (YAML language server)."""
    from ..project.schema import export, stale

    if check:
        old = stale(out)
        if old:
            raise StudioError(f"schema files out of date: {', '.join(old)}", file=out,
                              hint=f"run 'studio schema --out {out}'")
        console.print(f"[green]ok[/] schema files in {out} are current")
        return
    for path in export(out):
        console.print(f"wrote {path}")


@app.command()
def status(project: Path = typer.Argument(Path("."), help="Series folder")) -> None:
    """The series at a glance: episodes, shots, last run, spend against budget, gates."""
    from ..surfaces.status import project_status

    st = project_status(Project.load(project))
    extra = "".join(f", {name} {v:.2f}" for name, v in
                    (("waste", st.waste), ("pending", st.pending), ("at risk", st.at_risk)) if v)
    table = Table(title=f"{st.title} - spend {st.spent:.2f} / {st.budget:.2f} {st.currency}"
                        f" (billed{extra or ', no waste'})")
    for col in ("episode", "title", "shots", "s", "stage", "last run", "cache hits", "spend",
                "gates"):
        table.add_column(col)
    for ep in st.episodes:
        gates = " ".join(f"{g}: {state}" for g, state in sorted(ep.gates.items())) or "-"
        table.add_row(ep.episode, ep.title, str(ep.shots), f"{ep.duration_s:.1f}", ep.stage,
                      ep.last_run or "-", f"{ep.cache_hits}/{ep.stages_run}",
                      f"{ep.spent:.2f}" + (f" (waste {ep.waste:.2f})" if ep.waste else ""),
                      gates)
    from rich.console import Console

    out = Console()
    out.width = max(out.width, 120)  # nine columns: don't squeeze them into a pipe's 80
    out.print(table)
