"""The render's context: what every stage of one episode render reads and shares.

:class:`RenderContext` holds the project, the storyboard, the options, the delivery format,
the vault, the ledger (one run), the :class:`~.runner.StageRunner`, the worker pools, the
per-render memos (routing rules, engines, the series look, the prompt policy, the signing
credentials, the engines' concurrency slots, the Gate A budget held by retries) and the
products the stages have made so far (``products``: stage name -> what it returned).
Stages (:mod:`.stages`) are run against it by the graph (:mod:`.graph`); a worker (the
season executor) can build one and run a single stage for a single shot.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..edit.grade import read_lut
from ..engines.base import EngineRequest, RenderFormat
from ..errors import BudgetError, EngineError, StudioError
from ..production import routing
from ..production.budget import estimate_episode, shot_cost
from ..production.conditioning import apply_conditioning, shot_conditioning
from ..production.generation import cached_result, is_paid
from ..progress import ProgressCallback
from ..project.series_folder import Project
from ..prompts import compiler
from ..provenance import load_credentials
from ..registry import ENGINES
from ..store.cache import force_vault
from ..store.hashing import file_hash
from ..store.ledger import Ledger
from ..store.yamlio import atomic_copy
from .models import FAILURE_STAGE, PIPELINE_VERSION, RenderOptions, RenderResult, ShotJob
from .runner import StageRunner


class RenderContext:
    """One episode render's shared state (see the module docstring)."""

    def __init__(self, project: Project, episode: str, options: RenderOptions, out_dir: Path,
                 progress: ProgressCallback | None, *, run_kind: str = "render") -> None:
        self.project = project
        self.sb = project.storyboard(episode)
        self.episode = self.sb.episode
        self.options = options
        self.out_dir = out_dir
        series = project.series
        fmt = series.format
        width = fmt.width if options.width is None else options.width
        height = fmt.height if options.height is None else options.height
        if width % 2 or height % 2 or width < 16 or height < 16:
            raise StudioError(f"{width}x{height} is not a render size", field="width/height",
                              hint="use even sizes of at least 16")
        if options.engine is not None:  # fail before any stage runs, not at the first shot
            ENGINES.get(options.engine)
        self.format = RenderFormat(width=width, height=height, fps=float(fmt.fps))
        self.tier = options.tier or series.tier
        self.languages = options.languages or list(series.languages)
        # --force reaches every cache over this vault, in every thread of the render (once
        # per entry; the generation cache is not forceable: a take is never paid twice)
        self.vault = force_vault(project.vault(), options.force)
        self.ledger = project.ledger()
        self.run_id = self.ledger.start_run(run_kind, self.episode, {
            "engine": options.engine, "tier": self.tier.value,
            "format": self.format.model_dump(), "languages": self.languages,
            "pipeline": PIPELINE_VERSION})
        self.runner = StageRunner(self.vault, self.ledger, self.run_id, progress,
                                  force=options.force)
        self.progress = progress
        self.shot_reports: dict[str, str] = {}
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")
        self.qc_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-qc")
        self.picture_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-pic")
        self.mix_future: Future | None = None
        #: what each stage of the graph returned, by stage name (see :mod:`.graph`)
        self.products: dict[str, dict[str, Any]] = {}
        #: the record the stages fill in (set by ``render_episode`` before the graph runs)
        self.result: RenderResult | None = None
        self.name = f"episode-{self.episode}"
        self.ep_dir = out_dir / self.name
        self._routing = None  # routing.yaml's rules, loaded at the first routed shot
        self._route_engines: dict[str, Any] = {}
        self._look: tuple[Path | None, str | None, Any] | None = None
        self._policy = None
        self._approved: tuple[float, str, float] | None = None
        self._reserved = 0.0  # retries checked against the budget, not yet in the ledger
        self._slots: dict[str, Any] = {}
        self._slots_lock = threading.Lock()
        self._creds = None

    # -- products --------------------------------------------------------------------------
    def product(self, stage: str, name: str) -> Any:
        """What stage ``stage`` made under ``name`` (it must have run in this context)."""
        try:
            return self.products[stage][name]
        except KeyError:
            raise StudioError(f"the render has no {name!r} from stage {stage!r} yet",
                              field=f"stages.{stage}",
                              hint="run the stages it depends on first "
                                   "(studio_kit.pipeline.graph.EPISODE_GRAPH)") from None

    # -- threads ---------------------------------------------------------------------------
    def in_thread(self, fn, *args, pool: ThreadPoolExecutor | None = None) -> Future:
        """Run ``fn(self, *args, runner=...)`` on a worker thread with its own ledger
        connection (a SQLite connection must not interleave two threads' transactions)."""

        def work():
            ledger = Ledger(self.ledger.path)
            runner = StageRunner(self.vault, ledger, self.run_id, self.progress,
                                 force=self.options.force)
            try:
                return fn(self, *args, runner=runner), runner.results
            finally:
                ledger.close()

        return (pool or self.pool).submit(work)

    def joined(self, future: Future):
        """The worker's result; its stage rows join the run's."""
        value, results = future.result()
        self.runner.results.extend(results)
        return value

    def shutdown(self, *, cancel: bool = False) -> None:
        """Wait for (or, after a failure, cancel) the render's worker pools."""
        for pool in (self.pool, self.qc_pool, self.picture_pool):
            pool.shutdown(wait=True, cancel_futures=cancel)

    def finish(self, *, ok: bool, record: str | None = None) -> None:
        """End the run: its pools (cancelled after a failure), its ledger row (``ok`` or
        ``failed``, with the render record's path) and the ledger."""
        self.shutdown(cancel=not ok)
        self.ledger.finish_run(self.run_id, status="ok" if ok else "failed", record=record)
        self.ledger.close()

    def export(self, digest: str, dst: Path) -> Path:
        """Copy a vault object to the output folder (skipped when the file there is the
        same)."""
        src = self.vault.get(digest)
        if dst.is_file() and dst.stat().st_size == src.stat().st_size and \
                file_hash(dst) == digest:
            return dst
        atomic_copy(src, dst)
        return dst

    # -- routing, engines, budget ----------------------------------------------------------
    def rules(self):
        """routing.yaml's rules, read once per render (not per shot)."""
        if self._routing is None:
            self._routing = routing.load_rules(self.project)
        return self._routing

    def engine(self, name: str):
        """The engine ``name`` configured with routing.yaml's settings (base URL, model,
        price), built once per render."""
        if name not in self._route_engines:
            try:
                rules = self.rules()
            except StudioError:
                if not self.options.engine:
                    raise
                rules = None  # --engine ignores routing: a broken routing.yaml is no matter
            self._route_engines[name] = routing.engine_for(name, rules)
        return self._route_engines[name]

    def engine_chain(self, shot) -> tuple[list[str], dict[str, str]]:
        """The engines to try for ``shot``, in order, and the route's engines left out with
        why: ``--engine`` alone; else the route's chain (the rule's engine, then its failover
        engines, without the ones that cannot take the shot here, e.g. no API key). An
        operator's ``engine:`` on the shot is always tried first."""
        if self.options.engine:
            return [self.options.engine], {}
        shots = self.sb.shots
        i = next(k for k, s in enumerate(shots) if s.id == shot.id)
        first_of_scene = i == 0 or shots[i - 1].scene != shot.scene
        decision = routing.route_shot(self.project, self.episode, shot, rules=self.rules(),
                                      first_of_scene=first_of_scene,
                                      engines=self._route_engines, tier=self.tier)
        chain, skipped = list(decision.chain), dict(decision.skipped)
        if shot.engine and chain[:1] != [shot.engine]:
            chain.insert(0, shot.engine)  # the override fails loudly into failover, not away
            skipped.pop(shot.engine, None)
        return chain, skipped

    def failed_before(self, request: EngineRequest, engine_name: str, ledger) -> str | None:
        """Why ``engine_name`` will not be asked again for this very request: it refused it
        permanently in an earlier render (moderation, invalid request, auth). ``None``: try
        it (never tried, or it failed only transiently - 5xx, timeouts, dropped connections
        - which the next render retries; ``--retry-failed`` retries the permanent ones)."""
        if self.options.retry_failed:
            return None
        model = self.engine(engine_name).model or ""
        h = request.request_hash(engine_name, model)
        for row in ledger.query("SELECT outputs FROM stage_results WHERE stage=? AND key=? "
                                "ORDER BY id DESC LIMIT 1", (FAILURE_STAGE, h)):
            out = json.loads(row["outputs"] or "{}")
            return None if out.get("transient") == "1" else (out.get("error") or "refused")
        for row in ledger.query("SELECT error FROM engine_calls WHERE request_hash=? AND "
                                "status='refused' ORDER BY id DESC LIMIT 1", (h,)):
            return (row["error"] or "refused").splitlines()[0][:120]
        return None

    def remember_failure(self, request: EngineRequest, engine_name: str, err: EngineError,
                         ledger) -> None:
        """Record whether ``engine_name``'s failure on ``request`` was transient."""
        model = self.engine(engine_name).model or ""
        ledger.stage_result(self.run_id, FAILURE_STAGE, request.request_hash(engine_name, model),
                            cache_hit=False, subject=request.spec.shot.id, status="failed",
                            outputs={"engine": engine_name,
                                     "transient": "1" if err.transient else "0",
                                     "error": str(err).splitlines()[0][:120]})

    def policy(self):
        if self._policy is None:
            self._policy = compiler.PromptPolicy.for_project(self.project.root)
        return self._policy

    def shot_request(self, job: ShotJob, engine: str, prompt: dict[str, Any], seed: int,
                     previous_clip: str | None = None) -> EngineRequest:
        """THE one place a shot's EngineRequest is built: prompt (with any Gate B
        direction), seed, format, duration, visemes, tier, and the conditioning (reference
        images, the previous take's last frame, LoRA ids) the engine accepts."""
        request = EngineRequest(
            spec=job.spec, prompt=prompt["prompt"],
            negative_prompt=prompt.get("negative_prompt", ""), seed=seed, format=self.format,
            duration_s=job.duration_s, visemes=job.visemes or None,
            options={"tier": self.tier.value})
        cond = shot_conditioning(self.project, job.spec, self.engine(engine), vault=self.vault,
                                 previous_clip=previous_clip)
        return apply_conditioning(request, cond)

    def check_budget(self, engine_name: str, request: EngineRequest, ledger,
                     shot_id: str) -> float:
        """A regeneration or failover to a paid engine stays within the estimate Gate A
        approved (``budget.estimate_episode``: retries included): one that would spend more
        asks again (``BudgetError``)."""
        engine = self.engine(engine_name)
        if not is_paid(engine):
            return 0.0
        with self._slots_lock:
            if self._approved is None:
                est = estimate_episode(self.project, self.episode)
                self._approved = (est.total, est.currency)
            approved, currency = self._approved
            cost = shot_cost(engine, request.duration)[1]
            # this render's own billed calls (not the episode's: a second render of the
            # project running beside this one spends against its own run)
            rows = ledger.query("SELECT COALESCE(SUM(cost), 0) AS c FROM engine_calls "
                                "WHERE run_id=?", (self.run_id,))
            spent = float(rows[0]["c"] or 0.0) + self._reserved
            if spent + cost <= approved + 1e-9:
                self._reserved += cost  # held until the call is in the ledger
                return cost
        raise BudgetError(
            f"shot {shot_id}: another attempt on {engine_name} ({cost:.2f} {currency}) "
            f"would bring this render's spend to {spent + cost:.2f}, over the "
            f"{approved:.2f} {currency} Gate A approved", field="gate A",
            hint=f"run 'studio estimate PROJECT {self.episode}' and approve more with "
            f"'studio approve PROJECT {self.episode} --gate A --who NAME' (or lower the "
            "attempt budget)")

    def release_budget(self, held: float) -> None:
        if held:
            with self._slots_lock:
                self._reserved -= held

    def slot(self, engine_name: str):
        """The engine's concurrency slot (routing.yaml ``engines.NAME.concurrency``)."""
        with self._slots_lock:
            if engine_name not in self._slots:
                try:
                    n = self.rules().settings(engine_name).concurrency
                except StudioError:
                    n = 1
                self._slots[engine_name] = threading.BoundedSemaphore(n)
            return self._slots[engine_name]

    def has_take(self, request: EngineRequest, engine_name: str, ledger=None) -> bool:
        """Whether ``engine_name`` already delivered a clip for ``request`` (vault/ledger)."""
        model = self.engine(engine_name).model or ""
        return cached_result(request.request_hash(engine_name, model), self.vault,
                             ledger or self.ledger) is not None

    def look(self) -> tuple[Path | None, str | None, Any]:
        """The series look LUT: path, hash and parsed LUT (read once per render)."""
        if self._look is None:
            lut = self.project.series.look_lut
            lut_path = self.project.root / lut if lut else None
            if lut_path is not None and not lut_path.is_file():
                raise StudioError("series look LUT not found", file=self.project.root / lut,
                                  field="look_lut", hint="fix the path or remove look_lut")
            self._look = (lut_path, file_hash(lut_path) if lut_path else None,
                          read_lut(lut_path) if lut_path else None)
        return self._look

    def credentials(self):
        if self._creds is None:
            self._creds = load_credentials(self.project.root)
        return self._creds


