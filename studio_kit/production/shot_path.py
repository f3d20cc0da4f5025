"""THE attempt loop every shot goes through: the render (``pipeline.episode``), the router
(``failover.Router.run_shot`` / ``generate_episode``) and regeneration
(``regeneration.produce_shot``, used by Gate B rejections and the QC evaluation).

``run_attempts`` walks a shot's routing chain: on each engine up to ``seeds_per_engine``
seeds, an engine error fails over (or tries the next seed, or stops, as the caller's
``on_error`` says), every take is judged (QC) before it is kept, and a take that fails QC is
regenerated with the next seed, then on the next engine, within the attempt ``budget``.
The callers only say how a request is built, how an engine is called and how a take is
judged; the order of attempts, the budget and the concurrency slots live here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..engines.base import EngineRequest, EngineResult
from ..errors import EngineError

Action = Literal["next_engine", "next_seed", "stop"]


class Try(BaseModel):
    """One attempt of the loop: the engine asked, the request, and what came of it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    n: int = Field(description="attempt number (counts errors too)")
    engine: str
    k: int = Field(description="seed index on this engine (0: the shot's own seed)")
    request: EngineRequest
    result: EngineResult | None = None
    error: EngineError | None = None
    passed: bool = False
    verdict: Any = None


class Attempts(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    tries: list[Try] = Field(default_factory=list)

    @property
    def passed(self) -> Try | None:
        return next((t for t in self.tries if t.passed), None)

    @property
    def judged(self) -> list[Try]:
        return [t for t in self.tries if t.result is not None]


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _enter(slot: Any):
    """An async context for a slot: an ``asyncio.Semaphore``, a threading semaphore (the
    render's per-engine slots) or ``None``."""
    if slot is None:
        return contextlib.nullcontext()
    if hasattr(slot, "__aenter__"):
        return slot
    return _ThreadSlot(slot)


class _ThreadSlot:
    def __init__(self, sem: Any) -> None:
        self.sem = sem

    async def __aenter__(self) -> None:
        self.sem.acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self.sem.release()


async def run_attempts(
        chain: list[str], *,
        request_for: Callable[[str, int, int], EngineRequest],
        generate: Callable[[EngineRequest, str, int], EngineResult | Awaitable[EngineResult]],
        judge: Callable[[Try], tuple[bool, Any] | Awaitable[tuple[bool, Any]]],
        budget: int, seeds_per_engine: int = 1, start_attempt: int = 1,
        count_errors: bool = True, rounds: int | None = 1,
        on_error: Callable[[Try], Action] | None = None,
        on_try: Callable[[Try], None] | None = None,
        slot: Callable[[str], Any] | None = None) -> Attempts:
    """Try ``chain`` until a take passes ``judge`` or ``budget`` is spent.

    ``request_for(engine, k, n)``: the request of attempt ``n`` (``k``-th seed on
    ``engine``). ``generate(request, engine, n)``: the take (raises ``EngineError``).
    ``judge(try)``: ``(passed, verdict)`` (QC). ``budget`` counts every attempt, or only
    judged takes when ``count_errors`` is False. ``rounds``: passes over the chain (None:
    round again until the budget is spent). ``on_error(try)``: after an engine error,
    ``next_engine`` (failover; the default), ``next_seed`` or ``stop``; it may raise.
    ``on_try(try)``: called once per attempt (the ledger row). ``slot(engine)``: the
    engine's concurrency limit, held around each call.
    """
    out = Attempts()
    if not chain or seeds_per_engine < 1 or budget < 1:
        return out
    n, used, passes = start_attempt - 1, 0, 0
    while rounds is None or passes < rounds:
        passes += 1
        for engine in chain:
            for k in range(seeds_per_engine):
                if used >= budget:
                    return out
                n += 1
                t = Try(n=n, engine=engine, k=k, request=request_for(engine, k, n))
                out.tries.append(t)
                try:
                    async with _enter(slot(engine) if slot else None):
                        t.result = await _maybe(generate(t.request, engine, n))
                except EngineError as err:
                    t.error = err
                    used += 1 if count_errors else 0
                    if on_try:
                        on_try(t)
                    action = on_error(t) if on_error else "next_engine"
                    if action == "stop":
                        return out
                    if action == "next_engine":
                        break
                    continue
                used += 1
                t.passed, t.verdict = await _maybe(judge(t))
                t.passed = bool(t.passed)
                if on_try:
                    on_try(t)
                if t.passed:
                    return out
        if rounds is None and used == 0:
            return out  # nothing can be spent (every engine stops): do not spin
    return out


def semaphores(limit: Callable[[str], int]) -> Callable[[str], asyncio.Semaphore]:
    """Per-engine ``asyncio.Semaphore``s, created on first use with ``limit(engine)``."""
    sems: dict[str, asyncio.Semaphore] = {}

    def get(name: str) -> asyncio.Semaphore:
        if name not in sems:
            sems[name] = asyncio.Semaphore(limit(name))
        return sems[name]

    return get
