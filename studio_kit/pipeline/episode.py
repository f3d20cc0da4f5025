"""One episode, end to end, as cached stages.

Per shot (keyed by that shot's own inputs, so editing one shot redoes only that shot)::

    dialogue[shot] -> prompt[shot] -> generate[shot] -> sign[shot] -> grade[shot] -> qc[shot]

Per episode::

    mix -> assemble -> captions -> mux -> prores -> certify -> summary

``dialogue`` speaks the shot's lines (eSpeak NG by default) for their lengths and mouth
shapes; the shot's effective duration (storyboard duration, longer when the dialogue needs
it) and its viseme track go into the picture request. ``generate`` calls the idempotent,
ledger-backed ``studio_kit.production.generation.generate_shot``; ``sign`` embeds a C2PA manifest in
the generated clip; ``grade`` matches it to its scene's look.

Re-render cost: besides the stage cache, episode stages keep finer-grained pieces in the
vault (``audio_layer``: music/ambience/effects layers and dub masters; ``conform_track``:
each conformed track; ``aac_track``: each encoded AAC track; ``prores_piece``: ProRes
pieces; ``transition_region``: re-encoded transition regions), so an edit redoes only the
pieces whose inputs changed. Each shot tries its route's engines in order (failover).

Outputs are copied from the vault into the output folder; ``render.json`` there lists
everything the run made and the stage results (cache hits and times).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..asyncrun import run_sync
from ..edit.pieces import VaultPieces
from ..engines.base import EngineRequest, EngineResult, RenderFormat
from ..errors import EngineError, StudioError
from ..models import Tier
from ..project.series_folder import Project
from ..store.hashing import file_hash, stable_hash
from ..store.yamlio import atomic_copy, atomic_write_text
from .runner import ProgressCallback, StageContext, StageProduct, StageRunner

PIPELINE_VERSION = "1"


class RenderOptions(BaseModel):
    engine: str | None = Field(None, description="Engine for every shot (else routing).")
    tier: Tier | None = None
    width: int | None = Field(None, description="Override the series' delivery width.")
    height: int | None = None
    languages: list[str] | None = Field(None, description="Caption/dub languages.")
    sign: bool = True
    prores: bool = True
    force: bool = Field(False, description="Ignore the cache (every stage runs).")
    retry_failed: bool = Field(False, description=(
        "Ask again engines that refused a shot's request permanently in an earlier render "
        "(moderation, invalid request, auth); transient failures are always retried."))
    attempts: int = Field(3, ge=1, le=20, description=(
        "Per-shot take budget: a take below the tier's QC thresholds is regenerated (a new "
        "seed, then the next engine of the route) until one passes or this many were QC'd "
        "(the first is then kept, flagged). Failover on engine errors spends none of it."))
    seeds_per_engine: int = Field(2, ge=1, le=10, description=(
        "Seeds tried on one engine before a QC failure reroutes to the next."))
    paid_calls: bool = Field(True, description=(
        "False on a worker of a season render (studio_kit.scale): a paid engine's take must "
        "already be in the vault (the coordinator paid for it); a worker never pays."))


class ShotRecord(BaseModel):
    shot_id: str
    act: str
    scene: str
    start_s: float = 0.0
    duration_s: float
    engine: str = ""
    model: str = ""
    seed: int = 0
    prompt_hash: str = ""
    cost: float = 0.0
    asset: str = ""
    signed: str | None = None
    graded: str | None = None
    qc_passed: bool | None = None
    qc: dict[str, float] = Field(default_factory=dict)
    failover: list[str] = Field(default_factory=list, description=(
        "Engines of the route that did not make the shot: 'engine: error' (failed now), "
        "'engine: failed before' (an earlier render), 'engine: not used (why)' (left out "
        "by routing, e.g. no API key)."))
    attempts: list[str] = Field(default_factory=list, description=(
        "Every take made for the shot in this render and its QC verdict."))
    request: str = Field("", description="Vault hash of the kept take's request JSON.")
    direction: str = Field("", description="Gate B notes folded into the shot's prompt.")


class StageRow(BaseModel):
    stage: str
    subject: str | None = None
    cache_hit: bool
    seconds: float


class RenderResult(BaseModel):
    project: str
    series: str
    episode: str
    run_id: int
    out_dir: str
    format: RenderFormat
    engine: str | None = None
    tier: str
    master: str | None = None
    prores: str | None = None
    mix: str | None = None
    timeline: str | None = Field(None, description=(
        "The edit the master was assembled from (effective durations, handles, cards, "
        "transitions, record frames): what 'studio export-otio' builds the cut from."))
    captions: dict[str, dict[str, str]] = Field(default_factory=dict)
    provenance_report: str | None = None
    shot_reports: dict[str, str] = Field(default_factory=dict)
    shots: list[ShotRecord] = Field(default_factory=list)
    stages: list[StageRow] = Field(default_factory=list)
    stage_summary: dict[str, int] = Field(default_factory=dict)
    loudness: dict[str, float] = Field(default_factory=dict)
    duration_s: float = 0.0
    total_cost: float = 0.0
    seconds: float = 0.0


def shot_seed(episode: str, shot_id: str, explicit: int | None) -> int:
    """The shot's seed: explicit in the storyboard, else derived from its identity."""
    if explicit is not None:
        return explicit
    return int(stable_hash("seed", episode, shot_id)[:8], 16)


