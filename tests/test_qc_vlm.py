"""The optional vision-language scorer against a real HTTP server on 127.0.0.1 speaking the
OpenAI-compatible chat completions protocol."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from studio_kit.errors import StudioError
from studio_kit.qc.base import QCContext, ShotMedia, run_scorers

KEY = "sk-test-not-a-real-key"


class FakeVLM(BaseHTTPRequestHandler):
    seen: list[dict] = []
    answer = {"scores": {"identity": 0.9, "continuity": 0.8, "framing": 1.0,
                         "artefacts": 0.7}, "notes": "scarf looks right"}

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            self.end_headers()
            return
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            self.send_response(401)
            self.end_headers()
            return
        FakeVLM.seen.append(body)
        content = json.dumps(FakeVLM.answer)
        data = json.dumps({"id": "x", "object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content},
             "finish_reason": "stop"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeVLM)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def ctx(sample_project):
    spec = sample_project.resolve_shot("01", "s08-cafe-mara")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (12, 90, 160, 3), dtype=np.uint8)
    return QCContext(spec=spec, media=ShotMedia.from_frames(frames))


def test_vlm_scores_with_rubric(server, ctx, monkeypatch):
    monkeypatch.setenv("STUDIO_VLM_BASE_URL", server)
    monkeypatch.setenv("STUDIO_VLM_API_KEY", KEY)
    monkeypatch.setenv("STUDIO_VLM_MODEL", "tiny-vlm")
    FakeVLM.seen.clear()
    report = run_scorers(ctx, ["vlm"])
    (score,) = report.scores
    assert score.metric == "vlm.rubric" and not score.skipped and score.passed
    expected = (0.9 * 2 + 0.8 * 1.5 + 1.0 + 0.7) / 5.5
    assert score.value == pytest.approx(expected)
    assert score.details["criteria"]["identity"] == 0.9
    assert KEY not in json.dumps(score.model_dump())
    (req,) = FakeVLM.seen
    assert req["model"] == "tiny-vlm"
    parts = req["messages"][0]["content"]
    assert "Mara Quinn" in parts[0]["text"] and "pea coat" in parts[0]["text"]
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == 3
    png = base64.b64decode(images[0]["image_url"]["url"].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_vlm_low_score_fails_the_tier(server, ctx, monkeypatch):
    monkeypatch.setenv("STUDIO_VLM_BASE_URL", server)
    monkeypatch.setenv("STUDIO_VLM_API_KEY", KEY)
    monkeypatch.setattr(FakeVLM, "answer", {"scores": {"identity": 0.1, "continuity": 0.3}})
    ctx.tier = "premium"
    assert not run_scorers(ctx, ["vlm"]).passed


def test_vlm_bad_key_and_unset(server, ctx, monkeypatch):
    monkeypatch.setenv("STUDIO_VLM_BASE_URL", server)
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
