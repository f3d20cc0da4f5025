"""Engine routing: readable YAML rules assign each shot an engine and a failover chain.

``routing.yaml`` in the series folder (see docs/routing.md)::

    default: local                 # when no rule matches
    failover: [local]              # appended to every chain (the free fallback)
    style: photoreal               # series default; '#stylized' / '#photoreal' in notes
    retry_allowance: 0.5           # budgeted extra attempts per paid shot (Gate A)
    engines:
      runway: {concurrency: 2, price_per_second: 0.05}
    rules:
      - name: trained-character close-ups
        when: {trained_character: true, close_up: true}
        engine: comfyui
        failover: [kling]

Rules are tried in order; the first whose every condition holds wins. An operator override
(``Shot.engine`` in the storyboard) beats every rule. Engines that cannot take the shot
(duration over their maximum) or whose key is missing are dropped from the chain, and the
decision says so. Running the chains (failover on errors, timeouts, refusals and failed QC,
under per-engine concurrency limits) is :mod:`.failover`'s job: routing decides, it never
pays, so it imports nothing that generates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from ..engines.base import Engine, EngineRequest, RenderFormat
from ..engines.factory import get_engine
from ..errors import StudioError
from ..models import CameraAngle, Movement, Shot, StudioModel, Tier
from ..store.yamlio import load_yaml, validate_data

ROUTING_FILE = "routing.yaml"
WIDE = {CameraAngle.extreme_wide, CameraAngle.wide}
CLOSE = {CameraAngle.close_up, CameraAngle.extreme_close_up, CameraAngle.medium_close_up}
MOTION = {Movement.handheld, Movement.crane, Movement.truck, Movement.dolly}


class RuleMatch(StudioModel):
    """Conditions on a shot's features; every condition given must hold."""

    establishing: bool | None = Field(None, description="First shot of its scene, wide.")
    wide: bool | None = None
    close_up: bool | None = None
    photoreal: bool | None = None
    motion_heavy: bool | None = Field(None, description="Fast or physical camera movement.")
    trained_character: bool | None = Field(None, description="A character with a LoRA.")
    has_dialogue: bool | None = None
    interior: bool | None = None
    angle: list[CameraAngle] | None = None
    movement: list[Movement] | None = None
    scene: list[str] | None = None
    character: list[str] | None = None
    tier: list[Tier] | None = None
    min_duration_s: float | None = Field(None, ge=0)
    max_duration_s: float | None = Field(None, gt=0)

    def failures(self, f: ShotFeatures) -> list[str]:
        """The conditions that do not hold (empty = match)."""
        out = []
        for name in ("establishing", "wide", "close_up", "photoreal", "motion_heavy",
                     "trained_character", "has_dialogue", "interior"):
            want = getattr(self, name)
            if want is not None and getattr(f, name) != want:
                out.append(f"{name} is {getattr(f, name)}")
        for name, have in (("angle", f.angle), ("movement", f.movement), ("scene", f.scene),
                           ("tier", f.tier)):
            want = getattr(self, name)
            if want is not None and have not in [str(w) for w in want]:
                out.append(f"{name} {have} not in {[str(w) for w in want]}")
        if self.character is not None and not set(self.character) & set(f.characters):
            out.append(f"none of {self.character} in the shot")
        if self.min_duration_s is not None and f.duration_s < self.min_duration_s:
            out.append(f"{f.duration_s:g}s < {self.min_duration_s:g}s")
        if self.max_duration_s is not None and f.duration_s > self.max_duration_s:
            out.append(f"{f.duration_s:g}s > {self.max_duration_s:g}s")
        return out

    def describe(self) -> str:
        parts = []
        for k, v in self.model_dump(exclude_none=True).items():
            if isinstance(v, bool):
                parts.append(k if v else f"not {k}")
            elif isinstance(v, list):
                parts.append(f"{k} in {'/'.join(map(str, v))}")
            else:
                parts.append(f"{k}={v}")
        return ", ".join(parts) or "always"


class Rule(StudioModel):
    name: str = Field(min_length=1)
    when: RuleMatch = Field(default_factory=RuleMatch)
    engine: str
    failover: list[str] = Field(default_factory=list)
    note: str = ""


class EngineSettings(StudioModel):
    concurrency: int = Field(2, ge=1, le=64)
    price_per_second: float | None = Field(None, ge=0)
    base_url: str | None = None
    model: str | None = None
    timeout_s: float | None = Field(None, gt=0)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_safe(cls, v: str | None) -> str | None:
        # http(s) only; plain http only to loopback unless STUDIO_ALLOW_INSECURE_HTTP=1
        from ..engines.adapters.http import base_url_problem

        if v is not None and (problem := base_url_problem(v)):
            raise ValueError(problem)
        return v.rstrip("/") if v else v


