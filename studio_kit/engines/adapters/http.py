"""The shared base of the cloud adapters: keys, submit, poll with backoff, capped download,
and one mapping from HTTP statuses to typed errors.

An adapter subclass only says how its service spells a submission, a status and a
cancellation (``submit``, ``status``, ``cancel``); everything else lives here:

- the key comes from the environment variable ``key_env`` (never logged or stored);
- the base URL is ``base_url=`` or ``$STUDIO_ENGINE_<NAME>_URL`` or the vendor default, so
  tests point adapters at fake servers on 127.0.0.1;
- idempotent calls (status, result, download) are retried on 5xx, dropped connections and
  malformed JSON with exponential backoff; 429 is retried after ``Retry-After`` for every
  call (the request was not accepted); a submission is never retried after a 5xx, because
  the engine may have accepted it and would bill twice;
- ``run_job`` reports the remote id as soon as it is known (``on_submitted``) and can
  resume polling an existing id instead of submitting again;
- downloads stream into the vault under a size cap, with a content-type check, a magic
  number check and a PyAV probe, and never send the engine's key to the download host.

Hand-written retry/backoff rather than tenacity: the policy depends on the call kind
(submit vs poll) and on the error (Retry-After), which is clearer as one short loop.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal

import httpx

from ...errors import EngineError
from ...vault import Vault
from ..base import Engine, EngineRequest, EngineResult, ProgressFn
from .errors import (
    AdapterError,
    AuthError,
    DownloadRejected,
    EngineTimeout,
    InsufficientCredits,
    InvalidRequest,
    JobFailed,
    JobNotFound,
    MalformedResponse,
    MissingKey,
    ModerationRefused,
    RateLimited,
    ServerError,
)

MODERATION_WORDS = ("moderation", "content policy", "safety", "nsfw", "flagged", "sensitive",
                    "not allowed", "prohibited")
CREDIT_WORDS = ("credit", "insufficient", "balance", "quota exceeded", "payment", "billing")
VIDEO_TYPES = ("video/", "application/octet-stream", "binary/octet-stream")


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def looks_like_video(head: bytes) -> bool:
    """ISO BMFF (MP4/MOV: a box type at byte 4) or Matroska/WebM (EBML magic)."""
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return True
    return head[:4] == b"\x1aE\xdf\xa3"


@dataclass
class JobState:
    """One poll's answer, in the adapter-neutral vocabulary."""

    status: Literal["pending", "running", "succeeded", "failed"]
    progress: float | None = None
    output_url: str | None = None
    error: str | None = None
    moderated: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


