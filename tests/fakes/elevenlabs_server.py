"""A fake ElevenLabs-style TTS server: real HTTP on 127.0.0.1 in a thread.

Routes: ``GET /v1/voices``; ``POST /v1/text-to-speech/{voice_id}/with-timestamps``
(answers 16-bit PCM at 22050 Hz as base64, with a character alignment of 70 ms per
character). Faults are scripted: ``server.script(status, body=..., headers=...)`` queues
answers that are served (in order) before normal ones; ``server.requests`` records what
came in (headers included, so tests can check the key was sent and never leaked).
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

CHAR_S = 0.07
SR = 22050


@dataclass
class Scripted:
    status: int
    body: bytes | str | dict | None = None
    headers: dict[str, str] = field(default_factory=dict)


def speech_for(text: str) -> dict:
    chars = list(text)
    starts = [round(i * CHAR_S, 3) for i in range(len(chars))]
    ends = [round((i + 1) * CHAR_S, 3) for i in range(len(chars))]
    n = int(len(chars) * CHAR_S * SR)
    t = np.arange(n) / SR
    # a voiced-ish signal: 140 Hz buzz, silent on spaces/punctuation
    gate = np.repeat([1.0 if c.isalpha() else 0.0 for c in chars], int(CHAR_S * SR))
    gate = np.pad(gate, (0, max(0, n - len(gate))))[:n]
    pcm = (np.sign(np.sin(2 * np.pi * 140 * t)) * 0.3 * gate * 32767).astype("<i2")
    return {"audio_base64": base64.b64encode(pcm.tobytes()).decode(),
            "alignment": {"characters": chars, "character_start_times_seconds": starts,
                          "character_end_times_seconds": ends}}


class FakeElevenLabs:
    def __init__(self, api_key: str = "test-key-123") -> None:
        self.api_key = api_key
        self.queue: list[Scripted] = []
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, body, headers: dict[str, str] | None = None) -> None:
                if isinstance(body, dict):
                    data = json.dumps(body).encode()
                    ctype = "application/json"
                elif isinstance(body, str):
                    data, ctype = body.encode(), "application/json"
                else:
                    data, ctype = body or b"", "application/octet-stream"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.requests.append({"method": method, "path": self.path,
                                           "headers": dict(self.headers), "body": raw})
                    scripted = outer.queue.pop(0) if outer.queue else None
                if scripted is not None:
                    return self._send(scripted.status, scripted.body, scripted.headers)
                if self.headers.get("xi-api-key") != outer.api_key:
                    return self._send(401, {"detail": {"status": "invalid_api_key"}})
                path = self.path.split("?")[0]
                if method == "GET" and path == "/v1/voices":
                    return self._send(200, {"voices": [
                        {"voice_id": "v-rachel", "name": "Rachel", "labels": {"gender": "female"}},
                        {"voice_id": "v-adam", "name": "Adam", "labels": {"gender": "male"}}]})
                parts = path.strip("/").split("/")
                if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "text-to-speech"] \
                        and parts[3] == "with-timestamps":
                    try:
                        body = json.loads(raw)
                        text = body["text"]
                    except (ValueError, KeyError):
                        return self._send(422, {"detail": "text is required"})
                    if parts[2] not in ("v-rachel", "v-adam"):
                        return self._send(404, {"detail": {"message": "voice not found"}})
                    return self._send(200, speech_for(text))
                return self._send(404, {"detail": "not found"})

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, status: int, body=None, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.queue.append(Scripted(status, body, headers or {}))

    def __enter__(self) -> FakeElevenLabs:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