# -- the render -----------------------------------------------------------------------------
class _Render:
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
            from ..registry import ENGINES

            ENGINES.get(options.engine)
        self.format = RenderFormat(width=width, height=height, fps=float(fmt.fps))
        self.tier = options.tier or series.tier
        self.languages = options.languages or list(series.languages)
        self.vault = project.vault()
        self.ledger = project.ledger()
        self.run_id = self.ledger.start_run(run_kind, self.episode, {
            "engine": options.engine, "tier": self.tier.value,
            "format": self.format.model_dump(), "languages": self.languages,
            "pipeline": PIPELINE_VERSION})
        self.runner = StageRunner(self.vault, self.ledger, self.run_id, progress,
                                  force=options.force)
        self.progress = progress
        self.shot_reports: dict[str, str] = {}
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")
        self.qc_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-qc")
        self.picture_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-pic")
        self.mix_future = None
        self._routing = None  # routing.yaml's rules, loaded at the first routed shot
        self._route_engines: dict[str, Any] = {}
        self._look: tuple[Path | None, str | None, Any] | None = None
        self._policy = None
        self._approved: tuple[float, str, float] | None = None
        self._spent_before = 0.0  # the episode's spend when the shots start (ledger)
        self._reserved = 0.0  # retries checked against the budget, not yet in the ledger
        import threading

        self._slots: dict[str, Any] = {}
        self._slots_lock = threading.Lock()

    # -- per-shot stages -----------------------------------------------------------------
    def dialogue(self, shot) -> dict[str, Any]:
        """Speak the shot's lines: their durations and viseme tracks (shot-local times)."""
        from ..audio.dialogue import cast_voices

        cast = cast_voices(self.project.characters)  # the voices speak_line will use
        speakers = {d.character: cast[d.character]
                    for d in shot.dialogue if d.character in self.project.characters}
        inputs = {"dialogue": [d.model_dump(mode="json") for d in shot.dialogue],
                  "voices": speakers, "shot": shot.id}

        def fn(ctx: StageContext) -> StageProduct:
            import soundfile as sf

            from ..audio import SAMPLE_RATE
            from ..audio.dialogue import VaultSpeechStore, speak_line

            lines, files = [], {}
            store = VaultSpeechStore(self.vault)
            for i, line in enumerate(shot.dialogue):
                spoken = speak_line(self.project.characters, line, shot_id=shot.id, index=i,
                                    store=store)
                wav = ctx.file(f"line{i}.wav")
                sf.write(wav, spoken.samples, SAMPLE_RATE, subtype="PCM_16")
                files[f"line{i}"] = wav
                lines.append({"index": i, "character": spoken.character,
                              "language": spoken.language, "text": spoken.text,
                              "duration_s": spoken.duration_s, "dual": line.dual,
                              "visemes": [(round(t, 4), str(v)) for t, v in spoken.visemes]})
                ctx.progress((i + 1) / max(1, len(shot.dialogue)))
            return StageProduct(files=files, meta={"lines": lines})

        if not shot.dialogue:
            return {"lines": []}
        return self.runner.run("dialogue", inputs, fn, subject=shot.id).meta

    def rules(self):
        """routing.yaml's rules, read once per render (not per shot)."""
        if self._routing is None:
            from ..production import routing

            self._routing = routing.load_rules(self.project)
        return self._routing

    def engine(self, name: str):
        """The engine ``name`` configured with routing.yaml's settings (base URL, model,
        price), built once per render."""
        if name not in self._route_engines:
            from ..production import routing

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
        from ..production import routing

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
        model = getattr(self.engine(engine_name), "model", "") or ""
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
        model = getattr(self.engine(engine_name), "model", "") or ""
        ledger.stage_result(self.run_id, FAILURE_STAGE, request.request_hash(engine_name, model),
                            cache_hit=False, subject=request.spec.shot.id, status="failed",
                            outputs={"engine": engine_name,
                                     "transient": "1" if getattr(err, "transient", False)
                                     else "0",
                                     "error": str(err).splitlines()[0][:120]})

    def policy(self):
        if self._policy is None:
            from ..prompts import compiler

            self._policy = compiler.PromptPolicy.for_project(self.project.root)
        return self._policy

    def prompt(self, spec, engine: str, direction: str = "", *,
               runner: StageRunner | None = None) -> dict[str, Any]:
        """The shot's prompt for ``engine``, linted (a lint error stops the shot before any
        engine is called), with the Gate B direction (rejection notes) folded in."""
        from ..prompts import compiler, linter

        compiled = compiler.compile_prompt(spec, engine, policy=self.policy())
        problems = linter.lint_prompt(compiled, spec, policy=self.policy())
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

        return (runner or self.runner).run("prompt", inputs, fn, subject=spec.shot.id).meta

    def shot_request(self, job: ShotJob, engine: str, prompt: dict[str, Any], seed: int,
                     previous_clip: str | None = None) -> EngineRequest:
        """THE one place a shot's EngineRequest is built: prompt (with any Gate B
        direction), seed, format, duration, visemes, tier, and the conditioning (reference
        images, the previous take's last frame, LoRA ids) the engine accepts."""
        from ..production.conditioning import apply_conditioning, shot_conditioning

        request = EngineRequest(
            spec=job.spec, prompt=prompt["prompt"],
            negative_prompt=prompt.get("negative_prompt", ""), seed=seed, format=self.format,
            duration_s=job.duration_s, visemes=job.visemes or None,
            options={"tier": self.tier.value})
        cond = shot_conditioning(self.project, job.spec, self.engine(engine), vault=self.vault,
                                 previous_clip=previous_clip)
        return apply_conditioning(request, cond)

    def generate(self, request: EngineRequest, engine_name: str, shot_id: str,
                 attempt: int = 1, *, runner: StageRunner | None = None
                 ) -> tuple[EngineResult, bool]:
        """The shot's clip: ``studio_kit.production.generation.generate_shot`` (idempotent, ledger-backed,
        Gate A for paid engines), within the engine's concurrency limit."""
        from ..production.generation import generate_shot

        runner = runner or self.runner
        engine = self.engine(engine_name)
        model = getattr(engine, "model", "") or ""
        key = request.request_hash(engine_name, model)

        def fn(ctx: StageContext) -> StageProduct:
            def report(f: float) -> None:
                ctx.progress(f)

            if not self.options.paid_calls:
                _refuse_to_pay(engine, engine_name, key, self.vault, runner.ledger, shot_id)
            with self.slot(engine_name):
                result = run_sync(generate_shot(request, engine_name, vault=self.vault,
                                                ledger=runner.ledger, episode=self.episode,
                                                run_id=self.run_id, progress=report,
                                                engine=engine, attempt=attempt))
            return StageProduct(digests={"clip": result.asset},
                                meta={"result": result.model_dump(mode="json")})

        out = runner.run("generate", {"request": key}, fn, subject=shot_id)
        return EngineResult.model_validate(out.meta["result"]), out.cache_hit

    def check_budget(self, engine_name: str, request: EngineRequest, ledger,
                     shot_id: str) -> float:
        """A regeneration or failover to a paid engine stays within the estimate Gate A
        approved (``budget.estimate_episode``: retries included): one that would spend more
        asks again (``BudgetError``)."""
        from ..errors import BudgetError
        from ..production.budget import estimate_episode, shot_cost
        from ..production.generation import is_paid

        engine = self.engine(engine_name)
        if not is_paid(engine):
            return 0.0
        with self._slots_lock:
            if self._approved is None:
                est = estimate_episode(self.project, self.episode)
                self._approved = (est.total, est.currency, self._spent_before)
            approved, currency, _before = self._approved
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
        import threading

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
        from ..production.generation import cached_result

        model = getattr(self.engine(engine_name), "model", "") or ""
        return cached_result(request.request_hash(engine_name, model), self.vault,
                             ledger or self.ledger) is not None

    def sign_shot(self, shot_id: str, clip_digest: str, info) -> str | None:
        if not self.options.sign:
            return None
        from .. import provenance as pv

        creds = self.credentials()
        inputs = {"clip": clip_digest, "info": info.model_dump(mode="json"),
                  "cert": file_hash(creds.cert_chain), "alg": creds.alg}

        def fn(ctx: StageContext) -> StageProduct:
            dst = ctx.file(f"{shot_id}.mp4")
            pv.sign_shot(self.vault.get(clip_digest), dst, info, creds)
            report = pv.write_report(pv.verify(dst, development=creds.development),
                                     ctx.file(f"{shot_id}.mp4.c2pa.json"))
            return StageProduct(files={"signed": dst, "report": report})

        out = self.runner.run("sign", inputs, fn, subject=shot_id, version="2")
        self.shot_reports[shot_id] = out.digest("report")
        return out.digest("signed")

    def grade(self, shot, clip_digest: str, reference, keyframes: list[float],
              match_clip: str | None = None) -> str:
        """Match the clip to its scene's reference look (or the ``match_to`` shot's take,
        ``match_clip``) and the series look (one LUT), with the shot's own grade and trim."""
        from ..edit.decisions import grade_stage_extras

        lut_hash = self.look()[1]
        trim = (shot.trim_in_s, shot.trim_out_s)
        if trim[0]:  # keyframe times in the trimmed clip
            keyframes = [0.0, *(k - trim[0] for k in keyframes if k - trim[0] > 0)]
        inputs = {"clip": clip_digest, "reference": reference.model_dump(mode="json"),
                  "look": lut_hash,
                  "keyframes": [round(k, 6) for k in keyframes],
                  **grade_stage_extras(shot, match_clip)}

        def fn(ctx: StageContext) -> StageProduct:
            from ..edit import grade as g

            ref = g.measure_clip(self.vault.get(match_clip)) if match_clip else reference
            dst, cube_path = ctx.file(f"{shot.id}.graded.mp4"), ctx.file(f"{shot.id}.cube")
            before = g.grade_shot(self.vault.get(clip_digest), dst, ref, cube=cube_path,
                                  look=self.look()[2], keyframes=keyframes,
                                  name=f"{shot.id} grade", adjust=shot.grade, trim=trim)
            return StageProduct(files={"graded": dst, "lut": cube_path},
                                meta={"before": before.model_dump(mode="json")})

        return self.runner.run("grade", inputs, fn, subject=shot.id,
                               version=_h264_tag()).digest("graded")

    def look(self) -> tuple[Path | None, str | None, Any]:
        """The series look LUT: path, hash and parsed LUT (read once per render)."""
        if self._look is None:
            lut = self.project.series.look_lut
            lut_path = self.project.root / lut if lut else None
            if lut_path is not None and not lut_path.is_file():
                raise StudioError("series look LUT not found", file=self.project.root / lut,
                                  field="look_lut", hint="fix the path or remove look_lut")
            from ..edit.grade import read_lut

            self._look = (lut_path, file_hash(lut_path) if lut_path else None,
                          read_lut(lut_path) if lut_path else None)
        return self._look

    def scene_references(self, clips: dict[str, str]) -> dict[str, Any]:
        """Each scene's reference look: its reference_frame image, else its first shot
        (one cached ``reference`` stage per scene, keyed by that image or clip)."""
        from ..edit import grade as g

        firsts: dict[str, str] = {}
        for s in self.sb.shots:
            if s.id in clips:
                firsts.setdefault(s.scene, s.id)
        refs: dict[str, Any] = {}
        for scene_id, first in firsts.items():
            scene = self.project.scenes[scene_id]
            image = self._reference_image(scene)
            inputs = {"image": file_hash(image)} if image else {"clip": clips[first]}

            def fn(ctx: StageContext, image=image, first=first) -> StageProduct:
                stats = g.measure_image(image) if image else \
                    g.measure_clip(self.vault.get(clips[first]))
                return StageProduct(meta={"lab": stats.model_dump(mode="json")})

            out = self.runner.run("reference", inputs, fn, subject=scene_id)
            refs[scene_id] = g.LabStats.model_validate(out.meta["lab"])
        return refs

    def _reference_image(self, scene) -> Path | None:
        ref = scene.reference_frame
        if not ref:
            return None
        path = self.project.root / ref
        if not path.is_file() and len(ref) == 64 and self.vault.has(ref):
            path = self.vault.get(ref)
        if not path.is_file():
            raise StudioError(f"scene {scene.id}: reference frame {ref!r} not found",
                              file=self.project.root / "scenes" / f"{scene.id}.yaml",
                              field="reference_frame",
                              hint="a project-relative image path or a vault hash")
        return path

    def qc(self, spec, request: EngineRequest, result: EngineResult, *, attempt: int = 1,
           runner: StageRunner | None = None) -> dict[str, Any]:
        """QC one take (``qc.runner.qc_clip``: every scorer, against the bible): one cached
        ``qc`` stage per (take, request, tier), its scores recorded in the ledger."""
        from ..qc import base
        from ..qc.runner import DEFAULT_SCORERS, qc_clip

        digest = result.asset
        inputs = {"clip": digest, "tier": self.tier.value, "engine": result.engine,
                  "request": request.request_hash(result.engine, result.model),
                  "scorers": DEFAULT_SCORERS, "version": QC_VERSION}

        def fn(ctx: StageContext) -> StageProduct:
            report = qc_clip(self.vault.get(digest), request, result.engine, vault=self.vault,
                             tier=self.tier, asset=digest, scorers=DEFAULT_SCORERS)
            path = ctx.file("qc.json")
            path.write_text(report.model_dump_json(indent=1), encoding="utf-8")
            return StageProduct(files={"report": path},
                                meta={"report": report.model_dump(mode="json")})

        runner = runner or self.runner
        out = runner.run("qc", inputs, fn, subject=spec.shot.id)
        report = base.QCReport.model_validate(out.meta["report"])
        base.record_report(report, runner.ledger, run_id=self.run_id, attempt=attempt)
        return out.meta["report"]

    # -- credentials ---------------------------------------------------------------------
    _creds = None

    def credentials(self):
        if self._creds is None:
            from ..provenance import load_credentials

            self._creds = load_credentials(self.project.root)
        return self._creds


