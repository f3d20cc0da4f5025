"""A real HTTP server on 127.0.0.1 speaking the OpenAI-compatible chat completions protocol
(``POST /v1/chat/completions``), for the VLM scorer and the Project Builder's LLM.

``reply`` is the assistant message's content; ``key`` (when set) is the only Bearer token
accepted (others get 401); ``seen`` records ``(path, authorization, body)`` of every call,
refused ones included, so tests can check which keys were sent.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeChatServer:
    def __init__(self, reply: str = "", key: str | None = None) -> None:
        self.reply = reply
        self.key = key
        self.seen: list[tuple[str, str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization") or ""
                fake.seen.append((self.path, auth, json.loads(raw or b"null")))
                if self.path != "/v1/chat/completions":
                    return self._send(404, b"")
                if fake.key is not None and auth != f"Bearer {fake.key}":
                    return self._send(401, b"")
                self._send(200, json.dumps({
                    "id": "x", "object": "chat.completion", "choices": [
                        {"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": fake.reply}}]}).encode())

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.url = self.root + "/v1"

    @property
    def bodies(self) -> list[Any]:
        """Bodies of the accepted calls' requests, in order."""
        return [body for _path, auth, body in self.seen
                if self.key is None or auth == f"Bearer {self.key}"]

    def __enter__(self) -> FakeChatServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
