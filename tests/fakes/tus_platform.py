"""A fake video platform with a tus 1.0 upload API: real HTTP on 127.0.0.1 in a thread.

Routes (all need ``Authorization: Bearer <token>``, else 401):
- ``POST /api/files`` (``Upload-Length``, ``Upload-Metadata``) -> 201, ``Location``;
- ``HEAD /api/files/<id>`` -> ``Upload-Offset``;
- ``PATCH /api/files/<id>`` (``Upload-Offset`` must match, else 409) -> 204, new offset;
- ``POST /api/releases`` (JSON: platform, metadata, files, sha256) -> 201 ``{id, url}``;
  the files' bytes are checked against the sha256 given (400 on a mismatch).

Faults: ``server.fail_patch(n, keep=...)`` makes the n-th PATCH (1-based) store only ``keep``
bytes of its chunk and answer 503 (a platform falling over mid-chunk);
``server.fail_next(path_prefix, status)`` answers ``status`` once to the next request on a
path. ``server.requests`` records method, path and headers of every request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakePlatform:
    def __init__(self, token: str) -> None:
        self.token = token
        self.uploads: dict[str, dict] = {}
        self.releases: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.patches = 0
        self._patch_faults: dict[int, int] = {}
        self._faults: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def fail_patch(self, n: int, keep: int) -> None:
        self._patch_faults[n] = keep

    def fail_next(self, path_prefix: str, status: int) -> None:
        self._faults.append((path_prefix, status))

    def __enter__(self) -> FakePlatform:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:  # quiet
                pass

            def _send(self, status: int, headers: dict | None = None,
                      body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Tus-Resumable", "1.0.0")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _pre(self) -> bool:
                body = self._body()
                self._data = body
                with fake._lock:
                    fake.requests.append({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers.items())})
                    for i, (prefix, status) in enumerate(fake._faults):
                        if self.path.startswith(prefix):
                            del fake._faults[i]
                            self._send(status, body=b"upstream hiccup")
                            return False
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._send(401, body=b'{"error": "bad token"}')
                    return False
                return True

            def do_POST(self) -> None:
                if not self._pre():
                    return
                if self.path == "/api/files":
                    meta = {}
                    for pair in (self.headers.get("Upload-Metadata") or "").split(","):
                        if pair.strip():
                            k, _, v = pair.strip().partition(" ")
                            meta[k] = base64.b64decode(v).decode()
                    with fake._lock:
                        uid = f"u{len(fake.uploads) + 1}"
                        fake.uploads[uid] = {"length": int(self.headers["Upload-Length"]),
                                             "data": bytearray(), "meta": meta}
                    self._send(201, {"Location": f"/api/files/{uid}"})
                elif self.path == "/api/releases":
                    rel = json.loads(self._data)
                    for key, loc in rel["files"].items():
                        up = fake.uploads[loc.rsplit("/", 1)[-1]]
                        if (len(up["data"]) != up["length"] or hashlib.sha256(
                                up["data"]).hexdigest() != rel["sha256"][key]):
                            self._send(400, body=f"{key}: bytes do not match".encode())
                            return
                    with fake._lock:
                        rid = f"r{len(fake.releases) + 1}"
                        fake.releases[rid] = rel
                    body = json.dumps({"id": rid, "url": f"https://watch.example/{rid}"})
                    self._send(201, {"Content-Type": "application/json"}, body.encode())
                else:
                    self._send(404)

            def do_HEAD(self) -> None:
                if not self._pre():
                    return
                up = fake.uploads.get(self.path.rsplit("/", 1)[-1])
                if up is None:
                    self._send(404)
                    return
                self._send(200, {"Upload-Offset": str(len(up["data"])),
                                 "Upload-Length": str(up["length"]), "Cache-Control": "no-store"})

            def do_PATCH(self) -> None:
                if not self._pre():
                    return
                up = fake.uploads.get(self.path.rsplit("/", 1)[-1])
                if up is None:
                    self._send(404)
                    return
                if self.headers.get("Content-Type") != "application/offset+octet-stream":
                    self._send(415)
                    return
                with fake._lock:
                    fake.patches += 1
                    n = fake.patches
                    if int(self.headers["Upload-Offset"]) != len(up["data"]):
                        self._send(409, body=b"offset mismatch")
                        return
                    if n in fake._patch_faults:
                        up["data"] += self._data[:fake._patch_faults.pop(n)]
                        self._send(503, body=b"service unavailable")
                        return
                    up["data"] += self._data
                    if len(up["data"]) > up["length"]:
                        self._send(413)
                        return
                self._send(204, {"Upload-Offset": str(len(up["data"]))})

        return Handler
