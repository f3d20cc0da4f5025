"""Running the routed chains: :class:`Router` takes each shot down its engine chain with
failover on errors, timeouts, refusals and failed QC, under per-engine concurrency limits;
:func:`generate_episode` does it for a whole episode. The decisions come from
:mod:`.routing`; every paid call goes through :func:`.generation.generate_shot`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field

from ..engines.base import Engine, EngineRequest, EngineResult
from ..errors import error_kind
from ..store.ledger import Ledger
from ..store.vault import Vault
from .generation import cached_result, generate_shot
from .routing import (
    RouteDecision,
    RoutingRules,
    build_request,
    engine_for,
    load_rules,
    route_episode,
)


class ShotOutcome(BaseModel):
    shot_id: str
    result: EngineResult | None = None
    engine: str | None = None
    attempts: list[dict[str, str]] = Field(default_factory=list)
    reused: bool = False

    @property
    def ok(self) -> bool:
        return self.result is not None


QcFn = Callable[[EngineRequest, EngineResult], bool | Awaitable[bool]]


class Router:
    """Runs routed shots with failover and per-engine concurrency limits."""

    def __init__(self, rules: RoutingRules, *, vault: Vault, ledger: Ledger,
                 engines: dict[str, Engine] | None = None, qc: QcFn | None = None,
                 run_id: int | None = None) -> None:
        self.rules = rules
        self.vault = vault
        self.ledger = ledger
        self.engines = dict(engines or {})
        self.qc = qc
        self.run_id = run_id
        self._sems: dict[str, asyncio.Semaphore] = {}

    def engine(self, name: str) -> Engine:
        if name not in self.engines:
            self.engines[name] = engine_for(name, self.rules)
        return self.engines[name]

    def semaphore(self, name: str) -> asyncio.Semaphore:
        if name not in self._sems:
            self._sems[name] = asyncio.Semaphore(self.rules.settings(name).concurrency)
        return self._sems[name]

    async def _passes(self, request: EngineRequest, result: EngineResult) -> bool:
        if self.qc is None:
            return True
        verdict = self.qc(request, result)
        if asyncio.iscoroutine(verdict):
            verdict = await verdict
        return bool(verdict)

    async def _reuse(self, request: EngineRequest, chain: list[str]
                     ) -> tuple[str, EngineResult] | None:
        """A result an engine of the chain already produced (e.g. before a restart) that
        passes QC."""
        for name in chain:
            eng = self.engine(name)
            hit = cached_result(request.request_hash(name, eng.model or ""),
                                self.vault, self.ledger)
            if hit is not None and await self._passes(request, hit):
                return name, hit
        return None

    async def run_shot(self, request: EngineRequest, decision: RouteDecision,
                       episode: str | None = None, project: Any = None) -> ShotOutcome:
        out = ShotOutcome(shot_id=decision.shot_id)
        reuse = await self._reuse(request, decision.chain)
        if reuse:
            out.engine, out.result, out.reused = reuse[0], reuse[1], True
            return out
        from .shot_path import run_attempts

        async def generate(req: EngineRequest, name: str, n: int) -> EngineResult:
            return await generate_shot(req, name, vault=self.vault, ledger=self.ledger,
                                       episode=episode, run_id=self.run_id,
                                       engine=self.engine(name), attempt=n, project=project)

        async def judge(t) -> tuple[bool, None]:
            return await self._passes(t.request, t.result), None

        def on_try(t) -> None:
            if t.error is not None:  # kind: "user" (fix the request) or "operational"
                out.attempts.append({"engine": t.engine, "error": type(t.error).__name__,
                                     "kind": error_kind(t.error),
                                     "message": str(t.error).splitlines()[0][:200]})
            elif not t.passed:
                out.attempts.append({"engine": t.engine, "error": "QcFailed",
                                     "message": "failed QC; trying the next engine"})
            else:
                out.attempts.append({"engine": t.engine, "error": "", "message": "ok"})

        def on_error(t):  # accepted and pending at this engine: collected next run
            return "stop" if t.error is not None and t.error.collect_later else "next_engine"

        # one attempt per engine of the chain, failover on errors and failed QC
        # (shot_path.run_attempts: the render's and regeneration's loop)
        tried = await run_attempts(decision.chain, request_for=lambda e, k, n: request,
                                   generate=generate, judge=judge,
                                   budget=len(decision.chain), seeds_per_engine=1,
                                   on_error=on_error, on_try=on_try, slot=self.semaphore)
        if (t := tried.passed) is not None:
            out.engine, out.result = t.engine, t.result
        return out


async def generate_episode(project, episode: str, *, rules: RoutingRules | None = None,
                           engines: dict[str, Engine] | None = None, qc: QcFn | None = None,
                           run_id: int | None = None, vault: Vault | None = None,
                           ledger: Ledger | None = None,
                           requests: dict[str, EngineRequest] | None = None,
                           progress: Callable[[ShotOutcome], None] | None = None,
                           ) -> list[ShotOutcome]:
    """Generate every shot of an episode through its route, concurrently, with failover."""
    rules = rules or load_rules(project)
    vault = vault or project.vault()
    ledger = ledger or project.ledger()
    decisions = route_episode(project, episode, rules, engines)
    ep = project.storyboard(episode).episode
    own_run = run_id is None
    if own_run:  # so ledger.total_cost(episode) attributes the spend
        run_id = ledger.start_run("generate", episode=ep, params={"shots": len(decisions)})
    router = Router(rules, vault=vault, ledger=ledger, engines=engines, qc=qc, run_id=run_id)

    async def one(d: RouteDecision) -> ShotOutcome:
        req = (requests or {}).get(d.shot_id) or build_request(project, ep, d.shot_id)
        o = await router.run_shot(req, d, episode=ep, project=project)
        if progress:
            progress(o)
        return o

    try:
        outs = list(await asyncio.gather(*(one(d) for d in decisions)))
    except BaseException:
        if own_run:
            ledger.finish_run(run_id, status="failed")
        raise
    if own_run:
        ledger.finish_run(run_id, status="ok" if all(o.ok for o in outs) else "incomplete")
    return outs
