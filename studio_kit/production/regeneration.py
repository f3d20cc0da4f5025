"""Automatic regeneration: a shot that fails QC (or is rejected at Gate B) is generated again
with a new seed, or rerouted to the next engine of its routing chain, within a per-shot
attempt budget. Every attempt is in the ledger: the engine call (``engine_calls``, with its
attempt number), every QC score (``qc_scores``, ``details.attempt``) and one
``stage_results`` row per attempt (stage ``regeneration``: engine, seed, asset, verdict,
the stored request), so ``story()`` can replay what happened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..engines.base import Drift, EngineRequest, EngineResult
from ..errors import StudioError
from ..models import Tier
from ..prompts import PromptPolicy, compile_prompt
from ..qc.base import QCReport
from ..qc.runner import DEFAULT_SCORERS, qc_result
from ..store.hashing import stable_hash
from ..store.ledger import Ledger
from ..store.vault import Vault
from .generation import generate_shot
from .shot_path import Try, run_attempts

STAGE = "regeneration"


class Attempt(BaseModel):
    attempt: int
    engine: str
    seed: int
    asset: str | None = None
    request: str | None = Field(default=None, description="vault hash of the request JSON")
    passed: bool = False
    failures: list[str] = Field(default_factory=list)
    error: str | None = None
    reason: str = ""


class ShotProduction(BaseModel):
    shot_id: str
    passed: bool
    attempts: list[Attempt] = Field(default_factory=list)
    result: EngineResult | None = None
    report: QCReport | None = None
    request: EngineRequest | None = None

    @property
    def engine(self) -> str | None:
        return self.result.engine if self.result else None


def attempt_seed(base_seed: int, shot_id: str, attempt: int) -> int:
    """Attempt 1 keeps the shot's seed; later attempts get new, reproducible seeds."""
    if attempt <= 1:
        return base_seed
    return int(stable_hash("seed", shot_id, base_seed, attempt)[:8], 16) % 2_000_000_000


def attempt_plan(chain: list[str], budget: int, seeds_per_engine: int) -> list[str]:
    """Engine per attempt: ``seeds_per_engine`` seeds on each engine of the chain in turn,
    then round again on the first engine until the budget is spent."""
    if budget > 0 and (not chain or seeds_per_engine < 1):
        raise StudioError("no engine to try: the routing chain is empty or allows no seeds",
                          field="chain", hint="route the shot to at least one engine and "
                          "allow at least one seed per engine")
    plan: list[str] = []
    while len(plan) < budget:
        for name in chain:
            plan.extend([name] * seeds_per_engine)
    return plan[:budget]


def project_policy(ledger: Ledger, project_root: str | Path | None = None) -> PromptPolicy:
    """The prompt policy a project declares (``prompt_policy.yaml``): of ``project_root``,
    else of the series folder whose ``.studio/ledger.sqlite`` is ``ledger``; the defaults
    when neither is a series folder (e.g. a scratch ledger)."""
    from .generation import ledger_project

    project_root = project_root if project_root is not None else ledger_project(ledger)
    return PromptPolicy.for_project(project_root) if project_root is not None else \
        PromptPolicy()


def previous_attempts(ledger: Ledger, episode: str, shot_id: str) -> int:
    prefix = f"{episode}:"  # exact prefix match: no LIKE wildcards from ids
    row = ledger.query("SELECT COUNT(*) AS n FROM stage_results WHERE stage=? AND subject=? "
                       "AND substr(key, 1, ?) = ?", (STAGE, shot_id, len(prefix), prefix))
    return int(row[0]["n"])


