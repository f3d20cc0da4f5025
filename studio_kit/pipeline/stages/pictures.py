"""Pictures: each shot's prompts (``prompt``), then its take (``generate``): THE shot path.

``prompt`` compiles and lints the shot's prompt for every engine of its route (a lint error
stops the render before any engine is called). ``generate`` runs every shot through
:func:`produce_shot_take` concurrently (each engine's calls within its concurrency slots):
failover on engine errors, each take QC'd once before it is kept, a failing take
regenerated within the attempt budget (runner stages ``generate``, ``qc``, and one
``regeneration`` ledger row per QC'd take).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...asyncrun import run_sync
from ...engines.base import EngineRequest, EngineResult
from ...errors import EngineError, StudioError
from ...production.generation import cached_result, generate_shot, is_paid
from ...production.regeneration import STAGE, attempt_seed
from ...production.shot_path import run_attempts
from ...prompts import compiler, linter
from ...qc import base
from ...qc.runner import DEFAULT_SCORERS, qc_clip  # (imported before the shot threads)
from ...store.hashing import stable_hash
from ...store.ledger import Ledger
from ..context import RenderContext
from ..models import NOT_PAID_ON_WORKER, QC_VERSION, ShotJob, ShotTake
from ..runner import StageContext, StageProduct, StageRunner
from .base import Stage
from .timing import PicturePlan, shot_visemes


def shot_seed(episode: str, shot_id: str, explicit: int | None) -> int:
    """The shot's seed: explicit in the storyboard, else derived from its identity."""
    if explicit is not None:
        return explicit
    return int(stable_hash("seed", episode, shot_id)[:8], 16)


def gate_b_direction(ledger, episode: str, shot_id: str) -> str:
    """Every Gate B rejection note on a shot, in order: the direction its prompt carries
    from then on (so the rejected take is never the current one again)."""
    rows = ledger.query("SELECT why FROM gate_decisions WHERE episode=? AND gate='B' AND "
                        "subject=? AND decision='rejected' ORDER BY id", (episode, shot_id))
    notes = [" ".join(str(r["why"] or "").split()) for r in rows]
    return " ".join(n.rstrip(".") + "." for n in dict.fromkeys(n for n in notes if n))


def gate_b_seed(seed: int, shot_id: str, direction: str) -> int:
    """A rejected shot's seed: a new one per set of notes (an engine that draws from the
    spec, not the words, makes a new take too); the shot's own seed when never rejected."""
    if not direction:
        return seed
    return int(stable_hash("gate-b-seed", seed, shot_id, direction)[:8], 16) % 2_000_000_000


def prompt(r: RenderContext, spec, engine: str, direction: str = "", *,
           runner: StageRunner | None = None) -> dict[str, Any]:
    """The shot's prompt for ``engine``, linted (a lint error stops the shot before any
    engine is called), with the Gate B direction (rejection notes) folded in."""
    compiled = compiler.compile_prompt(spec, engine, policy=r.policy())
    problems = linter.lint_prompt(compiled, spec, policy=r.policy())
    if problems:
        raise StudioError(
            f"shot {spec.shot.id}: its {engine} prompt fails the linter "
            f"({problems[0].message}); no engine was called",
            problems=[*problems], field=f"shots.{spec.shot.id}",
            hint="fix the shot/bible, then 'studio prompts PROJECT EP --lint'") \
            if len(problems) > 1 else StudioError(
            f"shot {spec.shot.id}: its {engine} prompt fails the linter: "
            f"{problems[0].message}; no engine was called", file=problems[0].file,
            field=problems[0].field, hint=problems[0].hint)
    text = compiled.prompt
    if direction:
        text = f"{text} Direction: {direction}"
    inputs = {"spec": spec.model_dump(mode="json"), "engine": engine,
              "direction": direction}

    def fn(ctx: StageContext) -> StageProduct:
        path = ctx.file("prompt.json")
        path.write_text(compiled.model_copy(update={"prompt": text}).model_dump_json(
            indent=1), encoding="utf-8")
        return StageProduct(files={"prompt": path}, meta={
            "prompt": text, "negative_prompt": compiled.negative_prompt,
            "compiler": "studio_kit.prompts", "version": compiled.compiler_version})

    return (runner or r.runner).run("prompt", inputs, fn, subject=spec.shot.id).meta


