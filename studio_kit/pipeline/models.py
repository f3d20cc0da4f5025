"""The render's records: its options, what it made per shot and per stage, and the
shot path's job and kept take (pydantic; ``render.json`` is a :class:`RenderResult`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..engines.base import EngineRequest, EngineResult, RenderFormat
from ..models import Tier

PIPELINE_VERSION = "1"
QC_VERSION = "2"  # 2: qc.runner.qc_clip (every scorer), in the loop before a take is kept
CONFORM_VERSION = "2"  # 2: cards carry the adjacent scene's room tone
FAILURE_STAGE = "engine_failure"  # stage_results rows: was an engine's failure transient?
#: the message of a paid call a worker refused to make (studio_kit.scale drops those rows)
NOT_PAID_ON_WORKER = "not called on a worker: paid takes are made by the coordinator"


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