FAILURE_STAGE = "engine_failure"  # stage_results rows: was an engine's failure transient?
#: the message of a paid call a worker refused to make (studio_kit.scale drops those rows)
NOT_PAID_ON_WORKER = "not called on a worker: paid takes are made by the coordinator"


class WorkerWouldPay(EngineError):
    """A worker of a season render met a paid request with no take in the vault."""

    transient = True  # the coordinator's next pass pays for it; never a lasting refusal


def _refuse_to_pay(engine, engine_name: str, key: str, vault, ledger, shot_id: str) -> None:
    from ..production.generation import cached_result, is_paid

    if is_paid(engine) and cached_result(key, vault, ledger) is None:
        raise WorkerWouldPay(f"{engine_name}: {NOT_PAID_ON_WORKER} (shot {shot_id})",
                             field=f"shots.{shot_id}",
                             hint="render the season through studio_kit.scale.render_season "
                                  "(its coordinator pays before submitting)")


def produce_paid_takes(project: str | Path | Project, episode: str, *,
                       options: RenderOptions | None = None) -> dict[str, str]:
    """The paid part of a render, in this process: every shot whose route has a paid
    engine goes through the one shot path (failover, QC, regeneration, Gate A), so its take
    is in the vault and its calls in the ledger before any worker renders the episode.
    Returns shot id -> kept take's asset (empty when no shot routes to a paid engine)."""
    from ..production.generation import is_paid

    options = options or RenderOptions()
    proj = project if isinstance(project, Project) else Project.load(project)
    r = _Render(proj, episode, options, proj.root / "out", None, run_kind="season-pictures")
    try:
        shots = list(r.sb.shots)
        paid = {s.id for s in shots if any(is_paid(r.engine(e)) for e in r.engine_chain(s)[0])}
        for i in range(len(shots) - 1, 0, -1):  # a continued shot needs its previous take
            if shots[i].id in paid and shots[i].continue_from_previous:
                paid.add(shots[i - 1].id)
        takes: dict[str, str] = {}
        if paid:
            dialogue = {shot.id: r.dialogue(shot) for shot in r.sb.shots}
            timings, starts = _timings(r.sb, dialogue, r.format.fps)
            plan = PicturePlan(r, timings)
            jobs = [j for j in _shot_jobs(r, dialogue, starts, {t.shot_id: t for t in timings},
                                          plan) if j.shot.id in paid]
            takes = {sid: t.result.asset for sid, t in _produce_all(r, jobs).items()}
    except BaseException:
        r.ledger.finish_run(r.run_id, status="failed")
        r.ledger.close()
        raise
    finally:
        for pool in (r.pool, r.qc_pool, r.picture_pool):
            pool.shutdown(wait=True)
    r.ledger.finish_run(r.run_id, status="ok")
    r.ledger.close()
    return takes
