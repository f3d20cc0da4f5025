"""``studio vault verify [--repair]``: re-hash every object; ``studio vault gc [--yes]``:
remove what nothing references (studio_kit.store.assets)."""

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
    import time

    from rich.progress import Progress

    from ..errors import VaultError
    from ..project.series_folder import Project

    vault = Project.load(project, check_references=False).vault()
    sizes = [size for _d, _p, size in vault.iter_objects()]
    t0 = time.perf_counter()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("verifying", total=len(sizes))
        report = vault.verify(lambda n: bar.advance(task, n), repair=repair)
    seconds = max(time.perf_counter() - t0, 1e-9)
    console.print(f"checked {report.checked} objects ({sum(sizes) / 1e6:.1f} MB, "
                  f"{sum(sizes) / 1e6 / seconds:.0f} MB/s): {len(report.corrupt)} corrupt, "
                  f"{len(report.missing)} stage outputs missing", highlight=False)
    for d in report.corrupt:
        console.print(f"  corrupt {d[:16]}" + (" (quarantined)" if repair else ""),
                      highlight=False)
    if not report.ok and not repair:
        raise VaultError(f"the vault has {len(report.corrupt)} corrupt objects and "
                         f"{len(report.missing)} missing stage outputs", file=vault.root,
                         hint=f"run 'studio vault verify {project} --repair', then render "
                              "again to re-make them")


@vault_app.command("gc")
def gc_cmd(
    project: Path = typer.Argument(Path("."), help="Series folder"),
    yes: bool = typer.Option(False, "--yes", help="Delete (without it: a dry run listing "
                                                  "what would go, with sizes)"),
    include_paid_unused: bool = typer.Option(
        False, "--include-paid-unused",
        help="Also remove paid takes that no episode uses (a paid take a kept episode uses "
             "is never removed)"),
) -> None:
    """Remove vault objects nothing references (dry run unless --yes; crash-safe)."""
    import sys

    from ..project.series_folder import Project
    from ..store.assets import plan_gc, run_gc

    proj = Project.load(project, check_references=False)
    if not yes:
        plan = plan_gc(proj, include_paid_unused=include_paid_unused)
        for digest, size in sorted(plan.objects.items()):
            console.print(f"  would remove {digest[:16]}  {size:>12,d} B", highlight=False)
        for rec in plan.records:
            console.print(f"  would remove record {rec}", highlight=False)
        if plan.resumed:
            console.print("an interrupted gc left its journal: --yes completes it",
                          highlight=False)
        console.print(f"dry run: {len(plan.objects)} objects ({plan.bytes / 1e6:.2f} MB) and "
                      f"{len(plan.records)} stage records would be removed; "
                      f"{len(plan.kept_paid)} paid unused takes kept; "
                      f"run 'studio vault gc {project} --yes' to delete", highlight=False)
        return

    def say(line: str) -> None:
        print(f"removed {line}", flush=True)
        sys.stdout.flush()

    plan = run_gc(proj, include_paid_unused=include_paid_unused, progress=say)
    console.print(f"removed {len(plan.objects)} objects ({plan.bytes / 1e6:.2f} MB) and "
                  f"{len(plan.records)} stage records; {len(plan.kept_paid)} paid unused takes "
                  "kept", highlight=False)
