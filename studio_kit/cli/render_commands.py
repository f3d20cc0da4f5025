"""Render commands: ``studio render`` (one episode, with progress bars) and ``studio demo``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .. import resources
from ..errors import StudioError
from . import app, console
from .project_commands import SAMPLE


class RichProgress:
    """Adapts pipeline ProgressEvents to rich bars: one overall bar plus the current stage."""

    def __init__(self, progress: Progress) -> None:
        self.p = progress
        self.tasks: dict[str, TaskID] = {}
        self.overall = progress.add_task("episode", total=None)
        self.counts = {"hit": 0, "done": 0}

    def __call__(self, event) -> None:
        key = escape(event.label)  # "grade[s01]" is not rich markup
        if event.status == "start":
            self.tasks[key] = self.p.add_task(key, total=1.0)
        task = self.tasks.get(key)
        if event.status == "progress" and task is not None:
            self.p.update(task, completed=event.fraction)
        elif event.status in ("hit", "done", "failed"):
            if event.status in self.counts:
                self.counts[event.status] += 1
            if task is not None:
                self.p.remove_task(task)
                self.tasks.pop(key, None)
            tag = {"hit": "[dim]cached[/]", "done": "[green]done[/]",
                   "failed": "[red]failed[/]"}[event.status]
            extra = f" {event.seconds:.1f}s" if event.seconds and event.status == "done" else ""
            msg = f" ({escape(event.message)})" if event.message and event.status != "done" \
                else ""
            self.p.console.print(f"  {tag} {key}{extra}{msg}", highlight=False)
            self.p.update(self.overall, advance=1,
                          description=f"episode: {self.counts['done']} run, "
                                      f"{self.counts['hit']} cached")


def render_options(**flags):
    """The command line's render flags as validated RenderOptions (``studio render`` and
    ``studio render-season``); a bad flag is a StudioError naming it."""
    from pydantic import ValidationError

    from ..pipeline import RenderOptions

    try:
        return RenderOptions(**flags)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise StudioError(f"--{first['loc'][0]}: {first['msg']}", field=str(first["loc"][0]),
                          hint="tiers: draft, standard, premium") from None


def _render(project: Path, episode: str, *, engine: str | None, tier: str | None,
            out: Path | None, notebook: bool, width: int | None, height: int | None,
            force: bool, languages: list[str] | None = None, sign: bool = True,
            prores: bool = True, retry_failed: bool = False,
            attempts: int | None = None) -> None:
    from ..pipeline import render_episode, run_notebook

    opts = render_options(engine=engine, tier=tier, width=width, height=height, force=force,
                          languages=languages or None, sign=sign, prores=prores,
                          retry_failed=retry_failed,
                          **({"attempts": attempts} if attempts is not None else {}))
    if notebook:
        nb = run_notebook(project, episode, opts, out_dir=out)
        console.print(f"[green]executed notebook[/] {nb}")
        return
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        result = render_episode(project, episode, options=opts, out_dir=out,
                                progress=RichProgress(progress))
    s = result.stage_summary
    console.print(f"[green]rendered[/] episode {result.episode} in {result.seconds:.1f}s "
                  f"({s.get('misses', 0)} stages run, {s.get('hits', 0)} cached)")
    not_used: dict[str, int] = {}
    for shot in result.shots:
        for failed in shot.failover:
            if ": not used (" in failed:  # routing left the engine out (e.g. no API key)
                not_used[failed] = not_used.get(failed, 0) + 1
            elif failed.startswith("QC:"):
                console.print(f"[yellow]QC[/] {shot.shot_id}: {failed[4:]}", highlight=False)
            else:
                console.print(f"[yellow]failover[/] {shot.shot_id}: {failed} -> made by "
                              f"{shot.engine}", highlight=False)
        if len(shot.attempts) > 1:
            console.print(f"[yellow]regenerated[/] {shot.shot_id}: "
                          + "; ".join(shot.attempts), highlight=False)
    for what, n in sorted(not_used.items()):
        console.print(f"[yellow]routing[/] {what} for {n} shot(s)", highlight=False)
    if result.master:
        console.print(f"master: {result.master}")
    if result.provenance_report:
        console.print(f"provenance: {result.provenance_report}")


@app.command()
def render(project: Path = typer.Argument(..., help="Series folder"),
           episode: str = typer.Argument(..., help="Episode number, e.g. 01"),
           engine: str = typer.Option(None, help="Engine for every shot (default: routing)"),
           tier: str = typer.Option(None, help="draft | standard | premium"),
           out: Path = typer.Option(None, help="Output folder (default: <project>/out)"),
           notebook: bool = typer.Option(False, help="Run through the papermill notebook"),
           width: int = typer.Option(None, help="Override the delivery width"),
           height: int = typer.Option(None, help="Override the delivery height"),
           force: bool = typer.Option(False, help="Ignore the stage cache"),
           languages: list[str] = typer.Option(None, "--language", help="Caption/dub "
                                               "language (repeat; default: the series')"),
           sign: bool = typer.Option(True, help="C2PA-sign the shots and masters"),
           prores: bool = typer.Option(True, help="Also write the ProRes master"),
           retry_failed: bool = typer.Option(False, help="Ask again engines that refused a "
                                             "shot before (transient failures are always "
                                             "retried)"),
           attempts: int = typer.Option(None, help="QC'd takes per shot before the best is "
                                        "kept and flagged (default 3; 1 = no regeneration)")
           ) -> None:
    """Render one episode: audio, shots, grade, assembly, mux, captions, masters, C2PA."""
    if not project.is_dir():
        raise StudioError("project folder not found", file=project,
                          hint="pass a series folder (with series.yaml)")
    _render(project, episode, engine=engine, tier=tier, out=out, notebook=notebook,
            width=width, height=height, force=force, languages=languages, sign=sign,
            prores=prores, retry_failed=retry_failed, attempts=attempts)


@app.command()
def demo(out: Path = typer.Option(Path("out"), help="Where the episode goes"),
         notebook: bool = typer.Option(False, help="Run through the papermill notebook"),
         width: int = typer.Option(None, help="Override the delivery width (e.g. 160)"),
         height: int = typer.Option(None, help="Override the delivery height (e.g. 90)")
         ) -> None:
    """Render the sample series' episode 01 on the local engine and print where it is."""
    import shutil

    work = out / "lighthouse"
    # sync the sample's files each time (its .studio cache stays: a re-run is warm)
    shutil.copytree(resources.require(SAMPLE, "the sample series"), work, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".studio"))
    _render(work, "01", engine="local", tier=None, out=out, notebook=notebook, width=width,
            height=height, force=False)
