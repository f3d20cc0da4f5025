"""Real HTTP servers on 127.0.0.1 that speak each engine's protocol, with scriptable faults.

One ``FakeEngineServer(service)`` per service (runway, luma, fal, replicate, comfyui); it
runs ``http.server.ThreadingHTTPServer`` in a thread, keeps jobs in memory, moves each job
from queued to running to done by wall-clock time (``job_latency_s``), serves a real small
MP4 made with ffmpeg, and records every call, every submission and every billed job (a job
is billed when the server first reports it finished successfully).

Faults are scripted per endpoint (``server.script("status", "http500", "malformed")``,
consumed in order) or drawn at random (``fault_rate``, ``fault_kinds``, seeded). Kinds:

- HTTP: ``http401`` ``http402`` ``http429`` (with Retry-After) ``http500`` ``http503``
- body: ``malformed`` (not JSON), ``missing_field`` (JSON without the documented fields)
- ``moderation`` (a refusal in the service's own style), ``latency`` (a slow answer)
- job-level, chosen at submission: ``job_failed``, ``job_moderated``, ``stall`` (never
  finishes), ``oversize``, ``oversize_chunked`` (no Content-Length), ``not_video``
  (text/html), ``bad_type`` (claims video/mp4, is HTML), ``corrupt`` (MP4 magic, garbage),
  ``truncated`` (the real clip cut in half), ``flipped`` (the real clip with bytes of its
  media data inverted), ``short`` (a whole, valid clip of 1 s whatever was asked)
- ``drop_after_accept`` (submit): the job is created (and will bill) but the connection
  closes before the answer; ``echo_key`` (submit): a 400 whose body echoes the caller's
  Authorization header, as some services do

A delivered clip is a real MP4 of the length the submission asked for (the service's own
``duration`` field; ComfyUI: the graph's frame count at its rate), unless ``video`` is
given. ``redirect_downloads_to`` makes the file URLs answer 302 to another server.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

JOB_FAULTS = {"job_failed", "job_moderated", "stall", "oversize", "oversize_chunked",
              "not_video", "bad_type", "corrupt", "truncated", "flipped", "short"}
CALL_FAULTS = {"http401", "http402", "http429", "http500", "http503", "malformed",
               "missing_field", "moderation", "latency"}
#: faults only ever scripted (``server.script``), never drawn at random
SCRIPTED_ONLY = {"drop_after_accept", "echo_key"}
ENDPOINT_FAULTS = {
    "submit": CALL_FAULTS | JOB_FAULTS,
    "status": {"http429", "http500", "http503", "malformed", "latency"},
    "result": {"http500", "malformed", "latency"},
    "download": {"http500", "latency"},
}

_VIDEO: dict[str, bytes] = {}
_VIDEO_LOCK = threading.Lock()


def tiny_mp4(seconds: float = 1.0, size: str = "160x90", *, rate: int = 24,
             frames: int | None = None) -> bytes:
    """A real H.264 MP4 (testsrc pattern) made with ffmpeg, cached per process: ``seconds``
    long at ``rate`` fps, or exactly ``frames`` frames."""
    key = f"{seconds}-{size}-{rate}-{frames}"
    with _VIDEO_LOCK:
        if key not in _VIDEO:
            import imageio_ffmpeg

            tmp = Path(tempfile.mkdtemp(prefix="fake-engine-"))
            out = tmp / "clip.mp4"
            length = ["-frames:v", str(frames)] if frames else ["-t", str(seconds)]
            subprocess.run(
                [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                 f"testsrc=size={size}:rate={rate}", *length, "-c:v", "libx264",
                 "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                 str(out)], check=True)
            _VIDEO[key] = out.read_bytes()
            shutil.rmtree(tmp, ignore_errors=True)
        return _VIDEO[key]


def truncated(video: bytes) -> bytes:
    """The first half of a clip (its header intact, half its frames' data missing)."""
    return video[: len(video) // 2]


def flipped(video: bytes, every: int = 97) -> bytes:
    """The clip with one byte in ``every`` of its media data (after ``mdat``) inverted."""
    data = bytearray(video)
    start = data.find(b"mdat") + 64
    for i in range(start, len(data), every):
        data[i] ^= 0xFF
    return bytes(data)


def clip_length(service: str, body: Any) -> tuple[float, int | None, int]:
    """(seconds, exact frame count or None, fps) the submission asks for."""
    if not isinstance(body, dict):
        return 5.0, None, 24
    if service == "comfyui":
        nodes = body.values()
        length = next((n["inputs"].get("length") for n in nodes
                       if isinstance(n, dict) and n.get("class_type") ==
                       "EmptyHunyuanLatentVideo"), None)
        fps = next((n["inputs"].get("fps") for n in nodes
                    if isinstance(n, dict) and n.get("class_type") == "CreateVideo"), 16)
        fps = int(fps or 16)
        return (float(length) / fps if length else 5.0), (int(length) if length else None), fps
    value = (body.get("input") or {}).get("duration") if service == "replicate" else \
        body.get("duration")
    try:
        seconds = float(str(value).rstrip("s")) if value is not None else 5.0
    except ValueError:
        seconds = 5.0
    return seconds, None, 24


@dataclass
class Job:
    id: str
    body: dict[str, Any]
    key: str
    created: float
    fault: str | None = None
    billed: bool = False
    cancelled: bool = False
    model: str = ""
    seconds: float = 5.0
    frames: int | None = None
    fps: int = 24

    def phase(self, latency: float) -> str:
        if self.cancelled:
            return "cancelled"
        if self.fault == "stall":
            return "running"
        age = time.monotonic() - self.created
        if age < latency / 3:
            return "queued"
        if age < latency:
            return "running"
        if self.fault in ("job_failed", "job_moderated"):
            return self.fault
        return "done"


@dataclass
class FakeEngineServer:
    service: str
    job_latency_s: float = 0.05
    fault_rate: float = 0.0
    fault_kinds: set[str] | None = None
    seed: int = 0
    key: str = "test-key"
    retry_after: str = "0"
    slow_s: float = 0.3
    video: bytes | None = None
    oversize_bytes: int = 400_000
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    submissions: list[str] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    faults_injected: Counter = field(default_factory=Counter)
    download_auth: list[str | None] = field(default_factory=list)
    redirect_downloads_to: str | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._scripted: dict[str, deque[str]] = defaultdict(deque)
        self._draws: Counter = Counter()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------
    def start(self) -> FakeEngineServer:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> FakeEngineServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def script(self, endpoint: str, *faults: str) -> None:
        """Queue faults for the next calls to ``endpoint`` (submit/status/result/download)."""
        for f in faults:
            self._scripted[endpoint].append(f)

    # -- accounting --------------------------------------------------------------------
    @property
    def billed(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.billed]

    def billed_per_request(self) -> Counter:
        return Counter(j.key for j in self.billed)

    def submissions_per_request(self) -> Counter:
        return Counter(self.submissions)

    # -- internals ---------------------------------------------------------------------
    def fault_for(self, endpoint: str, subject: str = "") -> str | None:
        """The fault for this call: scripted first, else drawn at random.

        The random draw is seeded by (seed, endpoint, subject, n-th call for that subject),
        so which request gets which fault does not depend on thread scheduling.
        """
        with self._lock:
            q = self._scripted.get(endpoint)
            if q:
                f = q.popleft()
            elif self.fault_rate:
                n = self._draws[(endpoint, subject)]
                self._draws[(endpoint, subject)] += 1
                rng = random.Random(f"{self.seed}:{endpoint}:{subject}:{n}")
                kinds = sorted(ENDPOINT_FAULTS[endpoint] & (self.fault_kinds or
                                                             ENDPOINT_FAULTS[endpoint]))
                f = rng.choice(kinds) if kinds and rng.random() < self.fault_rate else None
            else:
                f = None
            if f:
                self.faults_injected[f] += 1
            return f

    def new_job(self, body: dict[str, Any], fault: str | None, model: str = "") -> Job:
        key = json.dumps({"model": model, "body": body}, sort_keys=True)
        seconds, frames, fps = clip_length(self.service, body)
        job = Job(id=uuid.uuid4().hex[:16], body=body, key=key, created=time.monotonic(),
                  fault=fault if fault in JOB_FAULTS else None, model=model,
                  seconds=seconds, frames=frames, fps=fps)
        with self._lock:
            self.jobs[job.id] = job
            self.submissions.append(key)
        return job

    def bill(self, job: Job) -> None:
        with self._lock:
            job.billed = True

    def clip(self, job: Job) -> bytes:
        """The file a job delivers: ``video`` if given, else a clip of the asked length."""
        if self.video is not None:
            return self.video
        if job.frames:
            return tiny_mp4(frames=job.frames, rate=job.fps)
        return tiny_mp4(job.seconds, rate=job.fps)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeEngineServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ----------------------------------------------------------------------
    def _send(self, status: int, body: Any = None, *, ctype: str = "application/json",
              headers: dict[str, str] | None = None, raw: bytes | None = None,
              chunked_close: bool = False) -> None:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        with self.fake._lock:  # logged before answering, so the client never races the log
            self.fake.calls.append((self.command, self.path, status))
        if getattr(self, "_drop", False):  # the job exists; the answer never arrives
            self._drop = False
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if chunked_close:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype and raw:
            return json.loads(raw)
        return raw

    def _auth_ok(self) -> bool:
        f = self.fake
        if f.service == "comfyui":
            return True
        scheme = "Key" if f.service == "fal" else "Bearer"
        if self.headers.get("Authorization") != f"{scheme} {f.key}":
            self._send(401, {"error": "Unauthorized: invalid API key"})
            return False
        if f.service == "runway" and not self.headers.get("X-Runway-Version"):
            self._send(400, {"error": "X-Runway-Version header is required"})
            return False
        return True

    def _call_fault(self, fault: str | None) -> bool:
        """Answer with the fault if it is a call-level one; True when answered."""
        f = self.fake
        if fault == "latency":
            time.sleep(f.slow_s)
            return False
        if fault == "drop_after_accept":
            self._drop = True
            return False
        if fault == "echo_key":
            self._send(400, {"error": "invalid request for key "
                             f"{self.headers.get('Authorization', '')!s}: bad parameters"})
            return True
        if fault == "http401":
            self._send(401, {"error": "Unauthorized"})
        elif fault == "http402":
            self._send(402, {"error": "Insufficient credits: your balance is 0"})
        elif fault == "http429":
            self._send(429, {"detail": "Too many requests"},
                       headers={"Retry-After": f.retry_after})
        elif fault == "http500":
            self._send(500, {"error": "internal server error"})
        elif fault == "http503":
            self._send(503, {"error": "service unavailable"})
        elif fault == "malformed":
            self._send(200, raw=b'{"id": "abc", "status": ')
        elif fault == "missing_field":
            self._send(200, {"unexpected": True})
        elif fault == "moderation":
            msg = {"runway": (400, {"error": "Prompt flagged by content moderation"}),
                   "luma": (400, {"detail": "Prompt not allowed because of moderation"}),
                   "fal": (422, {"detail": [{"msg": "content policy violation",
                                             "type": "content_policy_violation"}]}),
                   "replicate": (422, {"detail": "input flagged as sensitive (E005)"}),
                   "comfyui": (400, {"error": {"message": "prompt is not allowed by the "
                                               "safety filter"}, "node_errors": {}})}
            status, body = msg[f.service]
            self._send(status, body)
        else:
            return False
        return True

    def _subject(self, body: Any) -> str:
        return self.path + json.dumps(body, sort_keys=True, default=str)

    def _job_subject(self, jid: str) -> str:
        job = self.fake.jobs.get(jid)
        return job.key if job else jid

    def _job(self, jid: str) -> Job | None:
        job = self.fake.jobs.get(jid)
        if job is None:
            self._send(404, {"error": f"task {jid} not found"})
        return job

    def _file_url(self, job: Job) -> str:
        return f"{self.fake.url}/files/{job.id}.mp4"

    # -- verbs -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        path = urlparse(self.path).path
        if method == "GET" and (path.startswith("/files/") or path == "/view"):
            return self._download(path)
        body = self._body() if method in ("POST", "PUT") else None
        if not self._auth_ok():
            return
        handler = getattr(self, f"_{self.fake.service}")
        try:
            handler(method, path, body)
        except BrokenPipeError:
            pass

    # -- download ----------------------------------------------------------------------
    def _download(self, path: str) -> None:
        f = self.fake
        f.download_auth.append(self.headers.get("Authorization"))
        if path == "/view":
            q = parse_qs(urlparse(self.path).query)
            jid = q.get("filename", [""])[0].split("_")[0]
        else:
            jid = path.rsplit("/", 1)[-1].split(".")[0]
        job = self._job(jid)
        if job is None:
            return
        if f.redirect_downloads_to:
            with f._lock:
                f.calls.append((self.command, self.path, 302))
            self.send_response(302)
            self.send_header("Location", f.redirect_downloads_to.rstrip("/") + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        fault = f.fault_for("download", job.key)
        if self._call_fault(fault):
            return
        kind = job.fault
        video = f.clip(job)
        if kind == "truncated":
            return self._send(200, raw=truncated(video), ctype="video/mp4")
        if kind == "flipped":
            return self._send(200, raw=flipped(video), ctype="video/mp4")
        if kind == "short":
            return self._send(200, raw=tiny_mp4(1.0, rate=job.fps), ctype="video/mp4")
        if kind == "oversize":
            return self._send(200, raw=video + b"\0" * f.oversize_bytes, ctype="video/mp4")
        if kind == "oversize_chunked":
            return self._send(200, raw=video + b"\0" * f.oversize_bytes, ctype="video/mp4",
                              chunked_close=True)
        if kind == "not_video":
            return self._send(200, raw=b"<html><body>Access denied</body></html>",
                              ctype="text/html")
        if kind == "bad_type":
            return self._send(200, raw=b"<html><body>not a video</body></html>" * 10,
                              ctype="video/mp4")
        if kind == "corrupt":
            return self._send(200, raw=b"\0\0\0\x18ftypisom" + bytes(range(256)) * 40,
                              ctype="video/mp4")
        self._send(200, raw=video, ctype="video/mp4")

    # -- runway ------------------------------------------------------------------------
    def _runway(self, method: str, path: str, body: Any) -> None:
        f = self.fake
        if method == "POST" and path in ("/v1/image_to_video", "/v1/text_to_video"):
            fault = f.fault_for("submit", self._subject(body))
            if self._call_fault(fault):
                return
            if not isinstance(body, dict) or "promptText" not in body or "ratio" not in body:
                return self._send(400, {"error": "Validation of body failed"})
            if body.get("duration") not in (5, 10):
                return self._send(400, {"error": "duration must be 5 or 10"})
            job = f.new_job(body, fault, path)
            return self._send(200, {"id": job.id})
        m = re.fullmatch(r"/v1/tasks/([^/]+)", path)
        if m and method == "DELETE":
            job = self._job(m.group(1))
            if job:
                job.cancelled = True
                self._send(204, raw=b"")
            return
        if m and method == "GET":
            fault = f.fault_for("status", self._job_subject(m.group(1)))
            if self._call_fault(fault):
                return
            job = self._job(m.group(1))
            if job is None:
                return
            ph = job.phase(f.job_latency_s)
            out: dict[str, Any] = {"id": job.id, "createdAt": "2025-01-01T00:00:00Z"}
            if ph == "queued":
                out.update(status="PENDING")
            elif ph == "running":
                out.update(status="RUNNING", progress=0.5)
            elif ph == "done":
                f.bill(job)
                out.update(status="SUCCEEDED", output=[self._file_url(job)])
            elif ph == "cancelled":
                out.update(status="CANCELLED")
            elif ph == "job_moderated":
                out.update(status="FAILED", failure="Your prompt was flagged",
                           failureCode="SAFETY.INPUT.TEXT")
            else:
                out.update(status="FAILED", failure="An internal error occurred",
                           failureCode="INTERNAL.BAD_OUTPUT.CODE01")
            return self._send(200, out)
        self._send(404, {"error": "not found"})

    # -- luma --------------------------------------------------------------------------
    def _luma(self, method: str, path: str, body: Any) -> None:
        f = self.fake
        if method == "POST" and path == "/generations":
            fault = f.fault_for("submit", self._subject(body))
            if self._call_fault(fault):
                return
            if not isinstance(body, dict) or "prompt" not in body:
                return self._send(400, {"detail": "prompt is required"})
            job = f.new_job(body, fault)
            return self._send(201, {"id": job.id, "state": "queued", "assets": None,
                                    "request": body})
        if method == "GET" and path == "/generations":  # newest first, with their request
            gens = sorted(f.jobs.values(), key=lambda j: j.created, reverse=True)[:20]
            return self._send(200, {"generations": [
                {"id": j.id, "state": "queued", "request": j.body} for j in gens],
                "count": len(gens), "has_more": False, "limit": 20, "offset": 0})
        m = re.fullmatch(r"/generations/([^/]+)", path)
        if m and method == "DELETE":
            job = self._job(m.group(1))
            if job:
                job.cancelled = True
                self._send(204, raw=b"")
            return
        if m and method == "GET":
            fault = f.fault_for("status", self._job_subject(m.group(1)))
            if self._call_fault(fault):
                return
            job = self._job(m.group(1))
            if job is None:
                return
            ph = job.phase(f.job_latency_s)
            out: dict[str, Any] = {"id": job.id, "assets": None, "failure_reason": None}
            if ph == "queued":
                out["state"] = "queued"
            elif ph == "running":
                out["state"] = "dreaming"
            elif ph == "done":
                f.bill(job)
                out.update(state="completed", assets={"video": self._file_url(job)})
            elif ph == "job_moderated":
                out.update(state="failed", failure_reason="400: prompt failed moderation")
            else:
                out.update(state="failed", failure_reason="generation failed")
            return self._send(200, out)
        self._send(404, {"detail": "not found"})

    # -- fal ---------------------------------------------------------------------------
    def _fal(self, method: str, path: str, body: Any) -> None:
        f = self.fake
        m = re.fullmatch(r"/([^/]+/[^/]+)/requests/([^/]+)(/status|/cancel)?", path)
        if m is None and method == "POST":
            fault = f.fault_for("submit", self._subject(body))
            if self._call_fault(fault):
                return
            if not isinstance(body, dict) or "prompt" not in body:
                return self._send(422, {"detail": [{"msg": "field required",
                                                    "loc": ["body", "prompt"]}]})
            job = f.new_job(body, fault, path.strip("/"))
            app = "/".join(path.strip("/").split("/")[:2])
            base = f"{f.url}/{app}/requests/{job.id}"
            return self._send(200, {"request_id": job.id, "response_url": base,
                                    "status_url": base + "/status",
                                    "cancel_url": base + "/cancel"})
        if m is None:
            return self._send(404, {"detail": "Not Found"})
        jid, tail = m.group(2), m.group(3)
        if tail == "/cancel" and method == "PUT":
            job = self._job(jid)
            if job:
                job.cancelled = True
                self._send(202, {"status": "CANCELLATION_REQUESTED"})
            return
        if method != "GET":
            return self._send(405, {"detail": "Method Not Allowed"})
        fault = f.fault_for("status" if tail else "result", self._job_subject(jid))
        if self._call_fault(fault):
            return
        job = self._job(jid)
        if job is None:
            return
        ph = job.phase(f.job_latency_s)
        if tail == "/status":
            if ph == "queued":
                return self._send(202, {"status": "IN_QUEUE", "queue_position": 0})
            if ph in ("running", "cancelled"):
                return self._send(202, {"status": "IN_PROGRESS", "logs": None})
            if ph == "done":
                f.bill(job)
            out = {"status": "COMPLETED", "logs": None}
            if ph == "job_failed":
                out["error"] = "model runner failed"
            return self._send(200, out)
        if ph == "job_moderated":
            return self._send(422, {"detail": [{"msg": "The content could not be processed "
                                                "because it was flagged by a content checker",
                                                "type": "content_policy_violation"}]})
        if ph != "done":
            return self._send(400, {"detail": "Request is still in progress"})
        return self._send(200, {"video": {"url": self._file_url(job),
                                          "content_type": "video/mp4"}})

    # -- replicate ---------------------------------------------------------------------
    def _prediction(self, job: Job, ph: str) -> dict[str, Any]:
        out: dict[str, Any] = {"id": job.id, "model": job.model, "input": job.body.get("input"),
                               "output": None, "error": None, "logs": "",
                               "urls": {"get": f"{self.fake.url}/v1/predictions/{job.id}",
                                        "cancel": f"{self.fake.url}/v1/predictions/{job.id}"
                                                  "/cancel"}}
        if ph == "queued":
            out["status"] = "starting"
        elif ph == "running":
            out["status"] = "processing"
        elif ph == "done":
            self.fake.bill(job)
            out.update(status="succeeded", output=self._file_url(job),
                       metrics={"predict_time": 12.5})
        elif ph == "cancelled":
            out["status"] = "canceled"
        elif ph == "job_moderated":
            out.update(status="failed", error="The input or output was flagged as sensitive. "
                                              "Please try again with different inputs. (E005)")
        else:
            out.update(status="failed", error="CUDA error: an illegal memory access")
        return out

    def _replicate(self, method: str, path: str, body: Any) -> None:
        f = self.fake
        if method == "POST" and path == "/v1/files":
            return self._send(201, {"id": "file1", "urls": {"get": f"{f.url}/v1/files/file1"}})
        m = re.fullmatch(r"/v1/models/([^/]+/[^/]+)/versions/([^/]+)/trainings", path)
        if m and method == "POST":
            fault = f.fault_for("submit", self._subject(body))
            if self._call_fault(fault):
                return
            job = f.new_job(body, fault, "training:" + m.group(1))
            return self._send(201, {"id": job.id, "status": "starting",
                                    "model": m.group(1), "version": m.group(2)})
        m = re.fullmatch(r"/v1/trainings/([^/]+)", path)
        if m and method == "GET":
            job = self._job(m.group(1))
            if job is None:
                return
            ph = job.phase(f.job_latency_s)
            st = {"queued": "starting", "running": "processing", "done": "succeeded"}.get(
                ph, "failed")
            out: dict[str, Any] = {"id": job.id, "status": st, "error": None, "output": None}
            if st == "succeeded":
                f.bill(job)
                dest = (job.body or {}).get("destination", "me/lora")
                out["output"] = {"version": f"{dest}:{job.id}",
                                 "weights": f"{f.url}/weights/{job.id}.safetensors"}
                out["metrics"] = {"predict_time": 600.0}
            elif st == "failed":
                out["error"] = "training failed"
            return self._send(200, out)
        m = re.fullmatch(r"/v1/models/([^/]+/[^/]+)/predictions", path)
        if m and method == "POST":
            fault = f.fault_for("submit", self._subject(body))
            if self._call_fault(fault):
                return
            if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
                return self._send(422, {"detail": "input is required", "status": 422})
            job = f.new_job(body, fault, m.group(1))
            return self._send(201, self._prediction(job, "queued"))
        if method == "GET" and path == "/v1/predictions":  # the account's latest
            preds = sorted((j for j in f.jobs.values() if not j.model.startswith("training")),
                           key=lambda j: j.created, reverse=True)
            return self._send(200, {"previous": None, "next": None, "results": [
                {"id": j.id, "model": j.model, "input": j.body.get("input"),
                 "status": "starting"} for j in preds]})
        m = re.fullmatch(r"/v1/predictions/([^/]+)(/cancel)?", path)
        if m and m.group(2) and method == "POST":
            job = self._job(m.group(1))
            if job:
                job.cancelled = True
                self._send(200, self._prediction(job, "cancelled"))
            return
        if m and method == "GET":
            fault = f.fault_for("status", self._job_subject(m.group(1)))
            if self._call_fault(fault):
                return
            job = self._job(m.group(1))
            if job:
                self._send(200, self._prediction(job, job.phase(f.job_latency_s)))
            return
        self._send(404, {"detail": "Not found."})

    # -- comfyui -----------------------------------------------------------------------
    def _comfyui(self, method: str, path: str, body: Any) -> None:
        f = self.fake
        if method == "POST" and path == "/prompt":
            fault = f.fault_for("submit", self._subject(body))
            if self._call_fault(fault):
                return
            graph = body.get("prompt") if isinstance(body, dict) else None
            errors = {}
            if not isinstance(graph, dict) or not graph:
                return self._send(400, {"error": {"type": "invalid_prompt",
                                                  "message": "no prompt"}, "node_errors": {}})
            for nid, node in graph.items():
                if "class_type" not in node:
                    errors[nid] = {"errors": [{"message": "missing class_type"}]}
                if node.get("class_type") == "LoraLoader" and \
                        not node["inputs"].get("lora_name"):
                    errors[nid] = {"errors": [{"message": "Value not in list: lora_name"}]}
            if not any(n.get("class_type") in ("SaveVideo", "SaveWEBM") for n in graph.values()):
                return self._send(400, {"error": {"type": "prompt_no_outputs",
                                                  "message": "Prompt has no outputs"},
                                        "node_errors": {}})
            if errors:
                return self._send(400, {"error": {"type": "prompt_outputs_failed_validation",
                                                  "message": "Prompt outputs failed validation"},
                                        "node_errors": errors})
            job = f.new_job(body.get("prompt"), fault)
            return self._send(200, {"prompt_id": job.id, "number": len(f.jobs),
                                    "node_errors": {}})
        m = re.fullmatch(r"/history/([^/]+)", path)
        if m and method == "GET":
            fault = f.fault_for("status", self._job_subject(m.group(1)))
            if self._call_fault(fault):
                return
            job = f.jobs.get(m.group(1))
            if job is None:
                return self._send(200, {})
            ph = job.phase(f.job_latency_s)
            if ph in ("queued", "running"):
                return self._send(200, {})
            if ph == "done":
                f.bill(job)
                entry = {"outputs": {"12": {"images": [{"filename": f"{job.id}_00001_.mp4",
                                                        "subfolder": "studio",
                                                        "type": "output"}],
                                            "animated": [True]}},
                         "status": {"status_str": "success", "completed": True,
                                    "messages": []}}
            else:
                entry = {"outputs": {}, "status": {
                    "status_str": "error", "completed": False,
                    "messages": [["execution_error", {"node_id": "9", "exception_message":
                                                      "CUDA out of memory"}]]}}
            return self._send(200, {job.id: {"prompt": [0, job.id, job.body], **entry}})
        if method == "POST" and path == "/queue":
            for jid in (body or {}).get("delete", []):
                if jid in f.jobs:
                    f.jobs[jid].cancelled = True
            return self._send(200, {})
        if method == "POST" and path == "/interrupt":
            return self._send(200, {})
        self._send(404, {"error": "not found"})


def start_all(**kw: Any) -> dict[str, FakeEngineServer]:
    """One started server per service (the caller stops them)."""
    return {s: FakeEngineServer(s, **kw).start()
            for s in ("runway", "luma", "fal", "replicate", "comfyui")}


ENGINE_SERVICE = {"runway": "runway", "luma": "luma", "kling": "fal", "pika": "fal",
                  "replicate": "replicate", "comfyui": "comfyui"}
KEY_ENV = {"runway": "RUNWAYML_API_SECRET", "luma": "LUMAAI_API_KEY", "fal": "FAL_KEY",
           "replicate": "REPLICATE_API_TOKEN", "comfyui": "COMFYUI_API_KEY"}


def register_test_engine(name: str = "test-free") -> str:
    """A tiny free engine (test-only): stores the fake MP4 in the vault, counts its calls."""
    from studio_kit.engines.base import Engine, EngineCapabilities, EngineResult
    from studio_kit.registry import ENGINES

    if name in ENGINES:
        return name

    class TinyFreeEngine(Engine):
        calls = 0
        capabilities = EngineCapabilities(max_duration_s=120, fps=[16.0, 24.0, 25.0, 30.0])

        def __init__(self, **_: Any) -> None:
            self.name = name
            self.model = "tiny"

        async def generate(self, request, vault, progress=None):
            TinyFreeEngine.calls += 1
            digest = vault.put_bytes(tiny_mp4())
            return EngineResult(asset=digest, engine=name, model="tiny", duration_s=1.0,
                                width=160, height=90, fps=24.0, cost=0.0)

    ENGINES.register(name)(TinyFreeEngine)
    return name