class RoutingRules(StudioModel):
    schema_version: int = 1
    default: str = "local"
    failover: list[str] = Field(default_factory=list)
    style: str = Field("photoreal", pattern="^(photoreal|stylized)$")
    retry_allowance: float = Field(0.5, ge=0, le=10,
                                   description="Extra attempts budgeted per paid shot.")
    motion_speed: float = Field(0.6, ge=0, le=1,
                                description="Camera speed from which a move is motion-heavy.")
    engines: dict[str, EngineSettings] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)

    def settings(self, engine: str) -> EngineSettings:
        return self.engines.get(engine) or EngineSettings()


class ShotFeatures(BaseModel):
    shot_id: str
    angle: str
    movement: str
    scene: str
    tier: str
    characters: list[str]
    duration_s: float
    establishing: bool
    wide: bool
    close_up: bool
    photoreal: bool
    motion_heavy: bool
    trained_character: bool
    has_dialogue: bool
    interior: bool


class RouteDecision(BaseModel):
    shot_id: str
    engine: str
    chain: list[str]
    rule: str
    reason: str
    duration_s: float
    skipped: dict[str, str] = Field(default_factory=dict, description="engine -> why dropped")
    features: dict[str, Any] = Field(default_factory=dict)
    configured: list[str] = Field(default_factory=list, description=(
        "The chain routing.yaml (or the shot's override) gives, before engines without a key "
        "or too short for the shot are dropped: what Gate A approves."))

    def __str__(self) -> str:
        return self.engine

    def row(self) -> dict[str, Any]:
        return {"shot": self.shot_id, "engine": self.engine, "rule": self.rule,
                "failover": " > ".join(self.chain[1:]), "seconds": self.duration_s,
                "reason": self.reason,
                "skipped": "; ".join(f"{k}: {v}" for k, v in self.skipped.items())}


# -- loading ------------------------------------------------------------------------------
def load_rules(project) -> RoutingRules:
    """``routing.yaml`` of the project, or the default (everything to default_engine)."""
    path = Path(project.root) / ROUTING_FILE
    if not path.is_file():
        return RoutingRules(default=project.series.default_engine)
    data, lines = load_yaml(path)
    rules = validate_data(RoutingRules, data or {}, path, lines)
    known = None
    try:
        from ..registry import ENGINES

        known = set(ENGINES.names())
    except StudioError:
        pass
    if known is not None:
        from ..errors import Problem, ProblemList
        from ..store.yamlio import line_for

        problems = ProblemList()
        refs: list[tuple[tuple, str]] = [(("default",), rules.default)]
        refs += [(("failover", i), e) for i, e in enumerate(rules.failover)]
        for ri, r in enumerate(rules.rules):
            refs.append((("rules", ri, "engine"), r.engine))
            refs += [(("rules", ri, "failover", i), e) for i, e in enumerate(r.failover)]
        for loc, name in refs:
            if name not in known:
                problems.add(Problem(str(path), f"unknown engine {name!r}",
                                     line_for(lines, loc), ".".join(map(str, loc)),
                                     f"known engines: {', '.join(sorted(known))}"))
        problems.raise_if_any(f"{path}: unknown engines")
    return rules


# -- features and matching --------------------------------------------------------------
def shot_features(project, episode: str, shot: Shot, rules: RoutingRules,
                  first_of_scene: bool) -> ShotFeatures:
    scene = project.scenes.get(shot.scene)
    angle = shot.camera.angle
    mv = shot.camera.movement
    notes = shot.notes.lower()
    photoreal = rules.style == "photoreal"
    if "#stylized" in notes:
        photoreal = False
    if "#photoreal" in notes:
        photoreal = True
    close = angle in CLOSE
    trained = any((ch := project.characters.get(c)) is not None and ch.lora is not None
                  for c in ([shot.camera.subject] if shot.camera.subject and close
                            else shot.character_ids))
    return ShotFeatures(
        shot_id=shot.id, angle=angle.value, movement=mv.type.value, scene=shot.scene,
        tier=project.series.tier.value, characters=shot.character_ids,
        duration_s=shot.duration_s, establishing=first_of_scene and angle in WIDE,
        wide=angle in WIDE, close_up=close, photoreal=photoreal,
        motion_heavy=mv.type == Movement.handheld
        or (mv.type in MOTION | {Movement.pan, Movement.tilt} and mv.speed >= rules.motion_speed),
        trained_character=trained, has_dialogue=bool(shot.dialogue),
        interior=bool(scene.interior) if scene else True)


