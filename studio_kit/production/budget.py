"""Gate A (budget): estimate an episode's engine spend before anything paid runs.

Per shot: the routed engine's billed seconds (engines bill fixed lengths, e.g. 5 or 10 s)
x its price per second, plus a retry allowance (``routing.yaml`` ``retry_allowance``,
default 0.5 attempts) priced at the dearest engine of the shot's failover chain. The
episode total is checked against the series budget (``series.yaml`` budget.per_episode
and what is left of budget.total after the ledger's spend). Missing API keys of routed
engines are reported here, not mid-run.

Approval is a ledger gate decision (gate ``A``, subject ``budget``) whose subject hash is
the estimate's hash; ``generate_shot`` refuses a paid engine without it, and
``generate_episode`` callers can require the hash to match (routes unchanged).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, Field

from ..engines.base import Engine
from ..errors import BudgetError
from ..store.hashing import stable_hash
from ..store.ledger import Ledger
from .routing import RouteDecision, RoutingRules, engine_for, load_rules, route_episode


class ShotEstimate(BaseModel):
    shot_id: str
    engine: str
    rule: str
    paid: bool
    seconds: float = Field(description="Billed seconds (the engine's allowed length).")
    rate: float
    cost: float
    budgeted: float = Field(description="cost + retry allowance at the chain's dearest engine")
    chain: list[str]
    warnings: list[str] = Field(default_factory=list)


class EpisodeEstimate(BaseModel):
    episode: str
    currency: str
    shots: list[ShotEstimate]
    cost: float
    total: float = Field(description="Budgeted total including retries.")
    retry_allowance: float
    per_episode_budget: float | None
    series_budget: float
    spent_series: float
    spent_episode: float
    waste_series: float = 0.0  # of spent_series: billed but discarded
    missing_keys: dict[str, str] = Field(default_factory=dict, description="engine -> env var")
    blocking: list[str] = Field(default_factory=list)
    over_budget: list[str] = Field(default_factory=list)
    estimate_hash: str = ""

    @property
    def ok(self) -> bool:
        return not self.blocking and not self.over_budget

    def rows(self) -> list[dict[str, Any]]:
        return [{"shot": s.shot_id, "engine": s.engine, "rule": s.rule,
                 "seconds": s.seconds, "rate": s.rate, "cost": round(s.cost, 4),
                 "budgeted": round(s.budgeted, 4), "failover": " > ".join(s.chain[1:]),
                 "warnings": "; ".join(s.warnings)} for s in self.shots]


def billed_seconds(engine: Engine, seconds: float) -> float:
    # Engine.billed_duration reads request.duration only: a stand-in carries just that
    return float(engine.billed_duration(SimpleNamespace(duration=seconds)))  # type: ignore[arg-type]


def shot_cost(engine: Engine, seconds: float) -> tuple[float, float]:
    """(billed seconds, cost) of one attempt."""
    billed = billed_seconds(engine, seconds)
    return billed, round(engine.capabilities.price_per_second * billed, 6)


def estimate_episode(project, episode: str, *, rules: RoutingRules | None = None,
                     engines: dict[str, Engine] | None = None, ledger: Ledger | None = None,
                     decisions: list[RouteDecision] | None = None) -> EpisodeEstimate:
    rules = rules or load_rules(project)
    engines = dict(engines or {})
    decisions = decisions or route_episode(project, episode, rules, engines)
    ep = project.storyboard(episode).episode

    def eng(name: str) -> Engine:
        if name not in engines:
            engines[name] = engine_for(name, rules)
        return engines[name]

    shots: list[ShotEstimate] = []
    missing: dict[str, str] = {}
    blocking: list[str] = []
    for d in decisions:
        e = eng(d.engine)
        billed, cost = shot_cost(e, d.duration_s)
        dearest = max((shot_cost(eng(n), d.duration_s)[1] for n in d.chain), default=cost)
        warnings = [f"{k} skipped: {v}" for k, v in d.skipped.items()]
        for name, why in d.skipped.items():
            if why.endswith("not set"):
                missing[name] = why.split()[0].lstrip("$")
        key = e.key_problem()
        if key:
            missing[d.engine] = key
            blocking.append(f"shot {d.shot_id}: {d.engine} needs ${key} and no other engine "
                            "of its chain can take it")
        paid = bool(e.capabilities.paid)
        shots.append(ShotEstimate(
            shot_id=d.shot_id, engine=d.engine, rule=d.rule, paid=paid, seconds=billed,
            rate=e.capabilities.price_per_second, cost=cost,
            budgeted=round(cost + rules.retry_allowance * dearest, 6), chain=d.chain,
            warnings=warnings))
    cost = round(sum(s.cost for s in shots), 6)
    total = round(sum(s.budgeted for s in shots), 6)
    budget = project.series.budget
    led = ledger or project.ledger()
    spent_series = led.total_cost()  # everything billed, failed billed attempts included
    spent_episode = led.total_cost(ep)
    waste_series = led.spend()["waste"]
    over = []
    if budget.per_episode is not None and total > budget.per_episode + 1e-9:
        over.append(f"episode estimate {total:.2f} {budget.currency} is over the per-episode "
                    f"budget {budget.per_episode:.2f}")
    if budget.total and total > budget.total - spent_series + 1e-9:
        over.append(f"episode estimate {total:.2f} exceeds what is left of the series budget "
                    f"({budget.total - spent_series:.2f} of {budget.total:.2f})")
    est = EpisodeEstimate(
        episode=ep, currency=budget.currency, shots=shots, cost=cost, total=total,
        retry_allowance=rules.retry_allowance, per_episode_budget=budget.per_episode,
        series_budget=budget.total, spent_series=spent_series, spent_episode=spent_episode,
        waste_series=waste_series,
        missing_keys=missing, blocking=blocking, over_budget=over)
    # what the producer approves: the routes and prices as configured, not which API keys
    # this shell happens to have (a kernel or CI job with other keys must not reopen Gate A)
    names = sorted({n for d in decisions for n in (d.configured or d.chain)})
    est.estimate_hash = stable_hash(
        "gate-a", ep, [(d.shot_id, d.rule, d.configured or d.chain, d.duration_s)
                       for d in decisions],
        {n: rules.settings(n).model_dump(mode="json") for n in names},
        rules.retry_allowance)[:16]
    return est


def approve_gate_a(project, episode: str, *, who: str, note: str = "",
                   ledger: Ledger | None = None, rules: RoutingRules | None = None,
                   engines: dict[str, Engine] | None = None,
                   allow_over_budget: bool = False) -> EpisodeEstimate:
    """Record the operator's approval of the current estimate (refused if it cannot run)."""
    if not who.strip():
        raise BudgetError("Gate A needs the approver's name", field="who",
                          hint="pass --who NAME")
    led = ledger or project.ledger()
    est = estimate_episode(project, episode, rules=rules, engines=engines, ledger=led)
    if est.blocking:
        raise BudgetError(f"episode {est.episode}: cannot approve: " + "; ".join(est.blocking),
                          field="gate A",
                          hint="export the missing keys or reroute those shots "
                               "(routing.yaml or shot.engine)")
    if est.over_budget and not allow_over_budget:
        raise BudgetError(f"episode {est.episode}: " + "; ".join(est.over_budget),
                          field="budget", hint="reroute shots to cheaper engines, raise "
                          "the budget in series.yaml, or approve with --over-budget")
    why = (f"{note} " if note else "") + \
        f"[estimate {est.total:.2f} {est.currency} incl. retries, {len(est.shots)} shots]"
    led.decide(episode=est.episode, gate="A", subject="budget", decision="approved", who=who,
               why=why.strip(), subject_hash=est.estimate_hash)
    return est


def reject_gate_a(project, episode: str, *, who: str, note: str = "",
                  ledger: Ledger | None = None) -> None:
    led = ledger or project.ledger()
    ep = project.storyboard(episode).episode
    led.decide(episode=ep, gate="A", subject="budget", decision="rejected", who=who, why=note)


def gate_a_status(project, episode: str, est: EpisodeEstimate,
                  ledger: Ledger | None = None) -> str:
    led = ledger or project.ledger()
    d = led.latest_decision(est.episode, "A", "budget")
    if d is None:
        return "not approved"
    if d["decision"] != "approved":
        return f"{d['decision']} by {d['who']}"
    if d.get("subject_hash") and d["subject_hash"] != est.estimate_hash:
        return f"approved by {d['who']} for an earlier estimate (routes changed: re-approve)"
    return f"approved by {d['who']} at {d['created_at']}"