QC_VERSION = "2"  # 2: qc.runner.qc_clip (every scorer), in the loop before a take is kept


class ShotJob(BaseModel):
    """What the one shot path needs to make a shot (built on the render's thread)."""

    model_config = {"arbitrary_types_allowed": True}
    shot: Any
    spec: Any
    seed: int
    duration_s: float
    visemes: list[tuple[float, str]] = Field(default_factory=list)
    chain: list[str]
    left_out: dict[str, str] = Field(default_factory=dict)
    direction: str = Field("", description="Gate B rejection notes, folded into the prompt.")
    prompts: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ShotTake(BaseModel):
    """The take the shot path kept, and how it got there."""

    result: EngineResult
    request: EngineRequest
    request_digest: str
    prompt: dict[str, Any]
    qc: dict[str, Any] | None = None
    failures: list[str] = Field(default_factory=list)
    attempts: list[str] = Field(default_factory=list)
    spent: float = 0.0


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


def _shot_jobs(r: _Render, dialogue, starts, timing_of, plan: PicturePlan) -> list[ShotJob]:
    """Every shot's job, its route, and its prompts compiled and linted for every engine of
    its chain: a lint error stops the render before any engine is called."""
    jobs = []
    for shot in r.sb.shots:
        t = timing_of[shot.id]
        chain, left_out = r.engine_chain(shot)
        job = ShotJob(
            shot=shot, spec=r.project.resolve_shot(r.episode, shot.id),
            seed=shot_seed(r.episode, shot.id, shot.seed), duration_s=plan.duration_s(shot.id),
            visemes=_shot_visemes(dialogue[shot.id]["lines"], starts, shot.id,
                                  t.start_s - plan.head_s(shot.id)),
            chain=chain, left_out=left_out,
            direction=gate_b_direction(r.ledger, r.episode, shot.id))
        job.seed = gate_b_seed(job.seed, shot.id, job.direction)
        for engine in chain:  # each engine gets its own prompt dialect
            job.prompts[engine] = r.prompt(job.spec, engine, job.direction)
        jobs.append(job)
    return jobs


def _produce_all(r: _Render, jobs: list[ShotJob]) -> dict[str, ShotTake]:
    """Every shot through the one shot path, concurrently (each engine's calls within its
    concurrency slots); a shot that continues the previous one waits for its take."""
    from concurrent.futures import ThreadPoolExecutor

    from ..store.ledger import Ledger

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

    from .. import registry

    for reg in vars(registry).values():  # built-ins loaded once here, not raced by workers
        if isinstance(reg, registry.Registry):
            reg._load_builtins()
    import studio_kit.qc.runner  # noqa: F401 - (its imports, too, before the threads)

    r._spent_before = r.ledger.total_cost(r.episode)
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


def produce_shot_take(r: _Render, job: ShotJob, *, runner: StageRunner,
                      previous_clip: str | None = None) -> ShotTake:
    """THE shot path (render and regeneration): the route's engines in order (failover on
    an engine error; Gate A / budget refusals are not failed over), each take QC'd once
    before it is kept; a take below the tier's thresholds is regenerated with a new seed,
    then on the next engine, within ``options.attempts``. A take an engine of the route
    already delivered is kept on a re-render (the kept take follows the route)."""
    from ..production.regeneration import attempt_seed

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
    from ..production.shot_path import run_attempts

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
            return r.generate(request, engine, sid, attempt=n, runner=runner)[0]
        finally:
            r.release_budget(held)  # (its cost is in the ledger now; Gate A / budget
            # refusals are StudioErrors: not failed over)

    def on_error(t) -> str:
        nonlocal spent
        err, engine = t.error, t.engine
        msg = str(err).splitlines()[0][:200]
        if getattr(err, "collect_later", False):  # billed, pending at this engine
            raise StudioError(
                f"shot {sid}: {engine} accepted (and billed) the job but its result "
                f"could not be fetched yet: {msg}", field=f"shots.{sid}",
                hint="render again later: the job is collected, not paid again") from None
        r.remember_failure(t.request, engine, err, ledger)
        kind = "transient, retried next render" if getattr(err, "transient", False) \
            else "permanent"
        failures.append(f"{engine}: {msg} ({kind})")
        attempts.append(f"{t.n}. {engine} seed {t.request.seed}: failed: {msg}")
        spent += float(getattr(err, "cost", 0.0) or 0.0)  # billed, then rejected
        return "next_engine"  # failover

    def judge(t) -> tuple[bool, dict[str, Any]]:
        qc = r.qc(job.spec, t.request, t.result, attempt=t.n, runner=runner)
        failed = [f"{x['metric']}={x['value']:.3g}" for x in qc["scores"]
                  if not x.get("skipped") and not x.get("passed")]
        take = takes[t.n] = ShotTake(
            result=t.result, request=t.request, prompt=job.prompts[t.engine], qc=qc,
            request_digest=r.vault.put_bytes(t.request.model_dump_json().encode("utf-8")))
        _record_attempt(r, ledger, job, t.n, t.engine, t.request.seed, take, not failed)
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


def _record_attempt(r: _Render, ledger, job: ShotJob, n: int, engine: str, seed: int,
                    take: ShotTake, passed: bool) -> None:
    """One ``regeneration`` stage row per QC'd take (what ``studio qc``, the gates and
    ``gates.story`` read as the shot's takes)."""
    from ..production.regeneration import STAGE

    outputs = {"attempt": str(n), "engine": engine, "seed": str(seed),
               "asset": take.result.asset, "request": take.request_digest,
               "passed": "true" if passed else "false",
               "reason": "render" if n == 1 else "regenerate after failed QC"}
    ledger.stage_result(r.run_id, STAGE, f"{r.episode}:{job.shot.id}:{n}:"
                        f"{take.result.request_hash[:16]}", cache_hit=False,
                        subject=job.shot.id, outputs=outputs,
                        status="ok" if passed else "failed")


def _in_thread(r: _Render, fn, *args, pool=None):
    """Run ``fn(r, *args, runner=...)`` on a worker thread with its own ledger connection
    (a SQLite connection must not interleave two threads' transactions)."""
    from ..store.ledger import Ledger

    def work():
        ledger = Ledger(r.ledger.path)
        runner = StageRunner(r.vault, ledger, r.run_id, r.progress, force=r.options.force)
        try:
            return fn(r, *args, runner=runner), runner.results
        finally:
            ledger.close()

    return (pool or r.pool).submit(work)


def _joined(r: _Render, future):
    """The worker's result; its stage rows join the run's."""
    value, results = future.result()
    r.runner.results.extend(results)
    return value


def _h264_tag() -> str:
    """Stages whose output is an H.264 encode re-run when the canonical parameters change."""
    try:
        from ..edit.encoding import H264_PARAMS
    except ImportError:
        return "1"
    return "1-" + stable_hash(repr(H264_PARAMS))[:8]


def _timings(sb, dialogue: dict[str, dict[str, Any]], fps: float):
    from ..audio.timing import plan_timing

    durations = {sid: [(ln["duration_s"], ln["dual"]) for ln in d["lines"]]
                 for sid, d in dialogue.items()}
    return plan_timing(sb, durations, fps=fps)


