"""Routing and Gate A commands: route, estimate, approve."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..errors import StudioError
from ..project.series_folder import Project
from . import app, console


def _set_overrides(p: Project, episode: str, sets: list[str]) -> None:
    from ..registry import ENGINES

    sb = p.storyboard(episode).model_copy(deep=True)  # saves merge against the loaded copy
    for item in sets:
        shot_id, eq, engine = item.partition("=")
        if not eq or not shot_id.strip():
            raise StudioError(f"--set {item!r} is not of the form SHOT=ENGINE", field="--set",
                              hint="e.g. --set s01-cliff-wide=runway; SHOT= (nothing after "
                                   "'=') clears the shot's override; shot ids: 'studio route'")
        try:
            shot = sb.shot(shot_id.strip())
        except KeyError:
            raise StudioError(f"no shot {shot_id!r} in episode {sb.episode}",
                              file=p.episode(episode).storyboard_path,
                              hint="use SHOT=ENGINE with a shot id from 'studio route'") from None
        engine = engine.strip()
        if engine and engine not in ENGINES:
            raise StudioError(f"unknown engine {engine!r}", field="--set",
                              hint=f"engines: {', '.join(ENGINES.names())}")
        shot.engine = engine or None
    p.save_storyboard(sb)


def _print_engine_hosts(rules, names: list[str]) -> None:
    """Each engine's base URL (routing.yaml, $STUDIO_ENGINE_<NAME>_URL or the vendor's);
    a warning when it is not the vendor's host, since the API key is sent there."""
    from ..engines.adapters.http import HttpJobClient, origin
    from ..production.routing import engine_for

    for name in dict.fromkeys(names):
        eng = engine_for(name, rules)
        if not isinstance(eng, HttpJobClient):
            continue
        line = f"engine {name}: {eng.base_url}"
        default = type(eng).default_base_url
        if default and origin(eng.base_url) != origin(default):
            key = f"${eng.key_env}" if eng.key_env else "its key"
            line += (f"  [yellow]warning: not the default host ({default}); {key} is sent "
                     "there[/]")
        console.print(line, highlight=False)


@app.command("route")
def route(project: Path = typer.Argument(..., help="Series folder"),
          episode: str = typer.Argument(..., help="Episode, e.g. 01"),
          set_: list[str] = typer.Option([], "--set", help="SHOT=ENGINE override (saved in "
                                         "the storyboard); SHOT= clears it")) -> None:
    """Show which engine each shot goes to, which rule matched, and its estimated cost."""
    from ..production.budget import estimate_episode
    from ..production.routing import load_rules, route_episode

    p = Project.load(project)
    if set_:
        _set_overrides(p, episode, set_)
    rules = load_rules(p)
    engines: dict = {}
    decisions = route_episode(p, episode, rules, engines)
    est = estimate_episode(p, episode, rules=rules, engines=engines, decisions=decisions)
    cost = {s.shot_id: s for s in est.shots}
    table = Table(title=f"{p.series.title} - episode {est.episode}: routes")
    for col in ("shot", "engine", "rule", "failover", "s", "est. cost", "why"):
        table.add_column(col)
    for d in decisions:
        s = cost[d.shot_id]
        why = d.reason + (f" [skipped: {'; '.join(f'{k}: {v}' for k, v in d.skipped.items())}]"
                          if d.skipped else "")
        table.add_row(d.shot_id, d.engine, d.rule, " > ".join(d.chain[1:]) or "-",
                      f"{d.duration_s:g}", f"{s.cost:.2f}", why)
    Console(width=160).print(table)
    _print_engine_hosts(rules, [e for d in decisions for e in (d.configured or d.chain)])
    console.print(f"{len(decisions)} shots, estimate {est.cost:.2f} {est.currency} "
                  f"({est.total:.2f} with retries)")


@app.command("estimate")
def estimate(project: Path = typer.Argument(...), episode: str = typer.Argument(...)) -> None:
    """Gate A: the episode's estimated engine spend against the budget, and missing keys."""
    from ..production.budget import estimate_episode, gate_a_status

    p = Project.load(project)
    led = p.ledger()
    est = estimate_episode(p, episode, ledger=led)
    table = Table(title=f"Gate A - episode {est.episode}")
    for col in ("shot", "engine", "billed s", "rate/s", "cost", "with retries", "warnings"):
        table.add_column(col)
    for s in est.shots:
        table.add_row(s.shot_id, s.engine, f"{s.seconds:g}", f"{s.rate:.3f}", f"{s.cost:.2f}",
                      f"{s.budgeted:.2f}", "; ".join(s.warnings))
    Console(width=160).print(table)
    from ..production.routing import load_rules, route_episode

    rules = load_rules(p)
    _print_engine_hosts(rules, [e for d in route_episode(p, episode, rules)
                                for e in (d.configured or d.chain)])
    cur = est.currency
    per = f"{est.per_episode_budget:.2f}" if est.per_episode_budget is not None else "none"
    console.print(f"estimate {est.cost:.2f} {cur}, budgeted {est.total:.2f} {cur} "
                  f"(retry allowance {est.retry_allowance:g}); per-episode budget {per}; "
                  f"series spent {est.spent_series:.2f} of {est.series_budget:.2f}")
    for env in sorted(set(est.missing_keys.values())):
        console.print(f"[yellow]missing key[/] ${env} (engines: "
                      f"{', '.join(k for k, v in est.missing_keys.items() if v == env)})")
    for line in est.blocking + est.over_budget:
        console.print(f"[red]{line}[/]")
    console.print(f"Gate A: {gate_a_status(p, episode, est, led)}  (estimate "
                  f"{est.estimate_hash})")


@app.command("approve")
def approve(project: Path = typer.Argument(...), episode: str = typer.Argument(...),
            gate: str = typer.Option("A", "--gate", help="Gate to decide (A = budget)"),
            who: str = typer.Option(..., "--who", help="Who approves"),
            note: str = typer.Option("", "--note", help="Why"),
            over_budget: bool = typer.Option(False, "--over-budget",
                                             help="Approve although over budget")) -> None:
    """Approve a gate for an episode (Gate A: the current cost estimate)."""
    gate = gate.upper()
    p = Project.load(project)
    if gate != "A":
        raise StudioError(f"gate {gate} is not decided here", field="--gate",
                          hint="this command records Gate A (budget); Gates B and C are "
                               "decided in the review commands / surfaces")
    from ..production.budget import approve_gate_a

    est = approve_gate_a(p, episode, who=who, note=note, allow_over_budget=over_budget)
    console.print(f"[green]Gate A approved[/] for episode {est.episode} by {who}: "
                  f"{est.total:.2f} {est.currency} (estimate {est.estimate_hash})")