def generate_take(r: RenderContext, request: EngineRequest, engine_name: str, shot_id: str,
                  attempt: int = 1, *, runner: StageRunner | None = None
                  ) -> tuple[EngineResult, bool]:
    """The shot's clip: ``studio_kit.production.generation.generate_shot`` (idempotent,
    ledger-backed, Gate A for paid engines), within the engine's concurrency limit."""
    runner = runner or r.runner
    engine = r.engine(engine_name)
    model = engine.model or ""
    key = request.request_hash(engine_name, model)

    def fn(ctx: StageContext) -> StageProduct:
        def report(f: float) -> None:
            ctx.progress(f)

        if not r.options.paid_calls:
            _refuse_to_pay(engine, engine_name, key, r.vault, runner.ledger, shot_id)
        with r.slot(engine_name):
            result = run_sync(generate_shot(request, engine_name, vault=r.vault,
                                            ledger=runner.ledger, episode=r.episode,
                                            run_id=r.run_id, progress=report,
                                            engine=engine, attempt=attempt))
        return StageProduct(digests={"clip": result.asset},
                            meta={"result": result.model_dump(mode="json")})

    out = runner.run("generate", {"request": key}, fn, subject=shot_id)
    return EngineResult.model_validate(out.meta["result"]), out.cache_hit


def run_qc(r: RenderContext, spec, request: EngineRequest, result: EngineResult, *,
           attempt: int = 1, runner: StageRunner | None = None) -> dict[str, Any]:
    """QC one take (``qc.runner.qc_clip``: every scorer, against the bible): one cached
    ``qc`` stage per (take, request, tier), its scores recorded in the ledger."""
    digest = result.asset
    inputs = {"clip": digest, "tier": r.tier.value, "engine": result.engine,
              "request": request.request_hash(result.engine, result.model),
              "scorers": DEFAULT_SCORERS, "version": QC_VERSION}

    def fn(ctx: StageContext) -> StageProduct:
        report = qc_clip(r.vault.get(digest), request, result.engine, vault=r.vault,
                         tier=r.tier, asset=digest, scorers=DEFAULT_SCORERS)
        path = ctx.file("qc.json")
        path.write_text(report.model_dump_json(indent=1), encoding="utf-8")
        return StageProduct(files={"report": path},
                            meta={"report": report.model_dump(mode="json")})

    runner = runner or r.runner
    out = runner.run("qc", inputs, fn, subject=spec.shot.id)
    report = base.QCReport.model_validate(out.meta["report"])
    base.record_report(report, runner.ledger, run_id=r.run_id, attempt=attempt)
    return out.meta["report"]


class WorkerWouldPay(EngineError):
    """A worker of a season render met a paid request with no take in the vault."""

    transient = True  # the coordinator's next pass pays for it; never a lasting refusal


def _refuse_to_pay(engine, engine_name: str, key: str, vault, ledger, shot_id: str) -> None:
    if is_paid(engine) and cached_result(key, vault, ledger) is None:
        raise WorkerWouldPay(f"{engine_name}: {NOT_PAID_ON_WORKER} (shot {shot_id})",
                             field=f"shots.{shot_id}",
                             hint="render the season through studio_kit.scale.render_season "
                                  "(its coordinator pays before submitting)")


def shot_jobs(r: RenderContext, dialogue, starts, timing_of,
              plan: PicturePlan) -> list[ShotJob]:
    """Every shot's job, its route, and its prompts compiled and linted for every engine of
    its chain: a lint error stops the render before any engine is called."""
    return [one_job(r, shot, dialogue, starts, timing_of, plan) for shot in r.sb.shots]


def produce_all(r: RenderContext, jobs: list[ShotJob]) -> dict[str, ShotTake]:
    """Every shot through the one shot path, concurrently (each engine's calls within its
    concurrency slots); a shot that continues the previous one waits for its take."""
    def work(job: ShotJob, previous) -> ShotTake:
        ledger = Ledger(r.ledger.path)
        runner = StageRunner(r.vault, ledger, r.run_id, r.progress, force=r.options.force)
        try:
            prev = None
            if previous is not None and job.shot.continue_from_previous:
                prev = previous.result()[0].result.asset  # the previous take's last frame
            return produce_shot_take(r, job, runner=runner, previous_clip=prev), \
                runner.results
        finally:
            ledger.close()

    futures: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(jobs)),
                            thread_name_prefix="render-shot") as pool:
        previous = None
        for job in jobs:
            previous = futures[job.shot.id] = pool.submit(work, job, previous)
        takes: dict[str, ShotTake] = {}
        error: BaseException | None = None
        for job in jobs:  # every shot finishes (its paid work is kept) before an error
            try:
                takes[job.shot.id], results = futures[job.shot.id].result()
                r.runner.results.extend(results)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, the first one
                error = error or exc
    if error is not None:
        raise error
    return takes