def _shot_visemes(lines: list[dict[str, Any]], starts: dict[tuple[str, int], float],
                  shot_id: str, shot_start: float) -> list[tuple[float, str]]:
    track: list[tuple[float, str]] = []
    for ln in lines:
        offset = starts.get((shot_id, ln["index"]), shot_start) - shot_start
        track += [(round(max(0.0, offset + t), 4), v) for t, v in ln["visemes"]]
    track.sort(key=lambda x: x[0])
    return track


def render_episode(project: str | Path | Project, episode: str, *,
                   options: RenderOptions | None = None, out_dir: str | Path | None = None,
                   progress: ProgressCallback | None = None) -> RenderResult:
    """Render one episode into ``out_dir`` (default ``<project>/out``); see module doc."""
    t_start = time.perf_counter()
    options = options or RenderOptions()
    proj = project if isinstance(project, Project) else Project.load(project)
    out = Path(out_dir) if out_dir is not None else proj.root / "out"
    r = _Render(proj, episode, options, out, progress)
    try:
        result = _run(r)
    except BaseException:
        r.pool.shutdown(wait=True, cancel_futures=True)
        r.qc_pool.shutdown(wait=True, cancel_futures=True)
        r.picture_pool.shutdown(wait=True, cancel_futures=True)
        r.ledger.finish_run(r.run_id, status="failed")
        r.ledger.close()
        raise
    r.pool.shutdown(wait=True)
    r.qc_pool.shutdown(wait=True)
    r.picture_pool.shutdown(wait=True)
    result.seconds = round(time.perf_counter() - t_start, 3)
    record = Path(result.out_dir) / "render.json"
    atomic_write_text(record, result.model_dump_json(indent=2))
    r.ledger.finish_run(r.run_id, status="ok", record=str(record))
    r.ledger.close()
    return result


def _run(r: _Render) -> RenderResult:
    from .. import provenance as pv

    sb, proj = r.sb, r.project
    ep_dir = r.out_dir / f"episode-{r.episode}"
    ep_dir.mkdir(parents=True, exist_ok=True)
    result = RenderResult(project=str(proj.root), series=proj.series.title, episode=r.episode,
                          run_id=r.run_id, out_dir=str(ep_dir), format=r.format,
                          engine=r.options.engine, tier=r.tier.value)

    # 1. dialogue per shot -> effective durations and mouth shapes
    dialogue = {shot.id: r.dialogue(shot) for shot in sb.shots}
    timings, starts = _timings(sb, dialogue, r.format.fps)
    timing_of = {t.shot_id: t for t in timings}
    plan = PicturePlan(r, timings)
    # the mix needs only the storyboard: it runs on a second core while pictures render
    # (after the dialogue stages: eSpeak is one synthesizer per process)
    r.mix_future = _in_thread(r, _mix, r.languages[0])

    # 2. pictures per shot: prompt -> generate -> QC (regenerate / reroute) -> sign, the
    # shots concurrently within each engine's limit (routing.yaml ``concurrency``)
    jobs = _shot_jobs(r, dialogue, starts, timing_of, plan)
    takes = _produce_all(r, jobs)
    generated: dict[str, str] = {}
    signed: dict[str, str] = {}
    requests: dict[str, tuple[Any, EngineRequest]] = {}
    qc_reports: dict[str, dict[str, Any]] = {}
    for job in jobs:
        shot, take = job.shot, takes[job.shot.id]
        t = timing_of[shot.id]
        res, request, prompt = take.result, take.request, take.prompt
        generated[shot.id] = res.asset
        requests[shot.id] = (job.spec, request)
        if take.qc is not None:
            qc_reports[shot.id] = take.qc
        failures = take.failures + [f"{e}: not used ({why})" for e, why in job.left_out.items()]
        prompt_hash = stable_hash("prompt", prompt["prompt"], prompt.get("negative_prompt", ""))
        info = pv.ShotProvenance(episode=r.episode, shot_id=shot.id, engine=res.engine,
                                 model=res.model, prompt_hash=prompt_hash, seed=request.seed,
                                 bible_version=job.spec.bible_version,
                                 request_hash=res.request_hash, series=proj.series.title)
        s = r.sign_shot(shot.id, res.asset, info)
        if s:
            signed[shot.id] = s
        result.shots.append(ShotRecord(
            shot_id=shot.id, act=sb.act_of(shot.id).id, scene=shot.scene, start_s=t.start_s,
            duration_s=t.duration_s, engine=res.engine, model=res.model, seed=request.seed,
            prompt_hash=prompt_hash, cost=res.cost + take.spent, asset=res.asset, signed=s,
            failover=failures, attempts=take.attempts, request=take.request_digest,
            direction=job.direction))
        result.total_cost += res.cost + take.spent

    # 3. grade (to the scene's reference look; keyframes where the assembler cuts)
    from ..edit.assemble import keyframe_times

    graded: dict[str, str] = {}
    refs = r.scene_references(generated)
    timeline = plan.timeline
    for rec in result.shots:
        sid = rec.shot_id
        shot = sb.shot(sid)
        match = shot.grade.match_to if shot.grade is not None else None
        graded[sid] = r.grade(shot, generated[sid], refs[shot.scene],
                              keyframe_times(timeline, sid), generated.get(match or ""))
        rec.graded = graded[sid]

    # 4. episode stages (QC already ran on every take, once, before it was accepted)
    _episode_stages(r, result, ep_dir, plan, graded, signed)
    for rec in result.shots:
        qc = qc_reports.get(rec.shot_id)
        if qc is not None:
            scores = [x for x in qc["scores"] if not x.get("skipped")]
            rec.qc = {x["metric"]: x["value"] for x in scores}
            rec.qc_passed = all(x["passed"] for x in scores)
    result.stages = [StageRow(stage=o.stage, subject=o.subject, cache_hit=o.cache_hit,
                              seconds=round(o.seconds, 4)) for o in r.runner.results]
    result.stage_summary = r.runner.summary()
    return result


