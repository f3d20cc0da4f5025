"""The prompt compiler: bible + scene + camera + action -> one deterministic prompt per shot
and engine.

The prompt is assembled from sections with priorities. Identity (who is in the shot, how
they look, what they wear in this episode/scene) is never dropped; when a prompt is longer
than the engine allows, the lowest-priority optional sections go first (style, set
description, eye colour), then the action is shortened by whole sentences. Same inputs ->
byte-identical prompt (snapshot-tested), and a stored ``CompiledPrompt`` records the hash of
its inputs so a diff shows exactly when and why a prompt changed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..engines.base import EngineCapabilities, ResolvedCharacter, ShotSpec
from ..errors import StudioError
from ..models import Scene, Shot
from ..models.common import SCHEMA_VERSION
from ..store.hashing import stable_hash
from ..store.yamlio import atomic_write_text, validate_file
from .colours import colour_word, hair_word, skin_word

#: bump when the compiler's wording changes (stored prompts then show as stale)
COMPILER_VERSION = 1

#: Prompt length limits in characters, per engine. Runway's promptText allows 1000
#: characters; Kling (fal) 2500; the others are conservative figures. An engine may also
#: declare ``max_prompt_chars`` in its capabilities, which wins over this table.
ENGINE_PROMPT_LIMITS: dict[str, int] = {
    "local": 2000,
    "runway": 1000,
    "luma": 2000,
    "kling": 2500,
    "pika": 1000,
    "replicate": 2000,
    "comfyui": 4000,
}
DEFAULT_PROMPT_LIMIT = 1000

DEFAULT_BANNED_TERMS: list[str] = [
    "nsfw", "nude", "gore", "in the style of", "trending on artstation", "disney", "pixar",
    "marvel", "photo of a real person",
]

BASE_NEGATIVE: list[str] = [
    "blurry", "low quality", "distorted face", "extra limbs", "extra fingers", "text",
    "watermark", "logo", "flicker", "frame stutter",
]

_ANGLE_WORDS = {
    "extreme_wide": "Extreme wide shot", "wide": "Wide shot", "full": "Full shot",
    "medium_wide": "Medium wide shot", "medium": "Medium shot",
    "medium_close_up": "Medium close-up", "close_up": "Close-up",
    "extreme_close_up": "Extreme close-up", "over_the_shoulder": "Over-the-shoulder shot",
    "point_of_view": "Point-of-view shot", "high_angle": "High-angle shot",
    "low_angle": "Low-angle shot",
}
_ATMOSPHERE_WORDS = {"haze": "haze", "fog": "fog", "rain": "rain", "snow": "falling snow",
                     "smoke": "smoke", "dust": "dust in the air"}
_OPPOSITE_TIME = {"dawn": "night", "morning": "night", "day": "night", "afternoon": "night",
                  "dusk": "midday sun", "evening": "midday sun", "night": "daylight"}
# outer layers first: what a camera sees on the torso
class PromptPolicy(BaseModel):
    """Optional ``prompt_policy.yaml`` in the series folder."""

    model_config = {"extra": "forbid"}

    banned_terms: list[str] = Field(default_factory=lambda: list(DEFAULT_BANNED_TERMS))
    extra_negative: list[str] = Field(default_factory=list)
    max_chars: dict[str, int] = Field(default_factory=dict,
                                      description="engine -> limit, overrides the table")
    style: str = "cinematic, natural light falloff, consistent character appearance"

    @classmethod
    def for_project(cls, root: str | Path) -> PromptPolicy:
        path = Path(root) / "prompt_policy.yaml"
        return validate_file(cls, path) if path.is_file() else cls()


class PromptSection(BaseModel):
    name: str
    text: str
    priority: int = Field(description="0 = never dropped; higher = dropped earlier")
    dropped: bool = False


class CompiledPrompt(BaseModel):
    """The prompt an engine receives for a shot, stored next to the storyboard."""

    schema_version: int = SCHEMA_VERSION
    compiler_version: int = COMPILER_VERSION
    episode: str
    shot_id: str
    engine: str
    prompt: str
    negative_prompt: str
    max_chars: int
    characters: list[str] = Field(default_factory=list, description="character ids")
    identity_tokens: dict[str, list[str]] = Field(
        default_factory=dict, description="character id -> phrases that must stay in the prompt")
    sections: list[PromptSection] = Field(default_factory=list)
    inputs_hash: str = ""

    @property
    def length(self) -> int:
        return len(self.prompt)


def engine_prompt_limit(engine: str, policy: PromptPolicy | None = None) -> int:
    if policy and engine in policy.max_chars:
        return policy.max_chars[engine]
    from ..registry import ENGINES

    if engine in ENGINES:
        caps = _capabilities(engine)
        if caps is not None and caps.max_prompt_chars:
            return caps.max_prompt_chars
    return ENGINE_PROMPT_LIMITS.get(engine, DEFAULT_PROMPT_LIMIT)


def _engine_supports_lora(engine: str) -> bool:
    from ..registry import ENGINES

    if engine not in ENGINES:
        return engine == "comfyui"
    caps = _capabilities(engine)
    return bool(caps is not None and caps.lora)


def _capabilities(engine: str) -> EngineCapabilities | None:
    """The registered engine's declared capabilities (a class attribute of every
    ``Engine``: read without building the engine); None for a factory function."""
    from ..engines.base import Engine
    from ..registry import ENGINES

    obj = ENGINES.get(engine)
    if isinstance(obj, Engine) or (isinstance(obj, type) and issubclass(obj, Engine)):
        return obj.capabilities
    return None


def _camera_text(shot: Shot) -> str:
    cam = shot.camera
    text = _ANGLE_WORDS[cam.angle.value]
    mv = cam.movement
    if mv.type.value == "static":
        text += ", static camera"
    elif mv.type.value == "handheld":
        text += ", handheld camera"
    else:
        speed = "slow " if mv.speed < 0.4 else ("fast " if mv.speed > 0.7 else "")
        direction = f" {mv.direction.value}" if mv.direction else ""
        text += f", {speed}{mv.type.value}{direction}"
    return text + "."


def _scene_text(scene: Scene) -> tuple[str, str, str]:
    """(setting, lighting, description)"""
    place = scene.name.title() + (", interior" if scene.interior else ", exterior")
    tod = scene.time_of_day.value
    light = scene.lighting
    key = light.key.value.replace("_", "-")
    lighting = (f"{tod.capitalize()}, {light.colour_temperature_k}K key light from {key}, "
                f"{light.fill_ratio:g}:1 key-to-fill")
    atm = scene.atmosphere
    if atm.kind.value != "clear" and atm.density > 0:
        amount = "light " if atm.density < 0.35 else ("dense " if atm.density > 0.7 else "")
        lighting += f", {amount}{_ATMOSPHERE_WORDS[atm.kind.value]}"
    lighting += "."
    description = scene.description.strip()
    if description and not description.endswith("."):
        description += "."
    return place + ".", lighting, description


def _garment_phrase(g) -> str:
    word = colour_word(g.colours[0])
    # a garment read from a script is named with its colour ("red cap"): say it once
    return g.name if g.name.lower().startswith(word + " ") else f"{word} {g.name}"


def _character_text(rc: ResolvedCharacter, use_lora: bool, scene: Scene,
                    speaking: bool) -> tuple[str, list[str], str]:
    """(identity clause, identity tokens, optional eye clause)"""
    ch = rc.character
    ap = ch.appearance
    name = ch.name
    tokens = [name]
    lead = name
    if use_lora and ch.lora:
        lead = f"{ch.lora.trigger} {name}"
        tokens.insert(0, ch.lora.trigger)
    style = ap.hair_style.value
    hair = "bald" if style == "bald" else f"{hair_word(ap.hair_colour)} {style} hair"
    skin = f"{skin_word(ap.skin)} skin"
    garments = [_garment_phrase(g) for g in rc.garments]
    tokens += [hair, skin, *garments]
    clause = f"{lead}: {skin}, {hair}, wearing {', '.join(garments)}"
    if rc.mark and scene.mark(rc.mark) is not None:
        x = scene.mark(rc.mark).x
        side = "left of frame" if x < 0.42 else ("right of frame" if x > 0.58 else "centre")
        clause += f", {side}"
    if speaking:
        clause += ", speaking"
    eyes = f"{name} has {colour_word(ap.eye_colour)} eyes."
    return clause + ".", tokens, eyes


def _fit(sections: list[PromptSection], limit: int) -> str:
    def join() -> str:
        return " ".join(s.text for s in sections if not s.dropped and s.text)

    text = join()
    for s in sorted((s for s in sections if s.priority > 0), key=lambda s: -s.priority):
        if len(text) <= limit:
            break
        s.dropped = True
        text = join()
    action = next((s for s in sections if s.name == "action"), None)
    while len(text) > limit and action is not None and not action.dropped:
        sentences = re.split(r"(?<=[.!?])\s+", action.text)
        if len(sentences) <= 1:
            break
        action.text = " ".join(sentences[:-1])
        text = join()
    return text


def compile_prompt(spec: ShotSpec, engine: str, *, policy: PromptPolicy | None = None,
                   max_chars: int | None = None) -> CompiledPrompt:
    """The prompt for one shot on one engine. Deterministic: same inputs, same text."""
    policy = policy or PromptPolicy()
    limit = max_chars or engine_prompt_limit(engine, policy)
    shot, scene = spec.shot, spec.scene
    # the shot's heading (NIGHT) and action ("fog rolls in") light the set, as on the
    # local engine
    from ..engines.local.script import shot_atmosphere, shot_time_of_day

    scene = scene.model_copy(update={"time_of_day": shot_time_of_day(shot, scene),
                                     "atmosphere": shot_atmosphere(shot, scene)})
    use_lora = _engine_supports_lora(engine)
    speakers = {d.character for d in shot.dialogue}
    place, lighting, description = _scene_text(scene)
    sections = [
        PromptSection(name="camera", text=_camera_text(shot), priority=0),
        PromptSection(name="setting", text=place, priority=0),
        PromptSection(name="lighting", text=lighting, priority=0),
    ]
    identity: dict[str, list[str]] = {}
    eyes = []
    for rc in spec.characters:
        clause, tokens, eye = _character_text(rc, use_lora, scene, rc.character.id in speakers)
        identity[rc.character.id] = tokens
        sections.append(PromptSection(name=f"character:{rc.character.id}", text=clause,
                                      priority=0))
        eyes.append(eye)
    action = shot.action.strip()
    if action:
        sections.append(PromptSection(name="action", text=action, priority=0))
    if eyes:
        sections.append(PromptSection(name="eyes", text=" ".join(eyes), priority=2))
    if description:
        sections.append(PromptSection(name="description", text=description, priority=3))
    if policy.style:
        sections.append(PromptSection(name="style", text=policy.style.rstrip(".") + ".",
                                      priority=4))
    prompt = _fit(sections, limit)
    negative = list(BASE_NEGATIVE)
    negative.append(_OPPOSITE_TIME[scene.time_of_day.value])
    if spec.characters:
        negative += ["changing hair colour", "changing outfit", "different face"]
    negative += policy.extra_negative
    inputs = stable_hash("prompt", COMPILER_VERSION, engine, limit, use_lora,
                         policy.model_dump(mode="json"), spec.shot.model_dump(mode="json"),
                         spec.scene.model_dump(mode="json"),
                         [rc.model_dump(mode="json") for rc in spec.characters])
    return CompiledPrompt(
        episode=spec.episode, shot_id=shot.id, engine=engine, prompt=prompt,
        negative_prompt=", ".join(dict.fromkeys(negative)), max_chars=limit,
        characters=[rc.character.id for rc in spec.characters], identity_tokens=identity,
        sections=sections, inputs_hash=inputs[:16])


# -- storage ------------------------------------------------------------------------------
def prompt_path(root: str | Path, episode: str, shot_id: str, engine: str) -> Path:
    return Path(root) / "episodes" / episode / "prompts" / f"{shot_id}.{engine}.json"


def save_compiled(root: str | Path, compiled: CompiledPrompt) -> Path:
    """Write ``episodes/NN/prompts/<shot>.<engine>.json`` (stable, diffable JSON)."""
    path = prompt_path(root, compiled.episode, compiled.shot_id, compiled.engine)
    atomic_write_text(path, compiled.model_dump_json(indent=2) + "\n")
    return path


def load_compiled(path: str | Path) -> CompiledPrompt:
    path = Path(path)
    if not path.is_file():
        raise StudioError("no compiled prompt here", file=path,
                          hint="run 'studio prompts PROJECT EPISODE' to compile prompts")
    try:
        return CompiledPrompt.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise StudioError(f"not a compiled prompt: {exc}", file=path,
                          hint="delete the file and compile again") from None


def diff_prompts(old: CompiledPrompt, new: CompiledPrompt) -> str:
    """A unified diff of two prompts (one sentence per line, so changes read clearly)."""
    import difflib

    def lines(cp: CompiledPrompt) -> list[str]:
        body = re.split(r"(?<=[.])\s+", cp.prompt)
        return [*body, "NEGATIVE: " + cp.negative_prompt]

    return "\n".join(difflib.unified_diff(lines(old), lines(new), f"{old.shot_id} (before)",
                                          f"{new.shot_id} (after)", lineterm=""))


def compile_episode(project: Any, episode: str, *, engine: str | None = None,
                    save: bool = True) -> list[CompiledPrompt]:
    """Compile (and store) the prompt of every shot of an episode."""
    sb = project.storyboard(episode)
    if engine is not None:  # an unknown engine is a mistake, not a default profile
        from ..registry import ENGINES

        ENGINES.get(engine)
    policy = PromptPolicy.for_project(project.root)
    out = []
    for shot in sb.shots:
        spec = project.resolve_shot(sb.episode, shot.id)
        eng = engine or shot.engine or project.series.default_engine
        cp = compile_prompt(spec, eng, policy=policy)
        if save:
            save_compiled(project.root, cp)
        out.append(cp)
    return out