def produce_shot_take(r: RenderContext, job: ShotJob, *, runner: StageRunner,
                      previous_clip: str | None = None) -> ShotTake:
    """THE shot path (render and regeneration): the route's engines in order (failover on
    an engine error; Gate A / budget refusals are not failed over), each take QC'd once
    before it is kept; a take below the tier's thresholds is regenerated with a new seed,
    then on the next engine, within ``options.attempts``. A take an engine of the route
    already delivered is kept on a re-render (the kept take follows the route)."""
    ledger = runner.ledger
    sid = job.shot.id
    first = {e: r.shot_request(job, e, job.prompts[e], job.seed, previous_clip)
             for e in job.chain}
    start, failures = 0, []
    for n, engine in enumerate(job.chain):
        if r.has_take(first[engine], engine, ledger):
            start = n
            break
        why = r.failed_before(first[engine], engine, ledger)
        if why is None:
            start = n
            break
        failures.append(f"{engine}: failed before ({why}); not asked again - "
                        "'studio render --retry-failed' asks it again")
    else:
        raise StudioError(f"shot {sid}: every engine of its route refused this shot before: "
                          + "; ".join(failures), field=f"shots.{sid}.engine",
                          hint="fix the shot or the engine, then 'studio render "
                          "--retry-failed', or add a failover engine in routing.yaml")
    attempts: list[str] = []
    spent = 0.0
    takes: dict[int, ShotTake] = {}

    def request_for(engine: str, k: int, n: int) -> EngineRequest:
        if k == 0:
            return first[engine]
        seed = attempt_seed(job.seed, sid, k + 1)
        return r.shot_request(job, engine, job.prompts[engine], seed, previous_clip)

    def generate(request: EngineRequest, engine: str, n: int) -> EngineResult:
        held = 0.0
        if n > 1 and not r.has_take(request, engine, ledger):
            held = r.check_budget(engine, request, ledger, sid)  # a retry costs more
        try:
            return generate_take(r, request, engine, sid, attempt=n, runner=runner)[0]
        finally:
            r.release_budget(held)  # (its cost is in the ledger now; Gate A / budget
            # refusals are StudioErrors: not failed over)

    def on_error(t) -> str:
        nonlocal spent
        err, engine = t.error, t.engine
        msg = str(err).splitlines()[0][:200]
        if err.collect_later:  # billed, pending at this engine
            raise StudioError(
                f"shot {sid}: {engine} accepted (and billed) the job but its result "
                f"could not be fetched yet: {msg}", field=f"shots.{sid}",
                hint="render again later: the job is collected, not paid again") from None
        r.remember_failure(t.request, engine, err, ledger)
        kind = "transient, retried next render" if err.transient else "permanent"
        failures.append(f"{engine}: {msg} ({kind})")
        attempts.append(f"{t.n}. {engine} seed {t.request.seed}: failed: {msg}")
        spent += float(err.cost or 0.0)  # billed, then rejected
        return "next_engine"  # failover

    def judge(t) -> tuple[bool, dict[str, Any]]:
        qc = run_qc(r, job.spec, t.request, t.result, attempt=t.n, runner=runner)
        failed = [f"{x['metric']}={x['value']:.3g}" for x in qc["scores"]
                  if not x.get("skipped") and not x.get("passed")]
        take = takes[t.n] = ShotTake(
            result=t.result, request=t.request, prompt=job.prompts[t.engine], qc=qc,
            request_digest=r.vault.put_bytes(t.request.model_dump_json().encode("utf-8")))
        record_attempt(r, ledger, job, t.n, t.engine, t.request.seed, take, not failed)
        seed = t.request.seed
        attempts.append(f"{t.n}. {t.engine} seed {seed}: passed QC" if not failed else
                        f"{t.n}. {t.engine} seed {seed}: failed QC ({', '.join(failed)})")
        return not failed, qc

    # the route once, from the first engine not refused before; the budget counts QC'd
    # takes (shot_path.run_attempts: the router's and regeneration's loop too)
    tried = run_sync(run_attempts(
        job.chain[start:], request_for=request_for, generate=generate, judge=judge,
        budget=r.options.attempts, seeds_per_engine=max(1, r.options.seeds_per_engine),
        count_errors=False, rounds=1, on_error=on_error))
    n_qc = len(tried.judged)
    if (ok := tried.passed) is not None:
        take = takes[ok.n]
        take.failures, take.attempts = failures, attempts
        take.spent = spent + sum(takes[t.n].result.cost for t in tried.judged
                                 if t is not ok)  # paid, discarded
        return take
    rejected = [takes[t.n] for t in tried.judged]
    if not rejected:
        raise StudioError(f"shot {sid}: every engine of its route failed: "
                          + "; ".join(failures), field=f"shots.{sid}.engine",
                          hint="see the engine calls in the ledger ('studio status'); "
                          "fix the engine or add a failover engine in routing.yaml")
    failures.append(f"QC: no take passed in {n_qc} take(s); the first is kept "
                    "(raise the attempt budget, or reject it at Gate B with a note)")
    best = rejected[0]
    best.failures, best.attempts = failures, attempts
    best.spent = spent + sum(t.result.cost for t in rejected[1:])
    return best


