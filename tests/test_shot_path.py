"""shot_path.run_attempts: the one attempt loop of the render, the router and regeneration
(failover on engine errors, QC before a take is kept, regeneration within the budget)."""

from __future__ import annotations

import asyncio

from studio_kit.engines.base import EngineRequest, EngineResult
from studio_kit.errors import EngineError
from studio_kit.production.shot_path import run_attempts


def _req(seed: int = 0) -> EngineRequest:
    return EngineRequest.model_construct(seed=seed)


def _run(chain, *, fail_engines=(), pass_at=None, **kw):
    calls: list[tuple[str, int, int]] = []

    def request_for(engine, k, n):
        return _req(k)

    async def generate(req, engine, n):
        calls.append((engine, req.seed, n))
        if engine in fail_engines:
            raise EngineError(f"{engine} down")
        return EngineResult.model_construct(engine=engine, asset=f"{engine}-{n}")

    def judge(t):
        return (pass_at is not None and t.n == pass_at), None

    out = asyncio.run(run_attempts(chain, request_for=request_for, generate=generate,
                                   judge=judge, **kw))
    return out, calls


def test_failover_then_regeneration_within_a_budget_of_qcd_takes():
    # the render's policy: errors fail over and spend nothing; QC'd takes spend the budget
    out, calls = _run(["a", "b", "c"], fail_engines={"a"}, budget=3, seeds_per_engine=2,
                      count_errors=False)
    assert calls == [("a", 0, 1), ("b", 0, 2), ("b", 1, 3), ("c", 0, 4)]
    assert out.passed is None and len(out.judged) == 3


def test_first_passing_take_stops_the_loop():
    out, calls = _run(["a", "b"], budget=4, seeds_per_engine=2, pass_at=2)
    assert calls == [("a", 0, 1), ("a", 1, 2)] and out.passed.engine == "a"


def test_round_robin_counting_errors_and_retrying_the_next_seed():
    # regeneration's policy: every attempt spends the budget, rounds until it is out
    out, calls = _run(["a", "b"], fail_engines={"b"}, budget=5, seeds_per_engine=1,
                      rounds=None, on_error=lambda t: "next_seed", start_attempt=3)
    assert [(e, n) for e, _, n in calls] == [("a", 3), ("b", 4), ("a", 5), ("b", 6), ("a", 7)]
    assert out.passed is None


def test_stop_on_error_and_concurrency_slot_held_per_call():
    held: list[str] = []

    class Slot:
        def __init__(self, name):
            self.name = name

        async def __aenter__(self):
            held.append(self.name)

        async def __aexit__(self, *exc):
            held.append("/" + self.name)

    out, calls = _run(["a", "b"], fail_engines={"a"}, budget=2,
                      on_error=lambda t: "stop", slot=Slot)
    assert calls == [("a", 0, 1)] and held == ["a", "/a"] and out.tries[0].error
