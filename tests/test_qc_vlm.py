"""The optional vision-language scorer against a real HTTP server on 127.0.0.1 speaking the
OpenAI-compatible chat completions protocol."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from fakes.openai_chat import FakeChatServer

from studio_kit.errors import StudioError
from studio_kit.qc.base import QCContext, ShotMedia, run_scorers

KEY = "sk-test-not-a-real-key"


ANSWER = {"scores": {"identity": 0.9, "continuity": 0.8, "framing": 1.0, "artefacts": 0.7},
          "notes": "scarf looks right"}


@pytest.fixture
def vlm():
    with FakeChatServer(json.dumps(ANSWER), key=KEY) as fake:
        yield fake


@pytest.fixture
def ctx(sample_project):
    spec = sample_project.resolve_shot("01", "s08-cafe-mara")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (12, 90, 160, 3), dtype=np.uint8)
    return QCContext(spec=spec, media=ShotMedia.from_frames(frames))


def test_vlm_scores_with_rubric(vlm, ctx, monkeypatch):
    monkeypatch.setenv("STUDIO_VLM_BASE_URL", vlm.root)
    monkeypatch.setenv("STUDIO_VLM_API_KEY", KEY)
    monkeypatch.setenv("STUDIO_VLM_MODEL", "tiny-vlm")
    report = run_scorers(ctx, ["vlm"])
    (score,) = report.scores
    assert score.metric == "vlm.rubric" and not score.skipped and score.passed
    expected = (0.9 * 2 + 0.8 * 1.5 + 1.0 + 0.7) / 5.5
    assert score.value == pytest.approx(expected)
    assert score.details["criteria"]["identity"] == 0.9
    assert KEY not in json.dumps(score.model_dump())
    (req,) = vlm.bodies
    assert req["model"] == "tiny-vlm"
    parts = req["messages"][0]["content"]
    assert "Mara Quinn" in parts[0]["text"] and "pea coat" in parts[0]["text"]
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == 3
    png = base64.b64decode(images[0]["image_url"]["url"].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_vlm_low_score_fails_the_tier(vlm, ctx, monkeypatch):
    monkeypatch.setenv("STUDIO_VLM_BASE_URL", vlm.root)
    monkeypatch.setenv("STUDIO_VLM_API_KEY", KEY)
    vlm.reply = json.dumps({"scores": {"identity": 0.1, "continuity": 0.3}})
    ctx.tier = "premium"
    assert not run_scorers(ctx, ["vlm"]).passed


def test_vlm_bad_key_and_unset(vlm, ctx, monkeypatch):
    monkeypatch.setenv("STUDIO_VLM_BASE_URL", vlm.root)
    monkeypatch.setenv("STUDIO_VLM_API_KEY", "wrong")
    with pytest.raises(StudioError, match="refused the key"):
        run_scorers(ctx, ["vlm"])
    monkeypatch.delenv("STUDIO_VLM_BASE_URL")
    (score,) = run_scorers(ctx, ["vlm"]).scores
    assert score.skipped


def test_embedding_scorer_is_pluggable(ctx):
    from studio_kit.qc.embedding import register_embedder

    (score,) = run_scorers(ctx, ["embedding"]).scores
    assert score.skipped and "STUDIO_QC_EMBEDDING_MODEL" in score.details["skipped"]

    def colour_hist(img: np.ndarray) -> np.ndarray:  # a stand-in 'model': colour histogram
        return np.histogramdd(img.reshape(-1, 3), bins=4, range=[(0, 256)] * 3)[0].ravel()

    register_embedder("hist", colour_hist)
    frame = ctx.media.frames[0]
    ctx.options.update(embedder="hist", reference_crops={"mara": frame[10:80, 40:120]})
    ctx.regions = lambda cid, t: {"figure": (40, 10, 120, 80)}
    (score,) = run_scorers(ctx, ["embedding"]).scores
    assert not score.skipped and score.value > 0.9 and score.details["model"] == "hist"


@pytest.mark.parametrize("base", ["http://h:8000", "http://h:8000/", "http://h:8000/v1",
                                  "http://h:8000/v1/"])
def test_base_url_with_or_without_v1(base):
    from studio_kit.engines.openai_compat import chat_completions_url

    assert chat_completions_url(base) == "http://h:8000/v1/chat/completions"


def test_malformed_vlm_answers_are_clear_errors() -> None:
    from studio_kit.qc.vlm import Rubric, parse_answer

    rubric = Rubric.model_validate({"items": [{"name": "look", "weight": 1.0,
                                               "question": "on model?"}]})
    for bad in ('{"scores": {"look": "high"}}', '{"scores": ["look"]}', "{not json}"):
        with pytest.raises(StudioError, match="not the rubric's JSON") as err:
            parse_answer(bad, rubric)
        assert err.value.hint