async def produce_shot(request: EngineRequest, *, chain: list[str], vault: Vault,
                       ledger: Ledger, run_id: int | None = None,
                       tier: Tier | str = Tier.standard, budget: int = 4,
                       seeds_per_engine: int = 2, scorers: list[str] | None = None,
                       qc_options: dict[str, Any] | None = None,
                       injected_drift: Callable[[int, str], Drift | None] | None = None,
                       reason: str = "generate", first_attempt: int | None = None,
                       policy: PromptPolicy | None = None,
                       project_root: str | Path | None = None,
                       estimate_hash: str | None = None) -> ShotProduction:
    """Generate a shot and QC it; regenerate / reroute until it passes or the budget is out.

    ``chain``: engines in routing order (``routing.route_shot(...).chain``).
    ``injected_drift(attempt, engine)``: a test / evaluation hook that makes the local
    engine drift on chosen attempts (models a generator that drifted on one seed).
    ``first_attempt``: number of the first attempt (defaults to continuing after the ledger's
    previous attempts for this shot, e.g. after a Gate B rejection).
    ``policy``: the prompt policy; default: the project's ``prompt_policy.yaml`` (the project
    is ``project_root``, else the series folder that holds ``ledger``), as the pipeline does.
    ``estimate_hash``: the current Gate A estimate (paid engines need it to match the
    approval; see ``generation.require_gate_a``).
    """
    if policy is None:
        policy = project_policy(ledger, project_root)
    spec = request.spec
    shot_id, episode = spec.shot.id, spec.episode
    start = first_attempt or previous_attempts(ledger, episode, shot_id) + 1
    base_seed = request.seed
    out = ShotProduction(shot_id=shot_id, passed=False)
    attempt_plan(chain, budget, seeds_per_engine)  # (a clear error for an empty chain)
    prompts: dict[str, Any] = {}

    def request_for(engine: str, k: int, n: int) -> EngineRequest:
        if engine not in prompts:
            prompts[engine] = compile_prompt(spec, engine, policy=policy)
        compiled = prompts[engine]
        drift = (injected_drift(n, engine) if injected_drift else None) or Drift()
        return request.model_copy(update={"seed": attempt_seed(base_seed, shot_id, n),
                                          "prompt": compiled.prompt,
                                          "negative_prompt": compiled.negative_prompt,
                                          "drift": drift})

    async def generate(req: EngineRequest, engine: str, n: int) -> EngineResult:
        return await generate_shot(req, engine, vault=vault, ledger=ledger, episode=episode,
                                   run_id=run_id, attempt=n, estimate_hash=estimate_hash,
                                   project=project_root)

    def judge(t: Try) -> tuple[bool, QCReport]:
        report = qc_result(t.result, t.request, vault=vault, ledger=ledger, run_id=run_id,
                           tier=tier, attempt=t.n, scorers=scorers or DEFAULT_SCORERS,
                           options=qc_options)
        out.result, out.report, out.request = t.result, report, t.request
        return report.passed, report

    def on_try(t: Try) -> None:
        att = Attempt(attempt=t.n, engine=t.engine, seed=t.request.seed,
                      request=vault.put_bytes(t.request.model_dump_json().encode("utf-8")),
                      reason=reason if t.n == start else "regenerate after failed QC")
        if t.error is not None:
            att.error = str(t.error).splitlines()[0][:300]
        else:
            report = t.verdict
            att.asset, att.passed = t.result.asset, report.passed
            att.failures = [f"{s.metric}={s.value:.3g}>{s.threshold:g}"
                            if s.direction == "max"
                            else f"{s.metric}={s.value:.3g}<{s.threshold:g}"
                            for s in report.failures]
        _record(ledger, run_id, episode, shot_id, att)
        out.attempts.append(att)

    # round-robin over the chain, every attempt (errors too) spends the budget, an engine
    # error tries the next planned attempt (shot_path.run_attempts: the render's loop)
    tried = await run_attempts(chain, request_for=request_for, generate=generate,
                               judge=judge, budget=budget, seeds_per_engine=seeds_per_engine,
                               start_attempt=start, count_errors=True, rounds=None,
                               on_error=lambda t: "next_seed", on_try=on_try)
    out.passed = tried.passed is not None
    return out


def _record(ledger: Ledger, run_id: int | None, episode: str, shot_id: str,
            att: Attempt) -> None:
    outputs = {k: (v if isinstance(v, str) else json.dumps(v))
               for k, v in att.model_dump(mode="json").items() if v is not None}
    ledger.stage_result(run_id, STAGE, f"{episode}:{shot_id}:{att.attempt}", cache_hit=False,
                        subject=shot_id, outputs=outputs,
                        status="ok" if att.passed else ("error" if att.error else "failed"))


def stored_request(vault: Vault, digest: str) -> EngineRequest:
    try:
        return EngineRequest.model_validate_json(vault.get(digest).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StudioError(f"stored request {digest[:12]} is unreadable: {exc}",
                          hint="run 'studio vault verify --repair', then render the "
                          "shot again") from None