class PicturePlan:
    """The edit with *handles*: a shot joined to its neighbour by a picture transition of D
    frames is rendered D//2 frames longer at its tail, and the next item D - D//2 frames
    longer at its head, so the transition is centred on the cut point and every shot's
    content (and sound) starts exactly where the audio plan put its cut. Sound then cuts
    straight at the cut point while the picture dissolves: no two shots' dialogue overlap.
    """

    def __init__(self, r: _Render, timings) -> None:
        from ..edit import timeline as tl_mod

        self.fps = float(r.format.fps)
        base = {t.shot_id: t.duration_s for t in timings}
        clamp: dict[int, int] = {}
        for _ in range(4):  # layout may shorten an overlap; re-plan with what it kept
            probe = tl_mod.timeline_from_storyboard(
                r.sb, {}, durations=base, fps=r.format.fps, width=r.format.width,
                height=r.format.height, series_title=r.project.series.title)
            wanted = {i: clamp.get(i, it.transition.frames) if it.transition.overlaps else 0
                      for i, it in enumerate(probe.items)}
            self.head: dict[str, int] = {}
            self.tail: dict[str, int] = {}
            for i, it in enumerate(probe.items):
                d = wanted[i]
                if d and it.kind == tl_mod.ItemKind.shot:
                    self.tail[it.id] = d // 2
                if d and i + 1 < len(probe.items) and \
                        probe.items[i + 1].kind == tl_mod.ItemKind.shot:
                    self.head[probe.items[i + 1].id] = d - d // 2
            self.durations = {
                sid: (probe.frames_for(sec) + self.head.get(sid, 0) + self.tail.get(sid, 0))
                / probe.fps for sid, sec in base.items()}
            self.timeline = tl_mod.timeline_from_storyboard(
                r.sb, {}, durations={k: float(v) for k, v in self.durations.items()},
                fps=r.format.fps, width=r.format.width, height=r.format.height,
                series_title=r.project.series.title)
            got = {i: it.transition.frames if it.transition.overlaps else 0
                   for i, it in enumerate(self.timeline.items)}
            if all(got[i] == wanted[i] for i in wanted):
                break
            clamp = {i: min(wanted[i], got[i]) for i in wanted if wanted[i]}
        self.base = base
        self._tl = tl_mod

    def duration_s(self, shot_id: str) -> float:
        return float(self.durations[shot_id])

    def head_s(self, shot_id: str) -> float:
        return self.head.get(shot_id, 0) / self.fps

    def with_clips(self, clips: dict[str, Path]):
        tl = self.timeline.model_copy(deep=True)
        for item in tl.items:
            if item.id in clips:
                item.clip = str(clips[item.id])
        return tl

    def content_starts(self, timeline) -> dict[str, float]:
        """Picture time where each shot's content (its audio plan's cut) starts."""
        return {it.id: timeline.seconds(it.record_start + self.head.get(it.id, 0))
                for it in timeline.items if it.kind == self._tl.ItemKind.shot}


def _export(r: _Render, digest: str, dst: Path) -> Path:
    """Copy a vault object to the output folder (skipped when the file there is the same)."""
    src = r.vault.get(digest)
    if dst.is_file() and dst.stat().st_size == src.stat().st_size and file_hash(dst) == digest:
        return dst
    atomic_copy(src, dst)
    return dst


def _episode_stages(r: _Render, result: RenderResult, ep_dir: Path, plan: PicturePlan,
                    graded: dict[str, str], signed: dict[str, str]) -> None:
    """Assembly, audio mix + conform, captions, mux, masters, provenance, QC summary."""

    name = f"episode-{r.episode}"
    creds = r.credentials() if r.options.sign else None
    for sid, digest in signed.items():
        _export(r, digest, ep_dir / "shots" / f"{sid}.mp4")
        result.shot_reports[sid] = str(_export(r, r.shot_reports[sid],
                                               ep_dir / "shots" / f"{sid}.mp4.c2pa.json"))

    # assembly (picture only, smart render)
    picture = _assemble(r, plan, graded)
    result.duration_s = picture.meta["duration_s"]
    early = _prores_pieces_early(r, picture)
    from ..edit.timeline import Timeline

    timeline = Timeline.model_validate(picture.meta["timeline"])
    result.timeline = str(ep_dir / f"{name}.timeline.json")  # the edit as assembled
    atomic_write_text(Path(result.timeline), timeline.model_dump_json(indent=1))
    content = plan.content_starts(timeline)
    for rec in result.shots:  # the shot's content on the master's clock
        rec.start_s = round(content[rec.shot_id], 4)

    # sound: mix (shots end to end) -> conform to the picture's record times -> captions
    primary = r.languages[0]
    mix = _joined(r, r.mix_future)
    sound = _conform(r, mix, timeline, plan)
    captions = _captions(r, sound, primary, name)
    if sound is not None:
        result.mix = str(_export(r, sound.digest("master"), ep_dir / "audio" / f"{name}.wav"))
        for key, digest in sound.outputs.items():
            if key.startswith("stem:"):
                _export(r, digest, ep_dir / "audio" / "stems" / f"{key[5:]}.wav")
            elif key.startswith("dub:"):
                _export(r, digest, ep_dir / "audio" / "dubs" / f"{key[4:]}.wav")
        result.loudness = dict(sound.meta["loudness"])
    if captions is not None:
        for key, digest in captions.outputs.items():
            lang, fmt = key.split(":")
            dst = _export(r, digest, ep_dir / f"{name}.{lang}.{fmt}")
            result.captions.setdefault(lang, {})[fmt] = str(dst)

    # masters
    if early is not None:
        _wait_quietly(early)  # its pieces are in the vault now; the stage concatenates
    mov_future = _in_thread(r, _prores, picture, sound, primary) if r.options.prores else None
    mp4 = _mux(r, picture, sound, captions, primary)
    mov = _joined(r, mov_future) if mov_future else None
    if creds is not None:
        cert = _certify(r, mp4, mov, signed, creds, result)
        mp4_digest, mov_digest = cert.digest("mp4"), cert.outputs.get("mov")
        result.provenance_report = str(_export(r, cert.digest("mp4_report"),
                                               ep_dir / f"{name}.mp4.c2pa.json"))
        if "mov_report" in cert.outputs:
            _export(r, cert.digest("mov_report"), ep_dir / f"{name}.mov.c2pa.json")
    else:
        mp4_digest, mov_digest = mp4.digest("master"), mov.digest("master") if mov else None
    result.master = str(_export(r, mp4_digest, ep_dir / f"{name}.mp4"))
    if mov_digest:
        result.prores = str(_export(r, mov_digest, ep_dir / f"{name}.mov"))
    summary = _qc_summary(r, mp4_digest, sound)
    atomic_write_text(ep_dir / f"{name}.qc.json", json.dumps(summary.meta, indent=2))


def _assemble(r: _Render, plan: PicturePlan, graded: dict[str, str]):
    timeline = plan.with_clips({sid: r.vault.get(d) for sid, d in graded.items()})
    tl_inputs = timeline.model_dump(mode="json")
    for item in tl_inputs["items"]:
        if item.get("clip"):
            item["clip"] = Path(item["clip"]).name  # vault objects are named by digest

    def fn(ctx: StageContext) -> StageProduct:
        from ..edit.assemble import assemble

        dst = ctx.file("picture.mp4")
        res = assemble(timeline, dst, work_dir=ctx.workdir / "work",
                       pieces=VaultPieces(r.vault, "transition_region", force=r.options.force))
        return StageProduct(files={"picture": dst}, meta={
            "frames": res.frames, "duration_s": res.duration_s,
            "copied_frames": res.copied_frames, "rendered_frames": res.rendered_frames,
            "regions": res.regions, "regions_reused": res.regions_reused,
            "timeline": res.timeline.model_dump(mode="json")})

    return r.runner.run("assemble", tl_inputs, fn, version=_h264_tag())


def _mix(r: _Render, primary: str, *, runner: StageRunner | None = None):
    from ..audio.effects import user_effects

    proj = r.project
    inputs = {
        "storyboard": r.sb.model_dump(mode="json"),
        "characters": {k: v.model_dump(mode="json") for k, v in proj.characters.items()},
        "scenes": {k: v.model_dump(mode="json") for k, v in proj.scenes.items()},
        "series": proj.series.model_dump(mode="json"), "languages": r.languages,
        # the user effects the mix can cue (not every file in sfx/, e.g. a README)
        "sfx": {p.name: file_hash(p) for p in user_effects(proj.root).values()},
    }

    def fn(ctx: StageContext) -> StageProduct:
        from ..audio.dialogue import VaultSpeechStore
        from ..audio.episode import build_episode_audio as build

        dubs = [lang for lang in r.languages if lang != primary]
        ea = build(proj, r.episode, out_dir=ctx.workdir / "audio", dubs=dubs or False,
                   music_stems=False, progress=lambda f, what: ctx.progress(f, what),
                   speech_store=VaultSpeechStore(r.vault), layer_cache=_VaultLayers(r.vault, force=r.options.force))
        files = {"master": Path(ea.master), "stem:me": Path(ea.me)}
        files.update({f"stem:{k}": Path(v) for k, v in ea.stems.items()})
        files.update({f"dub:{k}": Path(d.master) for k, d in ea.dubs.items()})
        return StageProduct(files=files, meta={"audio": ea.model_dump(mode="json")})

    return (runner or r.runner).run("mix", inputs, fn)