def route_shot(project, episode: str, shot: Shot | str, rules: RoutingRules | None = None,
               first_of_scene: bool | None = None,
               engines: dict[str, Engine] | None = None,
               tier: Tier | str | None = None) -> RouteDecision:
    """The decision for one shot (a Shot or its id); ``str(decision)`` is the engine."""
    rules = rules or load_rules(project)
    if isinstance(shot, str) or first_of_scene is None:
        sb = project.storyboard(episode)
        shot = sb.shot(shot) if isinstance(shot, str) else shot
        shots = sb.shots
        i = next(k for k, s in enumerate(shots) if s.id == shot.id)
        first_of_scene = i == 0 or shots[i - 1].scene != shot.scene
    f = shot_features(project, episode, shot, rules, first_of_scene)
    if tier is not None:
        f.tier = str(getattr(tier, "value", tier))
    if shot.engine:
        primary, extra = shot.engine, []
        rule, reason = "override", f"operator override: shot.engine = {shot.engine}"
    else:
        for r in rules.rules:
            if not r.when.failures(f):
                primary, extra, rule = r.engine, r.failover, r.name
                reason = f"rule '{r.name}' ({r.when.describe()})"
                break
        else:
            primary, extra = rules.default, []
            rule, reason = "default", "no rule matched; routing.yaml default"
    chain: list[str] = []
    for e in [primary, *extra, *rules.failover]:
        if e not in chain:
            chain.append(e)
    skipped: dict[str, str] = {}
    usable = []
    engines = engines if engines is not None else {}
    for name in chain:
        try:
            if name not in engines:
                engines[name] = engine_for(name, rules)
            eng = engines[name]
        except StudioError as err:
            skipped[name] = str(err).splitlines()[0]
            continue
        if shot.duration_s > eng.capabilities.max_duration_s:
            skipped[name] = (f"{shot.duration_s:g}s over its {eng.capabilities.max_duration_s:g}"
                             "s maximum")
            continue
        missing = eng.key_problem()
        if missing:
            skipped[name] = f"${missing} not set"
            continue
        usable.append(name)
    if not usable:
        usable = [chain[0]]  # keep the intended engine so Gate A reports the problem
    if usable[0] != primary:
        reason += f"; {primary} unusable ({skipped.get(primary, '?')}), using {usable[0]}"
    return RouteDecision(shot_id=shot.id, engine=usable[0], chain=usable, rule=rule,
                         reason=reason, duration_s=shot.duration_s, skipped=skipped,
                         features=f.model_dump(), configured=chain)


def engine_for(name: str, rules: RoutingRules | None = None) -> Engine:
    """An engine configured with routing.yaml's settings (base_url, model, price)."""
    s = rules.settings(name) if rules else EngineSettings()
    cfg = {k: v for k, v in (("base_url", s.base_url), ("model", s.model),
                              ("price_per_second", s.price_per_second),
                              ("timeout_s", s.timeout_s)) if v is not None}
    return get_engine(name, **cfg)


def route_episode(project, episode: str, rules: RoutingRules | None = None,
                  engines: dict[str, Engine] | None = None) -> list[RouteDecision]:
    """One decision per shot, in storyboard order, each saying which rule matched."""
    rules = rules or load_rules(project)
    engines = dict(engines or {})
    sb = project.storyboard(episode)
    out = []
    prev_scene = None
    for shot in sb.shots:
        out.append(route_shot(project, sb.episode, shot, rules,
                              first_of_scene=shot.scene != prev_scene, engines=engines))
        prev_scene = shot.scene
    return out


def decisions_table(decisions: list[RouteDecision]) -> list[dict[str, Any]]:
    """Plain rows (list of dicts) for the CLI and the surfaces."""
    return [d.row() for d in decisions]


# -- running -----------------------------------------------------------------------------
def build_request(project, episode: str, shot_id: str, **kw: Any) -> EngineRequest:
    """The default request for a shot (prompt compiled by the adapters from the spec)."""
    spec = project.resolve_shot(episode, shot_id)
    fmt = project.series.format
    return EngineRequest(spec=spec, seed=spec.shot.seed or 0,
                         format=RenderFormat(width=fmt.width, height=fmt.height, fps=fmt.fps),
                         **kw)
