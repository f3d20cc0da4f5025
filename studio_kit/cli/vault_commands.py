"""``studio vault verify [--repair]``: re-hash every object of a project's vault."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app, console

vault_app = typer.Typer(help="The asset vault: integrity checks and repair.",
                        no_args_is_help=True)
app.add_typer(vault_app, name="vault")


@vault_app.command("verify")
def verify_cmd(
    project: Path = typer.Argument(Path("."), help="Series folder"),
    repair: bool = typer.Option(False, "--repair",
                                help="Quarantine corrupt objects and drop stage records whose "
                                     "outputs are gone (the next render re-makes them; paid "
                                     "takes are re-fetched by their remote job id)"),
) -> None:
    """Re-hash every object in the vault (a progress bar) and report what is damaged."""
    from rich.progress import Progress

    from ..errors import VaultError
    from ..project import Project

    vault = Project.load(project, check_references=False).vault()
    total = sum(1 for p in vault.objects.glob("*/*") if not p.name.startswith(".")) \
        if vault.objects.exists() else 0
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("verifying", total=total)
        report = vault.verify(lambda n: bar.advance(task, n), repair=repair)
    console.print(f"checked {report.checked} objects: {len(report.corrupt)} corrupt, "
                  f"{len(report.missing)} stage outputs missing", highlight=False)
    for d in report.corrupt:
        console.print(f"  corrupt {d[:16]}" + (" (quarantined)" if repair else ""),
                      highlight=False)
    if not report.ok and not repair:
        raise VaultError(f"the vault has {len(report.corrupt)} corrupt objects and "
                         f"{len(report.missing)} missing stage outputs", file=vault.root,
                         hint=f"run 'studio vault verify {project} --repair', then render "
                              "again to re-make them")