CONFORM_VERSION = "2"  # 2: cards carry the adjacent scene's room tone


def _conform_inputs(mix, timeline, plan: PicturePlan) -> dict[str, Any]:
    spans = [(t["shot_id"], t["start_s"], t["start_s"] + t["duration_s"])
             for t in mix.meta["audio"]["shots"]]
    return {"mix": mix.outputs, "spans": spans, "record": plan.content_starts(timeline),
            "total": timeline.duration_s}


def _conform(r: _Render, mix, timeline, plan: PicturePlan, *,
             runner: StageRunner | None = None):
    from ..audio.ambience import card_fill
    from .conform import conform, map_time

    audio = mix.meta["audio"]
    inputs = _conform_inputs(mix, timeline, plan)
    from ..edit.decisions import trim_spans  # a trimmed shot's sound is cut like its picture

    spans = inputs["spans"] = trim_spans(inputs["spans"], r.sb)
    record = inputs["record"]
    fill, inputs["card_tone"] = card_fill(timeline, r.project.scenes)
    last = timeline.items[-1].transition
    inputs["fade_out_s"] = fade_out = timeline.seconds(last.frames) if last.fades_out else 0.0

    def fn(ctx: StageContext) -> StageProduct:
        import soundfile as sf

        from ..audio.mix import integrated_lufs, true_peak_dbtp, write_wav

        digests: dict[str, str] = {}
        loud: dict[str, float] = {}
        for i, (key, digest) in enumerate(sorted(mix.outputs.items())):
            # each track is conformed once per (its sound, the edit): a track the change
            # did not touch (e.g. a dub after an original-language line edit) is reused
            # room tone under the cards: in the mixes and the M&E/ambience stems only
            toned = key in ("master", "stem:me", "stem:ambience") or key.startswith("dub:")
            track_key = stable_hash("conform-track", CONFORM_VERSION, digest, spans, record,
                                    timeline.duration_s, key == "master",
                                    inputs["card_tone"] if toned else None, fade_out)
            rec = None if r.options.force else r.vault.lookup("conform_track", track_key)
            if rec is None:
                x, sr = sf.read(str(r.vault.get(digest)), dtype="float32", always_2d=True)
                y = conform(x, spans, record, timeline.duration_s, sr,
                            gap_fill=fill if toned else None, fade_out_s=fade_out)
                path = write_wav(ctx.file(key.replace(":", "_") + ".wav"), y, sr)
                measured = {"integrated_lufs": round(integrated_lufs(y, sr), 2),
                            "true_peak_dbtp": round(true_peak_dbtp(y), 2)} \
                    if key == "master" else {}
                rec = r.vault.remember("conform_track", track_key,
                                       {"track": r.vault.put_file(path, move=True)}, measured)
            digests[key] = rec.outputs["track"]
            if key == "master":
                loud = {**rec.meta, "target_lufs": r.project.series.loudness.lufs,
                        "ceiling_dbtp": r.project.series.loudness.peak,
                        "mix_integrated_lufs": audio["report"]["integrated_lufs"]}
            ctx.progress((i + 1) / len(mix.outputs))
        start_audio = {sid: a for sid, a, _ in spans}

        def moved(cues: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for c in cues:
                sid = c["shot_id"]
                out.append({**c, "start_s": round(map_time(c["start_s"], start_audio[sid],
                                                           record[sid]), 4),
                            "end_s": round(map_time(c["end_s"], start_audio[sid],
                                                    record[sid]), 4)})
            return out

        cues = {"": moved(audio["cues"])}
        for lang, dub in audio["dubs"].items():
            cues[lang] = moved(dub["cues"])
        return StageProduct(digests=digests, meta={"loudness": loud, "cues": cues})

    return (runner or r.runner).run("conform", inputs, fn, version=CONFORM_VERSION)


def _captions(r: _Render, sound, primary: str, name: str):
    """SRT + WebVTT per series language, timed from the conformed dialogue cues."""
    proj = r.project
    inputs = {"cues": sound.meta["cues"], "languages": r.languages,
              "dialogue": {s.id: [d.model_dump(mode="json") for d in s.dialogue]
                           for s in r.sb.shots}}

    def fn(ctx: StageContext) -> StageProduct:
        from ..audio.dialogue import text_for
        from ..edit import captions as cap

        cues = []
        for lang in r.languages:
            source = sound.meta["cues"].get(lang) if lang != primary else None
            for c in source if source is not None else sound.meta["cues"][""]:
                line = r.sb.shot(c["shot_id"]).dialogue[c["index"]]
                ch = proj.characters[c["character"]]
                text = c["text"] if source is not None else text_for(line, ch, lang)[0]
                cues.append(cap.Cue(start_s=c["start_s"], end_s=c["end_s"], text=text,
                                    speaker=ch.name, language=lang))
        if not cues:
            return StageProduct(meta={"languages": []})
        files = cap.write_captions(cues, ctx.workdir, stem=name)
        out: dict[str, Path] = {}
        for lang, f in files.items():
            out[f"{lang}:srt"], out[f"{lang}:vtt"] = Path(f.srt), Path(f.vtt)
        return StageProduct(files=out, meta={"languages": sorted(files)})

    return r.runner.run("captions", inputs, fn)


def _mux(r: _Render, picture, sound, captions, primary: str):
    inputs = {"picture": picture.digest("picture"),
              "sound": sound.outputs if sound else None,
              "captions": captions.outputs if captions else None, "primary": primary,
              "ceiling_dbtp": r.project.series.loudness.peak}

    def fn(ctx: StageContext) -> StageProduct:
        from ..edit import mux

        dubs = {k[4:]: r.vault.get(d) for k, d in (sound.outputs if sound else {}).items()
                if k.startswith("dub:")}
        subs = {}
        for key, d in (captions.outputs if captions else {}).items():
            lang, fmt = key.split(":")
            if fmt == "srt":  # ffmpeg's srt demuxer wants the extension
                subs[lang] = ctx.file(f"{lang}.srt")
                shutil.copyfile(r.vault.get(d), subs[lang])
        dst = ctx.file("master.mp4")
        report = mux.MuxReport()
        info = mux.mux_master(
            picture.path("picture"), dst, audio=sound.path("master") if sound else None,
            audio_language=primary, dubs=dubs, subtitles=subs,
            title=f"{r.project.series.title} - {r.episode} {r.sb.title}".strip(),
            aac_cache=VaultPieces(r.vault, "aac_track", force=r.options.force), report=report,
            ceiling_dbtp=r.project.series.loudness.peak)  # held on the delivered AAC
        return StageProduct(files={"master": dst}, meta={"info": info.model_dump(mode="json"),
                                                         "aac": report.model_dump()})

    return r.runner.run("mux", inputs, fn, version="3")


def _prores_pieces_early(r: _Render, picture):
    """A new picture's ProRes pieces need no sound: encode them on the picture thread while
    the sound is conformed (the ``prores`` stage then only concatenates). Nothing when the
    picture came from the cache (the ProRes master then comes from it too)."""
    if not r.options.prores or picture.cache_hit or r.options.force:
        return None  # (a forced prores stage re-encodes every piece itself)
    from ..edit import mux

    return r.picture_pool.submit(mux.prores_pieces, picture.path("picture"),
                                 VaultPieces(r.vault, "prores_piece"), work_dir=r.vault.root / "tmp")


def _wait_quietly(future) -> None:
    """Join an early, optional job: if it failed, the stage that needs its work redoes it
    and reports the error there (with the stage's context)."""
    try:
        future.result()
    except Exception:  # noqa: BLE001 - re-raised by the stage that redoes the work
        pass


def _prores(r: _Render, picture, sound, primary: str, *, runner: StageRunner | None = None):
    inputs = {"picture": picture.digest("picture"),
              "sound": sound.outputs if sound else None, "primary": primary}

    def fn(ctx: StageContext) -> StageProduct:
        from ..edit import mux

        dubs = {k[4:]: r.vault.get(d) for k, d in (sound.outputs if sound else {}).items()
                if k.startswith("dub:")}
        dst = ctx.file("master.mov")
        report = mux.ProresReport()
        info = mux.prores_master(picture.path("picture"), dst,
                                 audio=sound.path("master") if sound else None,
                                 audio_language=primary, dubs=dubs,
                                 pieces=VaultPieces(r.vault, "prores_piece", force=r.options.force),
                                 report=report)
        return StageProduct(files={"master": dst}, meta={"info": info.model_dump(mode="json"),
                                                         "pieces": report.model_dump()})

    return (runner or r.runner).run("prores", inputs, fn, version="2")


class _VaultLayers:
    """Audio layers kept in the vault (``audio_layer`` records: key -> one .npy object per
    array, meta in the record): see ``audio.episode.LayerCache``. ``force``: never reuse
    (a forced render recomputes everything), only store."""

    def __init__(self, vault, *, force: bool = False) -> None:
        self.vault = vault
        self.force = force

    def get(self, key: str):
        import numpy as np

        rec = None if self.force else self.vault.lookup("audio_layer", key)
        if rec is None:
            return None
        return {name: np.load(self.vault.get(d)) for name, d in rec.outputs.items()}, rec.meta

    def put(self, key: str, arrays, meta) -> None:
        import tempfile

        import numpy as np

        tmp_root = self.vault.root / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        outputs = {}
        with tempfile.TemporaryDirectory(prefix="audio-layer-", dir=tmp_root) as tmp:
            for name, arr in arrays.items():  # written once, moved in (as stage outputs are)
                path = Path(tmp) / f"{len(outputs)}.npy"
                np.save(path, np.ascontiguousarray(arr), allow_pickle=False)
                outputs[name] = self.vault.put_file(path, move=True)
        self.vault.remember("audio_layer", key, outputs, meta)


def _certify(r: _Render, mp4, mov, signed: dict[str, str], creds, result: RenderResult):
    """Sign the MP4 master (the signed shots as ingredients) and the ProRes master (the MP4
    master as its parent)."""
    from .. import provenance as pv

    cards = sum(1 for s in r.sb.acts if s.kind.value == "act" and s.title) + \
        int(r.sb.title_card) + int(bool(r.sb.hook_card))
    transitions = sorted({s.transition.kind.value for s in r.sb.shots})
    actions = [
        pv.EditAction(action="c2pa.color_adjustments",
                      description="each shot matched to its scene's reference look "
                                  "(CIELAB transfer) plus the series look LUT"),
        pv.EditAction(action="c2pa.edited",
                      description=f"assembled from the storyboard: transitions "
                                  f"{', '.join(transitions)}; {cards} title/act/hook cards"),
        pv.EditAction(action="c2pa.edited",
                      description="sound: dialogue (TTS), music, ambience and effects mixed "
                                  f"and mastered to {r.project.series.loudness.lufs:g} LUFS; "
                                  f"dubs: {', '.join(r.languages[1:]) or 'none'}; captions"),
        pv.EditAction(action="c2pa.transcoded",
                      description="H.264/AAC MP4 master with dub and subtitle tracks"),
    ]
    inputs = {"mp4": mp4.digest("master"), "mov": mov.digest("master") if mov else None,
              "shots": signed, "actions": [a.model_dump(mode="json") for a in actions],
              "cert": file_hash(creds.cert_chain), "alg": creds.alg}
    name = f"episode-{r.episode}"

    def fn(ctx: StageContext) -> StageProduct:
        # vault objects are read in place (no copies): they have no suffix, so the MIME
        # type is given; signing writes new files in the stage's scratch folder
        ingredients = [pv.MasterIngredient(shot_id=sid, path=r.vault.get(digest),
                                           format="video/mp4")
                       for sid, digest in signed.items()]
        src = mp4.path("master")
        dst = pv.sign_master(src, ctx.file(f"{name}.mp4"), ingredients=ingredients,
                             actions=actions, creds=creds,
                             extra={"series": r.project.series.title, "episode": r.episode,
                                    "shots": list(signed)})
        files = {"mp4": dst, "mp4_report": pv.write_report(
            pv.verify(dst, development=creds.development), ctx.file(f"{name}.mp4.c2pa.json"))}
        if mov is not None:
            files["mov"] = pv.sign_derivative(
                mov.path("master"), ctx.file(f"{name}.mov"), parent=dst, creds=creds,
                action=pv.EditAction(action="c2pa.transcoded",
                                     description="ProRes 422 HQ master"))
            files["mov_report"] = pv.write_report(
                pv.verify(files["mov"], development=creds.development),
                ctx.file(f"{name}.mov.c2pa.json"))
        return StageProduct(files=files)

    return r.runner.run("certify", inputs, fn, version="2")


def _qc_summary(r: _Render, master_digest: str, sound):
    """Streams, durations and loudness of the delivered master (one JSON record)."""
    def fn(ctx: StageContext) -> StageProduct:
        from ..edit.mux import true_peak_dbtp
        from ..edit.probe import probe

        info = probe(r.vault.get(master_digest), packets=True)  # read in place
        v = info.video
        audio = info.of_type("audio")
        video_s = v.frames / (v.fps or r.format.fps)
        meta = {"video": {"codec": v.codec, "width": v.width, "height": v.height,
                          "fps": v.fps, "frames": v.frames, "duration_s": round(video_s, 4)},
                "audio": [{"codec": a.codec, "language": a.language,
                           "duration_s": round(a.duration_s, 4),
                           "true_peak_dbtp": round(true_peak_dbtp(  # as delivered (decoded)
                               r.vault.get(master_digest), stream=n), 2)}
                          for n, a in enumerate(audio)],
                "subtitles": [s.language for s in info.of_type("subtitle")],
                "av_offset_s": round(max((abs(a.duration_s - video_s) for a in audio),
                                         default=0.0), 4),
                "loudness": sound.meta["loudness"] if sound else {}}
        return StageProduct(meta=meta)

    return r.runner.run("summary", {"master": master_digest}, fn, version="2")
