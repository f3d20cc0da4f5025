"""``studio import-script``: a Fountain screenplay -> scenes, characters, storyboard."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app, console


@app.command("import-script")
def import_script_cmd(
    project: Path = typer.Argument(..., help="Series folder (created with --new)"),
    script: Path = typer.Argument(..., help="Fountain screenplay (.fountain, UTF-8)"),
    episode: str = typer.Option("01", "--episode", "-e", help="Episode number, e.g. 02"),
    new: bool = typer.Option(False, "--new", help="Create a new series folder from the script"),
    genre: str = typer.Option(None, "--genre", help="Series genre (with --new)"),
) -> None:
    """Import a screenplay as an episode: first-pass shots; re-import keeps your edits."""
    from ..screenplay import import_script

    with console.status(f"importing {script.name} ..."):
        report = import_script(project, script, episode, create=new, genre=genre)
    console.print(f"[green]imported[/] {script} -> {report.storyboard_path}")
    console.print(report.summary(), highlight=False, markup=False)