class HttpJobClient:
    """Service-independent HTTP behaviour shared by engine adapters and the LoRA trainer."""

    name: str = ""
    key_env: ClassVar[str | None] = None
    key_optional: ClassVar[bool] = False
    default_base_url: ClassVar[str] = ""

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None,
                 poll_interval: float | None = None, max_poll_interval: float | None = None,
                 timeout_s: float | None = None, max_download_bytes: int | None = None,
                 max_retries: int = 4, retry_backoff: float | None = None,
                 max_retry_after: float = 120.0, http_timeout: float = 60.0) -> None:
        env = self.env_prefix
        self.base_url = (base_url or os.environ.get(f"{env}_URL")
                         or os.environ.get("STUDIO_ENGINE_URL") or self.default_base_url)
        self.base_url = self.base_url.rstrip("/")
        self._api_key = api_key
        self.poll_interval = poll_interval if poll_interval is not None else _env_float(
            "STUDIO_ENGINE_POLL_S", 2.0)
        self.max_poll_interval = max_poll_interval if max_poll_interval is not None else \
            max(self.poll_interval, _env_float("STUDIO_ENGINE_MAX_POLL_S", 15.0))
        self.timeout_s = timeout_s if timeout_s is not None else _env_float(
            "STUDIO_ENGINE_TIMEOUT_S", 1800.0)
        self.max_download_bytes = max_download_bytes if max_download_bytes is not None else \
            int(_env_float("STUDIO_ENGINE_MAX_DOWNLOAD", 512 * 1024 * 1024))
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff if retry_backoff is not None else \
            min(1.0, self.poll_interval)
        self.max_retry_after = max_retry_after
        self.http_timeout = http_timeout

    # -- configuration ---------------------------------------------------------------
    @property
    def env_prefix(self) -> str:
        return "STUDIO_ENGINE_" + self.name.upper().replace("-", "_")

    def key_problem(self) -> str | None:
        """None if the key is available, else the environment variable to set."""
        if self.key_env is None or self.key_optional or self._api_key:
            return None
        return None if os.environ.get(self.key_env) else self.key_env

    def api_key(self) -> str | None:
        if self._api_key:
            return self._api_key
        if self.key_env is None:
            return None
        key = os.environ.get(self.key_env)
        if not key and not self.key_optional:
            raise MissingKey(f"{self.name}: no API key: ${self.key_env} is not set",
                             engine=self.name, field=self.key_env,
                             hint=f"export {self.key_env}=... (keys are read from the "
                                  "environment only), or route these shots to another engine")
        return key

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def client(self) -> httpx.AsyncClient:
        headers = {"User-Agent": "studio-kit", **self.auth_headers(self.api_key())}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                 timeout=self.http_timeout, follow_redirects=False,
                                 verify=self.base_url.startswith("https://"))

    # -- errors ----------------------------------------------------------------------
    def map_error(self, resp: httpx.Response, text: str, remote_id: str | None = None
                  ) -> AdapterError:
        code = resp.status_code
        low = text.lower()
        short = text.strip().replace("\n", " ")[:300]
        kw = {"engine": self.name, "remote_id": remote_id, "status": code}
        what = f"{self.name}: HTTP {code} for {resp.request.method} {resp.request.url.path}"
        if code in (401, 403) and not any(w in low for w in CREDIT_WORDS):
            return AuthError(f"{what}: the key was refused: {short}",
                             hint=f"check ${self.key_env} (is it current and for this account?)",
                             **kw)
        if code == 402 or (code in (400, 403, 429) and any(w in low for w in CREDIT_WORDS)):
            return InsufficientCredits(f"{what}: out of credits: {short}",
                                       hint="top up the account or route to another engine",
                                       **kw)
        if code == 429:
            return RateLimited(f"{what}: rate limited",
                               retry_after=parse_retry_after(resp.headers.get("retry-after")),
                               hint="lower this engine's concurrency in routing.yaml", **kw)
        if code == 404:
            return JobNotFound(f"{what}: not found: {short}", **kw)
        if code in (400, 413, 422) and any(w in low for w in MODERATION_WORDS):
            return ModerationRefused(f"{what}: refused by moderation: {short}",
                                     hint="rephrase the prompt or route the shot elsewhere",
                                     **kw)
        if code == 413:
            return InvalidRequest(f"{what}: input too large: {short}",
                                  hint="use smaller reference images", **kw)
        if code in (400, 409, 422):
            return InvalidRequest(f"{what}: invalid input: {short}", **kw)
        if code >= 500:
            return ServerError(f"{what}: server error: {short}", **kw)
        return AdapterError(f"{what}: unexpected answer: {short}", **kw)

    def job_failure(self, state: JobState, remote_id: str) -> AdapterError:
        msg = state.error or "no reason given"
        if state.moderated or any(w in msg.lower() for w in MODERATION_WORDS):
            return ModerationRefused(f"{self.name}: job {remote_id} refused: {msg}",
                                     engine=self.name, remote_id=remote_id,
                                     hint="rephrase the prompt or route the shot elsewhere")
        if any(w in msg.lower() for w in CREDIT_WORDS):
            return InsufficientCredits(f"{self.name}: job {remote_id}: {msg}",
                                       engine=self.name, remote_id=remote_id)
        return JobFailed(f"{self.name}: job {remote_id} failed: {msg}", engine=self.name,
                         remote_id=remote_id)

    # -- calls -----------------------------------------------------------------------
    async def call(self, client: httpx.AsyncClient, method: str, url: str, *,
                   idempotent: bool, remote_id: str | None = None, expect_json: bool = True,
                   **kw: Any) -> Any:
        """One API call with retries; returns parsed JSON (or the response)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                try:
                    resp = await client.request(method, url, **kw)
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    # the request never reached the server: safe to retry even a submit
                    raise ServerError(f"{self.name}: cannot connect to {self.base_url}: {exc}",
                                      engine=self.name, remote_id=remote_id,
                                      hint="is the engine's base URL right and reachable?"
                                      ) from exc
                except httpx.TransportError as exc:
                    err = ServerError(f"{self.name}: connection failed during {method} {url}: "
                                      f"{exc!r}", engine=self.name, remote_id=remote_id)
                    # (a submission may have been accepted: callers never resend blindly)
                    raise err from exc
                if resp.status_code >= 400:
                    raise self.map_error(resp, resp.text, remote_id)
                if not expect_json:
                    return resp
                try:
                    data = resp.json()
                except ValueError:
                    raise MalformedResponse(
                        f"{self.name}: {method} {resp.request.url.path} answered with "
                        f"non-JSON: {resp.text[:120]!r}", engine=self.name,
                        remote_id=remote_id) from None
                return data
            except RateLimited as err:
                if attempt > self.max_retries:
                    raise
                wait = err.retry_after if err.retry_after is not None else \
                    self.retry_backoff * 2 ** (attempt - 1)
                if wait > self.max_retry_after:
                    raise
                await asyncio.sleep(wait)
            except (ServerError, MalformedResponse) as err:
                connect_failed = isinstance(err.__cause__, httpx.ConnectError | httpx.ConnectTimeout)
                if (not idempotent and not connect_failed) or attempt > self.max_retries:
                    raise
                await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))

    def need(self, data: Any, *path: str | int, remote_id: str | None = None) -> Any:
        """data[path...] or MalformedResponse naming the missing field."""
        cur = data
        for p in path:
            try:
                cur = cur[p]
            except (KeyError, IndexError, TypeError):
                raise MalformedResponse(
                    f"{self.name}: response lacks {'.'.join(map(str, path))}: "
                    f"{str(data)[:160]}", engine=self.name, remote_id=remote_id) from None
        if cur is None:
            raise MalformedResponse(f"{self.name}: {'.'.join(map(str, path))} is null",
                                    engine=self.name, remote_id=remote_id)
        return cur

    # -- polling ---------------------------------------------------------------------
    async def status(self, client: httpx.AsyncClient, remote_id: str) -> JobState:
        raise NotImplementedError

    async def cancel(self, client: httpx.AsyncClient, remote_id: str) -> None:
        """Best effort; adapters override with their service's cancel call."""

    async def wait(self, client: httpx.AsyncClient, remote_id: str,
                   progress: ProgressFn | None = None) -> JobState:
        """Poll with exponential backoff until the job succeeds, fails or times out."""
        deadline = time.monotonic() + self.timeout_s
        delay = self.poll_interval
        while True:
            state = await self.status(client, remote_id)
            if progress and state.progress is not None:
                progress(max(0.0, min(1.0, state.progress)))
            if state.status == "succeeded":
                if progress:
                    progress(1.0)
                return state
            if state.status == "failed":
                raise self.job_failure(state, remote_id)
            if time.monotonic() + delay > deadline:
                try:
                    await self.cancel(client, remote_id)
                except (EngineError, httpx.HTTPError):
                    pass
                raise EngineTimeout(
                    f"{self.name}: job {remote_id} not finished after {self.timeout_s:g}s "
                    "(cancelled)", engine=self.name, remote_id=remote_id,
                    hint="raise STUDIO_ENGINE_TIMEOUT_S or route the shot elsewhere")
            await asyncio.sleep(delay)
            delay = min(delay * 1.6, self.max_poll_interval)

    # -- download --------------------------------------------------------------------
    async def download(self, client: httpx.AsyncClient, url: str, vault: Vault,
                       remote_id: str | None = None) -> tuple[str, dict[str, Any]]:
        """Stream ``url`` into the vault; (digest, probe) or DownloadRejected."""
        same_host = url.startswith("/") or url.startswith(self.base_url)
        cap = self.max_download_bytes
        kw = {"engine": self.name, "remote_id": remote_id}
        # The key goes only to the engine's own host, never to a CDN.
        dl = client if same_host else httpx.AsyncClient(
            timeout=self.http_timeout, follow_redirects=True,
            verify=url.startswith("https://"))
        try:
            for attempt in range(1, self.max_retries + 2):
                try:
                    async with dl.stream("GET", url) as resp:
                        if resp.status_code >= 400:
                            await resp.aread()
                            raise self.map_error(resp, resp.text, remote_id)
                        ctype = resp.headers.get("content-type", "").split(";")[0].strip()
                        if not ctype.lower().startswith(VIDEO_TYPES):
                            raise DownloadRejected(
                                f"{self.name}: output is {ctype or 'untyped'}, not a video",
                                **kw)
                        length = resp.headers.get("content-length")
                        if length and length.isdigit() and int(length) > cap:
                            raise DownloadRejected(
                                f"{self.name}: output is {int(length)} bytes, over the "
                                f"{cap}-byte cap", hint="raise STUDIO_ENGINE_MAX_DOWNLOAD",
                                **kw)
                        with vault.writer(".mp4") as (tmp, out):
                            size = 0
                            head = b""
                            with open(tmp, "wb") as fh:
                                async for chunk in resp.aiter_bytes(1 << 16):
                                    size += len(chunk)
                                    if size > cap:
                                        raise DownloadRejected(
                                            f"{self.name}: output exceeds the {cap}-byte cap",
                                            hint="raise STUDIO_ENGINE_MAX_DOWNLOAD", **kw)
                                    if len(head) < 16:
                                        head += chunk[:16]
                                    fh.write(chunk)
                            if not looks_like_video(head):
                                raise DownloadRejected(
                                    f"{self.name}: output ({ctype}) is not a video file "
                                    f"(starts {head[:8]!r})", **kw)
                            info = probe_video(tmp, self.name, remote_id)
                        return out[0], info
                except (ServerError, httpx.TransportError) as exc:
                    if attempt > self.max_retries:
                        if isinstance(exc, AdapterError):
                            raise
                        raise ServerError(f"{self.name}: download failed: {exc!r}", **kw) \
                            from exc
                    await asyncio.sleep(self.retry_backoff * 2 ** (attempt - 1))
            raise AssertionError("unreachable")
        finally:
            if dl is not client:
                await dl.aclose()


