"""Quality commands: prompts (compile + lint), qc (score rendered shots), gate (B and C)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..errors import StudioError
from ..models import Tier
from ..project.series_folder import Project
from . import app, console


@app.command("prompts")
def prompts_cmd(project: Path = typer.Argument(Path(".")),
                episode: str = typer.Argument("01"),
                engine: str = typer.Option(None, help="Compile for this engine (default: "
                                           "the shot's engine or the series default)"),
                lint: bool = typer.Option(False, "--lint", help="Lint and fail on problems"),
                show: bool = typer.Option(False, help="Print every prompt")) -> None:
    """Compile every shot's prompt into episodes/NN/prompts/ (and lint them)."""
    from ..prompts import PromptPolicy, compile_episode, lint_prompt, prompt_path

    p = Project.load(project)
    compiled = compile_episode(p, episode, engine=engine)
    out = Console()
    problems = []
    policy = PromptPolicy.for_project(p.root)
    for cp in compiled:
        path = prompt_path(p.root, cp.episode, cp.shot_id, cp.engine)
        if show:
            out.print(f"[bold]{cp.shot_id}[/] ({cp.engine}, {cp.length}/{cp.max_chars})\n"
                      f"{cp.prompt}\n[dim]negative: {cp.negative_prompt}[/]\n")
        if lint:
            problems += lint_prompt(cp, p.resolve_shot(cp.episode, cp.shot_id), policy=policy,
                                    file=str(path.relative_to(p.root)))
    console.print(f"[green]compiled[/] {len(compiled)} prompts into "
                  f"{(p.root / 'episodes' / compiled[0].episode / 'prompts') if compiled else '-'}")
    if problems:
        raise StudioError(f"{len(problems)} prompt problems", problems=problems)
    if lint:
        console.print("[green]lint ok[/]")


@app.command("qc")
def qc_cmd(project: Path = typer.Argument(Path(".")), episode: str = typer.Argument("01"),
           tier: str = typer.Option(None, help="draft|standard|premium (default: series)"),
           plot: Path = typer.Option(None, help="Write the scores plot to this .html")) -> None:
    """Score the latest take of every generated shot and record the scores in the ledger."""
    from ..production.regeneration import stored_request
    from ..qc.runner import DEFAULT_SCORERS, qc_result

    tiers = [t.value for t in Tier]
    if tier is not None and tier not in tiers:
        raise StudioError(f"unknown tier {tier!r}", field="--tier",
                          hint=f"tiers: {', '.join(tiers)}")
    p = Project.load(project)
    sb = p.storyboard(episode)
    vault, ledger = p.vault(), p.ledger()
    from ..production import gates

    takes = gates.current_take_records(ledger, sb.episode)  # the one current take
    if not takes:
        raise StudioError(f"episode {sb.episode}: no generated shots in the ledger",
                          file=p.studio_dir / "ledger.sqlite",
                          hint=f"generate first (e.g. 'studio render {project} {episode}')")
    table = Table(title=f"QC - episode {sb.episode}")
    for col in ("shot", "engine", "result", "failures"):
        table.add_column(col)
    run_id = ledger.start_run("qc", sb.episode, {"tier": tier or p.series.tier.value})
    failed = 0
    for shot in sb.shots:
        take = takes.get(shot.id)
        if not take or not take.get("asset"):
            table.add_row(shot.id, "-", "not generated", "")
            continue
        if not take.get("request"):
            table.add_row(shot.id, take.get("engine") or "-", "no stored request",
                          "render again to record it")
            continue
        from ..engines.base import EngineResult

        req = stored_request(vault, take["request"])
        res = EngineResult(asset=take["asset"], engine=take["engine"], duration_s=req.duration,
                           width=req.format.width, height=req.format.height,
                           fps=req.format.fps)
        report = qc_result(res, req, vault=vault, ledger=ledger, run_id=run_id,
                           tier=tier or p.series.tier, scorers=DEFAULT_SCORERS)
        failed += not report.passed
        table.add_row(shot.id, take["engine"], "pass" if report.passed else "FAIL",
                      ", ".join(f"{s.metric}={s.value:.3g}" for s in report.failures))
    ledger.finish_run(run_id, "ok" if not failed else "failed")
    Console().print(table)
    if plot:
        import holoviews as hv

        from ..qc.plots import plot_scores, scores_table

        hv.save(plot_scores(scores_table(ledger, sb.episode)), str(plot), backend="bokeh")
        console.print(f"plot: {plot}")