def record_attempt(r: RenderContext, ledger, job: ShotJob, n: int, engine: str, seed: int,
                    take: ShotTake, passed: bool) -> None:
    """One ``regeneration`` stage row per QC'd take (what ``studio qc``, the gates and
    ``gates.story`` read as the shot's takes)."""
    outputs = {"attempt": str(n), "engine": engine, "seed": str(seed),
               "asset": take.result.asset, "request": take.request_digest,
               "passed": "true" if passed else "false",
               "reason": "render" if n == 1 else "regenerate after failed QC"}
    ledger.stage_result(r.run_id, STAGE, f"{r.episode}:{job.shot.id}:{n}:"
                        f"{take.result.request_hash[:16]}", cache_hit=False,
                        subject=job.shot.id, outputs=outputs,
                        status="ok" if passed else "failed")


class PromptStage(Stage):
    """Every shot's job: its route (failover chain), seed (Gate B notes give a new one),
    duration, visemes, and its prompt compiled and linted for each engine of the chain."""

    name = "prompt"
    requires = ("dialogue", "timing")
    runner_stages = ("prompt",)
    per_shot = True

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        t = ctx.products["timing"]
        return {"jobs": shot_jobs(ctx, ctx.product("dialogue", "dialogue"), t["starts"],
                                  t["timing_of"], t["plan"])}

    def run_shot(self, ctx: RenderContext, shot_id: str) -> ShotJob:
        t = ctx.products["timing"]
        return one_job(ctx, ctx.sb.shot(shot_id), ctx.product("dialogue", "dialogue"),
                       t["starts"], t["timing_of"], t["plan"])


def one_job(ctx: RenderContext, shot, dialogue, starts, timing_of,
            plan: PicturePlan) -> ShotJob:
    """One shot's job (its route, seed, duration, visemes, Gate B direction, prompts)."""
    t = timing_of[shot.id]
    chain, left_out = ctx.engine_chain(shot)
    job = ShotJob(
        shot=shot, spec=ctx.project.resolve_shot(ctx.episode, shot.id),
        seed=shot_seed(ctx.episode, shot.id, shot.seed), duration_s=plan.duration_s(shot.id),
        visemes=shot_visemes(dialogue[shot.id]["lines"], starts, shot.id,
                             t.start_s - plan.head_s(shot.id)),
        chain=chain, left_out=left_out,
        direction=gate_b_direction(ctx.ledger, ctx.episode, shot.id))
    job.seed = gate_b_seed(job.seed, shot.id, job.direction)
    for engine in chain:  # each engine gets its own prompt dialect
        job.prompts[engine] = prompt(ctx, job.spec, engine, job.direction)
    return job


class GenerateStage(Stage):
    """Every shot's kept take through THE shot path (:func:`produce_shot_take`), the shots
    concurrently within each engine's limit; a continued shot waits for its previous take."""

    name = "generate"
    requires = ("prompt",)
    runner_stages = ("generate", "qc")
    per_shot = True

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        return {"takes": produce_all(ctx, ctx.product("prompt", "jobs"))}

    def run_shot(self, ctx: RenderContext, shot_id: str) -> ShotTake:
        """One shot's take on this thread (its previous take, when it continues the
        previous shot, must be in ``ctx.products['generate']['takes']``)."""
        jobs = ctx.product("prompt", "jobs")
        i = next((k for k, j in enumerate(jobs) if j.shot.id == shot_id), None)
        if i is None:
            raise StudioError(f"episode {ctx.episode} has no shot {shot_id!r}",
                              field="shot", hint=f"shots: {', '.join(j.shot.id for j in jobs)}")
        job, prev = jobs[i], None
        if i and job.shot.continue_from_previous:
            before = jobs[i - 1].shot.id
            take = ctx.product("generate", "takes").get(before)
            if take is None:
                raise StudioError(f"shot {shot_id} continues shot {before}, whose take is not "
                                  "made yet", field=f"shots.{shot_id}",
                                  hint=f"run shot {before} first (or the whole episode)")
            prev = take.result.asset
        return produce_shot_take(ctx, job, runner=ctx.runner, previous_clip=prev)
