"""Optional vision-language scorer through an OpenAI-compatible chat completions endpoint.

Configuration (environment only; the key is never logged or stored):
``STUDIO_VLM_BASE_URL`` (e.g. ``http://127.0.0.1:8080`` for a local server),
``STUDIO_VLM_API_KEY`` (optional for local servers), ``STUDIO_VLM_MODEL``.
Unset base URL -> the scorer is skipped.

The model receives a rubric, the shot's compiled prompt facts (who should be in it, what
they wear, the scene) and a few frames as PNG data URIs, and must answer JSON
``{"scores": {criterion: 0..1}, "notes": "..."}``. The weighted mean is the score.
"""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
from pydantic import BaseModel, Field

from ..engines import openai_compat
from ..errors import StudioError
from ..registry import SCORERS
from ..settings import reveal, settings
from .base import QCContext, QCScore, Scorer
from .measure import sample_times


class RubricItem(BaseModel):
    name: str
    question: str
    weight: float = 1.0


class Rubric(BaseModel):
    items: list[RubricItem] = Field(default_factory=lambda: [
        RubricItem(name="identity", question="Does each character match the description "
                   "(hair colour and style, skin, outfit colours)?", weight=2.0),
        RubricItem(name="continuity", question="Does the set, time of day and lighting "
                   "match the scene description?", weight=1.5),
        RubricItem(name="framing", question="Does the framing match the camera direction?"),
        RubricItem(name="artefacts", question="Is the image free of artefacts (distorted "
                   "faces, extra limbs, garbled text)? 1 = clean."),
    ])


class VLMConfig(BaseModel):
    base_url: str
    api_key: str | None = Field(default=None, repr=False)
    model: str = "local-vlm"
    timeout_s: float = 60.0
    #: retries after the first attempt on 5xx, 408/429, timeouts (the SDK's policy)
    max_retries: int = Field(default=2, ge=0)

    @classmethod
    def from_env(cls) -> VLMConfig | None:
        conf = settings()
        if not conf.vlm_base_url:
            return None
        return cls(base_url=conf.vlm_base_url.rstrip("/"), api_key=reveal(conf.vlm_api_key),
                   model=conf.vlm_model)


def png_data_uri(frame: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(frame, np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def shot_brief(ctx: QCContext) -> str:
    spec = ctx.spec
    lines = [f"Scene: {spec.scene.name} ({'interior' if spec.scene.interior else 'exterior'}),"
             f" {(spec.shot.time_of_day or spec.scene.time_of_day).value}, key light {spec.scene.lighting.key.value}, "
             f"{spec.scene.lighting.colour_temperature_k} K.",
             f"Camera: {spec.shot.camera.angle.value}, {spec.shot.camera.movement.type.value}.",
             f"Action: {spec.shot.action}"]
    for rc in spec.characters:
        ap = rc.character.appearance
        garments = ", ".join(f"{g.name} {g.colours[0]}" for g in rc.garments)
        lines.append(f"Character {rc.character.name}: skin {ap.skin}, hair {ap.hair_colour} "
                     f"{ap.hair_style.value}; wearing {garments}.")
    return "\n".join(lines)


def build_messages(ctx: QCContext, rubric: Rubric, n_frames: int = 3) -> list[dict]:
    criteria = "\n".join(f"- {i.name}: {i.question}" for i in rubric.items)
    content: list[dict] = [{"type": "text", "text": (
        "You are a film continuity supervisor. Score the frames against the shot brief.\n"
        f"Shot brief:\n{shot_brief(ctx)}\n\nCriteria (score each 0..1):\n{criteria}\n\n"
        'Answer only JSON: {"scores": {"<criterion>": <0..1>, ...}, "notes": "<short>"}')}]
    for t in sample_times(ctx.media.duration_s, n_frames):
        i = min(int(round(t * ctx.media.fps)), len(ctx.media.frames) - 1)
        content.append({"type": "image_url", "image_url": {"url": png_data_uri(
            ctx.media.frames[i])}})
    return [{"role": "user", "content": content}]


def parse_answer(text: str, rubric: Rubric) -> tuple[float, dict[str, float], str]:
    m = re.search(r"\{.*\}", text, re.S)
    if not m:
        raise StudioError("the vision-language model did not answer JSON",
                          hint="use a model that follows instructions, or set "
                          "response_format support on the server")
    try:
        data = json.loads(m.group(0))
        scores = {k: float(np.clip(float(v), 0, 1)) for k, v in data.get("scores", {}).items()}
    except (ValueError, TypeError, AttributeError):
        raise StudioError("the vision-language model's answer is not the rubric's JSON "
                          "({\"scores\": {criterion: 0..1}, \"notes\": ...})",
                          field="STUDIO_VLM_MODEL", hint="use a model that follows "
                          "instructions and returns JSON") from None
    total = sum(i.weight for i in rubric.items if i.name in scores)
    if not total:
        raise StudioError("the vision-language model scored none of the rubric's criteria",
                          hint=f"criteria: {[i.name for i in rubric.items]}")
    value = sum(scores[i.name] * i.weight for i in rubric.items if i.name in scores) / total
    return value, scores, str(data.get("notes", ""))[:500]


def ask(config: VLMConfig, messages: list[dict]) -> str:
    """The model's answer, through the ``openai`` SDK (its retries: 5xx, 408/429,
    timeouts); a refused key or a bad request is an ``EngineUserError``, an unreachable or
    failing server an ``EngineOperationalError`` (both StudioErrors)."""
    try:
        with openai_compat.studio_errors(
                "vision-language endpoint", url_field="STUDIO_VLM_BASE_URL",
                unreachable_hint="start the server or unset STUDIO_VLM_BASE_URL to skip "
                "this scorer", key_field="STUDIO_VLM_API_KEY",
                status_hint="check STUDIO_VLM_MODEL and the server log"):
            return openai_compat.chat_content(
                config.base_url, model=config.model, messages=messages,
                api_key=config.api_key, timeout_s=config.timeout_s,
                max_retries=config.max_retries, temperature=0,
                response_format={"type": "json_object"})
    except openai_compat.MalformedChat:
        raise StudioError("the vision-language endpoint's reply is not an OpenAI chat "
                          "completion", field="STUDIO_VLM_BASE_URL",
                          hint="point it at an OpenAI-compatible /v1/chat/completions "
                          "server") from None


@SCORERS.register("vlm")
class VLMScorer(Scorer):
    name = "vlm"

    def score(self, ctx: QCContext) -> list[QCScore]:
        config = ctx.options.get("vlm_config") or VLMConfig.from_env()
        if config is None:
            return [self.skip("vlm.rubric", "no endpoint configured (STUDIO_VLM_BASE_URL)")]
        rubric = ctx.options.get("vlm_rubric") or Rubric()
        value, scores, notes = parse_answer(ask(config, build_messages(ctx, rubric)), rubric)
        return [self.make(ctx, "vlm.rubric", value, criteria=scores, notes=notes,
                          model=config.model)]