@app.command("gate")
def gate_cmd(project: Path = typer.Argument(Path(".")), episode: str = typer.Argument("01"),
             gate: str = typer.Option(..., "--gate", help="B (shots) or C (master)"),
             shot: str = typer.Option(None, help="Gate B: the shot"),
             master: Path = typer.Option(None, help="Gate C: the master file (default: the "
                                                    "latest render's)"),
             approve: bool = typer.Option(None, "--approve/--reject",
                                          help="The decision (omit to see the status)"),
             who: str = typer.Option(None, help="Who decides"),
             why: str = typer.Option("", help="Why (required to reject)")) -> None:
    """Record or show a Gate B (shot) or Gate C (master) decision."""
    from ..production import gates

    p = Project.load(project)
    sb = p.storyboard(episode)
    ledger = p.ledger()
    g = gate.upper()
    if g == "B":
        # the take the widget and status show: the latest render's, or a later regeneration
        takes = gates.current_takes(ledger, sb.episode)
        shots = [shot] if shot else [s.id for s in sb.shots]
        if approve is not None:
            if not shot:
                raise StudioError("a Gate B decision names one shot", field="--shot",
                                  hint="add --shot SHOT_ID")
            if not takes.get(shot):
                raise StudioError(f"shot {shot} has no take to review", field="--shot",
                                  hint=f"render the episode first (studio render {project} "
                                  f"{sb.episode})")
            gates.review_shot(ledger, sb.episode, shot, approve=approve, who=who or "",
                              why=why, asset=takes[shot])
        table = Table(title=f"Gate B - episode {sb.episode}")
        for col in ("shot", "state", "who", "why"):
            table.add_column(col)
        for sid in shots:
            st = gates.shot_status(ledger, sb.episode, sid, takes.get(sid))
            table.add_row(sid, st.state.value, st.who or "", st.why or "")
        Console().print(table)
    elif g == "C":
        if master is None:  # the latest render's master
            render = gates.latest_render(ledger, sb.episode)
            master = Path(render["master"]) if render and render.get("master") else None
        if master is None:
            raise StudioError("Gate C is decided on the master file, and this episode has "
                              "no successful render", field="--master",
                              hint="render it first, or add --master PATH")
        if approve is not None:
            st = gates.decide_master(ledger, sb.episode, master, approve=approve, who=who or "",
                                     why=why)
        else:
            st = gates.master_status(ledger, sb.episode, master)
        console.print(f"Gate C {sb.episode}: [bold]{st.state.value}[/]"
                      + (f" by {st.who} ({st.when}): {st.why}" if st.who else ""))
    else:
        raise StudioError(f"unknown gate {gate!r}", field="--gate",
                          hint="B (creative, per shot) or C (final, the master); Gate A is "
                          "'studio approve --gate A'")


@app.command("publish")
def publish_cmd(project: Path = typer.Argument(Path(".")), episode: str = typer.Argument("01"),
                dest: Path = typer.Argument(..., help="Where the published master goes"),
                master: Path = typer.Option(None, help="The master (default: the latest "
                                                       "render's)")) -> None:
    """Publish the master: only if Gate C approved exactly this file."""
    from ..production import gates

    p = Project.load(project)
    sb = p.storyboard(episode)
    ledger = p.ledger()
    if master is None:
        render = gates.latest_render(ledger, sb.episode)
        master = Path(render["master"]) if render and render.get("master") else None
    if master is None:
        raise StudioError(f"episode {sb.episode} has no successful render to publish",
                          field="--master", hint=f"render it first (studio render {project} "
                          f"{sb.episode}), then approve Gate C")
    out = gates.publish(ledger, sb.episode, master, dest)
    console.print(f"[green]published[/] {out}")