def probe_video(path, engine: str, remote_id: str | None) -> dict[str, Any]:
    """Width, height, fps, duration with PyAV; DownloadRejected if it does not decode."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = next((s for s in container.streams if s.type == "video"), None)
            if stream is None:
                raise DownloadRejected(f"{engine}: output has no video stream",
                                       engine=engine, remote_id=remote_id)
            fps = float(stream.average_rate or stream.base_rate or 0) or 24.0
            if stream.duration is not None and stream.time_base is not None:
                dur = float(stream.duration * stream.time_base)
            elif container.duration:
                dur = container.duration / 1_000_000
            else:
                dur = (stream.frames or 0) / fps
            return {"width": stream.codec_context.width, "height": stream.codec_context.height,
                    "fps": round(fps, 3), "duration_s": round(dur, 3),
                    "codec": stream.codec_context.name}
    except av.error.FFmpegError as exc:
        raise DownloadRejected(f"{engine}: output does not decode as video: {exc}",
                               engine=engine, remote_id=remote_id) from None


class HttpEngine(HttpJobClient, Engine):
    """An engine spoken to over HTTP: submit -> poll -> download, resumable by remote id."""

    durations: ClassVar[tuple[float, ...]] = ()

    def __init__(self, *, model: str | None = None, price_per_second: float | None = None,
                 **kw: Any) -> None:
        super().__init__(**kw)
        if model:
            self.model = model
        self.capabilities = self.capabilities.model_copy()
        if price_per_second is not None:
            self.capabilities.price_per_second = price_per_second

    def check(self, request: EngineRequest) -> None:
        """Duration only: a cloud engine renders at its own size and rate (the aspect ratio
        is chosen nearest to the series format) and assembly conforms the clip."""
        d = request.duration
        sid = request.spec.shot.id
        if d <= 0:
            raise EngineError(f"shot {sid}: duration {d:g}s must be positive",
                              field="duration_s", hint="set duration_s above 0")
        if d > self.capabilities.max_duration_s:
            raise EngineError(
                f"shot {sid}: {d:g}s is longer than {self.name}'s maximum "
                f"{self.capabilities.max_duration_s:g}s", field="duration_s",
                hint="split the shot or route it to another engine")

    def billed_duration(self, request: EngineRequest) -> float:
        """The output length the engine will make (and bill): the next allowed duration."""
        d = request.duration
        for allowed in self.durations:
            if d <= allowed + 1e-9:
                return float(allowed)
        return float(self.durations[-1]) if self.durations else float(math.ceil(d))

    def estimate_cost(self, request: EngineRequest) -> float:
        return round(self.capabilities.price_per_second * self.billed_duration(request), 6)

    async def submit(self, client: httpx.AsyncClient, request: EngineRequest,
                     vault: Vault) -> str:
        raise NotImplementedError

    async def output_url(self, client: httpx.AsyncClient, remote_id: str,
                         state: JobState) -> str:
        if not state.output_url:
            raise MalformedResponse(f"{self.name}: job {remote_id} succeeded without an "
                                    "output URL", engine=self.name, remote_id=remote_id)
        return state.output_url

    async def run_job(self, request: EngineRequest, vault: Vault,
                      progress: ProgressFn | None = None, *, remote_id: str | None = None,
                      on_submitted: Callable[[str], None] | None = None) -> EngineResult:
        """Submit (or resume ``remote_id``), wait, download; the result carries the cost."""
        self.check(request)
        async with self.client() as client:
            if remote_id is None:
                remote_id = await self.submit(client, request, vault)
                if on_submitted:
                    on_submitted(remote_id)
            state = await self.wait(client, remote_id, progress)
            cost = self.estimate_cost(request)  # billed on completion
            url = await self.output_url(client, remote_id, state)
            try:
                digest, info = await self.download(client, url, vault, remote_id)
            except AdapterError as err:
                err.cost = cost
                raise
        return EngineResult(
            asset=digest, engine=self.name, model=self.model,
            duration_s=info["duration_s"], width=info["width"], height=info["height"],
            fps=info["fps"], cost=cost, currency=self.capabilities.currency,
            metadata={"remote_id": remote_id, "billed_s": self.billed_duration(request),
                      "codec": info["codec"]})

    async def generate(self, request: EngineRequest, vault: Vault,
                       progress: ProgressFn | None = None) -> EngineResult:
        return await self.run_job(request, vault, progress)


# -- helpers the adapters share ---------------------------------------------------------
def prompt_text(request: EngineRequest) -> str:
    """The compiled prompt, or a plain one from the shot when none was compiled."""
    if request.prompt:
        return request.prompt
    shot = request.spec.shot
    scene = request.spec.scene
    cam = shot.camera
    move = cam.movement.type.value
    if cam.movement.direction:
        move += f" {cam.movement.direction.value}"
    who = ", ".join(rc.character.name for rc in request.spec.characters)
    parts = [f"{cam.angle.value.replace('_', ' ')} shot, camera {move}",
             f"{scene.name}, {scene.time_of_day.value}"]
    if who:
        parts.append(who)
    if shot.action:
        parts.append(shot.action)
    return ". ".join(parts)


def data_uri(vault: Vault, digest: str) -> str:
    """A vault image as a data URI (the services accept these for reference images)."""
    import base64

    path = vault.get(digest)
    head = path.read_bytes()[:8]
    mime = "image/png" if head.startswith(b"\x89PNG") else "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()




def nearest(options: list[str], w: int, h: int) -> str:
    """The option 'a:b' whose aspect ratio is closest to w/h."""
    def dist(o: str) -> float:
        a, b = (float(x) for x in o.split(":"))
        return abs(math.log((a / b) / (w / h)))

    return min(options, key=dist)
