"""Season commands: ``studio render-season`` (every episode of a series, in process or on a
Dask cluster; see docs/scale.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import StudioError
from . import app, console
from .render_commands import render_options


@app.command("render-season")
def render_season_cmd(
        project: Path = typer.Argument(..., help="Series folder"),
        episodes: str = typer.Option(None, help="Episodes, e.g. 01-03 or 1,3 (default: all)"),
        workers: int = typer.Option(None, help="Start a Dask LocalCluster of N worker "
                                    "processes here"),
        scheduler: str = typer.Option(None, help="An existing Dask scheduler, "
                                      "tcp://host:8786 (default: DASK_SCHEDULER_ADDRESS)"),
        vault_url: str = typer.Option(None, help="The vault on an fsspec URL shared with the "
                                      "workers, e.g. s3://bucket/series (default: "
                                      "STUDIO_VAULT_URL; credentials from the environment)"),
        engine: str = typer.Option(None, help="Engine for every shot (default: routing)"),
        tier: str = typer.Option(None, help="draft | standard | premium"),
        out: Path = typer.Option(None, help="Output folder (default: <project>/out)"),
        width: int = typer.Option(None, help="Override the delivery width"),
        height: int = typer.Option(None, help="Override the delivery height"),
        sign: bool = typer.Option(True, help="C2PA-sign the shots and masters"),
        prores: bool = typer.Option(True, help="Also write the ProRes masters"),
        notebook: bool = typer.Option(False, help="Through notebooks/render_season.ipynb (one "
                                      "executed notebook per episode)"),
        shot_tasks: bool = typer.Option(False, help="Each shot's generation and QC as a "
                                        "task of its own (one episode's shots spread over "
                                        "the workers), then the episode"),
        share_cores: bool = typer.Option(True, help="--workers N: pin each worker (and its "
                                         "ffmpeg) to cores/N of this machine, so the "
                                         "workers do not oversubscribe it (the masters' "
                                         "bytes are the same either way)"),
) -> None:
    """Render a season: paid takes decided here from the ledger, episodes as tasks."""
    from ..project.series_folder import Project
    from ..scale.executor import make_executor
    from ..scale.season import parse_episodes, render_season

    if not project.is_dir():
        raise StudioError("project folder not found", file=project,
                          hint="pass a series folder (with series.yaml)")
    opts = render_options(engine=engine, tier=tier, width=width, height=height,
                          sign=sign, prores=prores)
    eps = parse_episodes(episodes, list(Project.load(project).episodes))
    if vault_url is not None:
        import os

        os.environ["STUDIO_VAULT_URL"] = vault_url
    if notebook:
        from ..scale.notebook import run_season_notebook

        nb = run_season_notebook(project, eps, opts, out_dir=out, workers=workers,
                                 scheduler=scheduler)
        console.print(f"[green]executed notebook[/] {nb}")
        return

    def progress(season) -> None:
        states = " ".join(f"{e.episode}:{e.status}" for e in season.episodes)
        console.print(f"  [dim]{season.seconds:6.1f}s[/] {states}", highlight=False)

    with make_executor(workers=workers, scheduler=scheduler,
                       share_cores=share_cores) as executor:
        where = getattr(executor, "address", "this process")
        console.print(f"season on {executor.name} ({where}, {executor.workers} worker(s))")
        season = render_season(project, eps, options=opts, out_dir=out, executor=executor,
                               progress=progress, shot_tasks=shot_tasks)
    for e in season.episodes:
        if e.status == "done":
            console.print(f"[green]rendered[/] episode {e.episode} on {e.worker} in "
                          f"{e.seconds:.1f}s ({e.paid_takes} paid takes, spend {e.spend:.2f}): "
                          f"{e.master}", highlight=False)
        else:
            console.print(f"[red]failed[/] episode {e.episode}: {e.error}", highlight=False)
    console.print(f"season: {sum(e.status == 'done' for e in season.episodes)}/"
                  f"{len(season.episodes)} episodes in {season.seconds:.1f}s, spend "
                  f"{season.total_cost:.2f}")
    if not season.ok:
        raise typer.Exit(1)
