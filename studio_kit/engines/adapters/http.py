"""The shared base of the cloud adapters: keys, submit, poll with backoff, capped download,
and one mapping from HTTP statuses to typed errors.

An adapter subclass only says how its service spells a submission, a status and a
cancellation (``submit``, ``status``, ``cancel``); everything else lives here:

- the key comes from the environment variable ``key_env`` (never logged or stored);
- the base URL is ``base_url=`` or ``$STUDIO_ENGINE_<NAME>_URL`` or the vendor default, so
  tests point adapters at fake servers on 127.0.0.1;
- idempotent calls (status, result, download) are retried on 5xx, dropped connections and
  malformed JSON with exponential backoff; 429 and 408 are retried after ``Retry-After``
  for every call (the request was not accepted); a submission is never retried after a
  5xx, because the engine may have accepted it and would bill twice;
- ``run_job`` reports the remote id as soon as it is known (``on_submitted``) and can
  resume polling an existing id instead of submitting again;
- downloads stream into the vault under a size cap, with a content-type check, a magic
  number check and a full decode (every frame, frame count and duration against what was
  asked) before the asset is accepted; the engine's key goes only to a URL of the same
  origin as the base URL (scheme, host and port compared exactly), redirects included;
- a job that was accepted but whose result cannot be collected this time raises
  ``ResultUnavailable`` (transient, with the remote id and the billed cost), so the caller
  keeps it pending and collects it on the next run instead of paying another engine;
- base URLs are http(s) only, and plain http only to loopback unless
  ``STUDIO_ALLOW_INSECURE_HTTP=1`` (``check_base_url``).

Retries go through tenacity rather than a hand-written loop, and tenacity rather than
stamina: the policy depends on the call kind (a submission is retried only when it never
reached the server) and on the error (``Retry-After`` replaces the backoff, and a wait
beyond ``max_retry_after`` gives up), which tenacity's ``retry``/``wait``/``stop`` callables
express directly; stamina adds jitter and its own backoff, and jitter would make the
deterministic timings the fake-server tests rely on random. The attempt counts are the
previous loop's: ``max_retries + 1`` attempts, backoff ``retry_backoff * 2**(n-1)``.
Connection retries stay in this policy, not in ``httpx.AsyncHTTPTransport(retries=...)``:
the transport would retry each connect again inside every attempt (multiplying the
attempts) with its own fixed backoff; keeping them here counts them in the one budget.

Errors are of two kinds (``studio_kit.errors``): ``EngineUserError`` (4xx other than
408/429, a refused prompt, a bad key: not retried, the message says what to fix) and
``EngineOperationalError`` (5xx, 408/429, timeouts, connection errors: retried as above,
then the router fails over).
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
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from ...errors import EngineError, EngineUserError
from ...settings import settings
from ...store.vault import Vault
from ..base import Engine, EngineRequest, EngineResult, ProgressFn
from .errors import (
    AdapterError,
    AuthError,
    ClientError,
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
    RequestTimeout,
    ResultUnavailable,
    ServerError,
    SubmissionUnconfirmed,
)

MODERATION_WORDS = ("moderation", "content policy", "safety", "nsfw", "flagged", "sensitive",
                    "not allowed", "prohibited")
CREDIT_WORDS = ("credit", "insufficient", "balance", "quota exceeded", "payment", "billing")
VIDEO_TYPES = ("video/", "application/octet-stream", "binary/octet-stream")


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


def _throttled(exc: BaseException) -> bool:
    return isinstance(exc, RateLimited | RequestTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """The one retry schedule of the HTTP clients (engine adapters, the LoRA trainer and the
    ElevenLabs TTS): ``max_retries + 1`` attempts; before attempt n+1 wait the server's
    ``Retry-After`` when a throttled answer (429/408) gave one, else ``backoff * 2**(n-1)``;
    a throttled answer whose wait exceeds ``max_retry_after`` gives up at once (fail over
    rather than sleep). ``throttled`` says which errors are 429/408-like; their
    ``retry_after`` attribute carries the parsed header. What is retryable is the caller's
    (``retryable``): it depends on the call (a submission is not idempotent)."""

    max_retries: int
    backoff: float
    max_retry_after: float
    throttled: Callable[[BaseException], bool] = _throttled

    def delay(self, attempt_number: int, exc: BaseException | None) -> float:
        """The wait after failed attempt ``attempt_number`` (1-based) ended with ``exc``."""
        after = getattr(exc, "retry_after", None) if exc is not None and \
            self.throttled(exc) else None
        return after if after is not None else self.backoff * 2 ** (attempt_number - 1)

    def wait(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return self.delay(retry_state.attempt_number, exc)

    def stop(self, retry_state: RetryCallState) -> bool:
        if retry_state.attempt_number > self.max_retries:
            return True
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        # a Retry-After longer than we are willing to wait: fail over instead
        return exc is not None and self.throttled(exc) and \
            (retry_state.upcoming_sleep or 0.0) > self.max_retry_after

    def _kw(self, retryable: Callable[[BaseException], bool]) -> dict[str, Any]:
        return {"retry": retry_if_exception(retryable), "wait": self.wait, "stop": self.stop,
                "reraise": True}

    def retrying(self, retryable: Callable[[BaseException], bool]) -> Retrying:
        """tenacity's blocking retrying (``for attempt in policy.retrying(...)``)."""
        return Retrying(**self._kw(retryable))

    def async_retrying(self, retryable: Callable[[BaseException], bool]) -> AsyncRetrying:
        return AsyncRetrying(**self._kw(retryable))


INSECURE_HTTP_ENV = "STUDIO_ALLOW_INSECURE_HTTP"
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 5


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an absolute URL, the port made explicit (80/443)."""
    u = url if isinstance(url, httpx.URL) else httpx.URL(url)
    scheme = u.scheme.lower()
    port = u.port if u.port is not None else {"http": 80, "https": 443}.get(scheme)
    return scheme, (u.host or "").lower().rstrip("."), port


def same_origin(a: str | httpx.URL, b: str | httpx.URL) -> bool:
    """True only when both URLs have the same scheme, host and port (RFC 6454 origin)."""
    try:
        oa, ob = origin(a), origin(b)
    except (httpx.InvalidURL, ValueError, TypeError):
        return False
    return bool(oa[0] and oa[1]) and oa == ob


def is_loopback(host: str) -> bool:
    import ipaddress

    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(url: str, *, allow_insecure: bool | None = None) -> str | None:
    """Why ``url`` cannot be an engine's base URL (None if it can): http(s) with a host;
    plain http only to loopback unless insecure http is allowed (the key would travel in
    clear)."""
    if allow_insecure is None:
        allow_insecure = settings().allow_insecure_http  # $STUDIO_ALLOW_INSECURE_HTTP
    try:
        u = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return f"{url!r} is not a URL ({exc})"
    scheme = u.scheme.lower()
    if scheme not in ("http", "https"):
        return (f"{url!r}: scheme {scheme or 'none'!r} is not allowed (engines are spoken "
                "to over https, or http on this machine)")
    if not u.host:
        return f"{url!r} has no host"
    if u.userinfo:
        return f"{url!r} carries credentials; keys come from the environment only"
    if scheme == "http" and not is_loopback(u.host) and not allow_insecure:
        return (f"{url!r}: plain http to {u.host} would send the API key unencrypted "
                f"(http is allowed for 127.0.0.1/localhost; set {INSECURE_HTTP_ENV}=1 to "
                "allow it for a trusted network)")
    return None


def check_base_url(url: str, *, engine: str = "", allow_insecure: bool | None = None,
                   field: str | None = "base_url") -> str:
    """``url`` without a trailing slash, or StudioError naming what is wrong."""
    problem = base_url_problem(url, allow_insecure=allow_insecure)
    if problem:
        raise EngineUserError(f"{engine + ': ' if engine else ''}base URL {problem}", field=field,
                          hint="use https://... (or http://127.0.0.1:PORT for a local "
                               "server) in routing.yaml engines.<name>.base_url or "
                               "$STUDIO_ENGINE_<NAME>_URL")
    return url.rstrip("/")


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
                 max_retry_after: float = 120.0, http_timeout: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        env, conf = self.env_prefix, settings()
        # STUDIO_ENGINE_<NAME>_URL: one variable per engine name (docs/configuration.md)
        self.base_url = (base_url or os.environ.get(f"{env}_URL")
                         or conf.engine_url or self.default_base_url)
        self.base_url = check_base_url(self.base_url, engine=self.name)
        self._api_key = api_key
        self.poll_interval = poll_interval if poll_interval is not None else \
            conf.engine_poll_s
        self.max_poll_interval = max_poll_interval if max_poll_interval is not None else \
            max(self.poll_interval, conf.engine_max_poll_s)
        self.timeout_s = timeout_s if timeout_s is not None else conf.engine_timeout_s
        self.max_download_bytes = max_download_bytes if max_download_bytes is not None else \
            conf.engine_max_download
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff if retry_backoff is not None else \
            min(1.0, self.poll_interval)
        self.max_retry_after = max_retry_after
        self.http_timeout = http_timeout
        #: replaces the network for every request (``httpx.MockTransport`` in unit tests)
        self.transport = transport

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
                                 verify=self.base_url.startswith("https://"),
                                 transport=self.transport)

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
        if code == 408:
            return RequestTimeout(f"{what}: request timeout",
                                  retry_after=parse_retry_after(resp.headers.get("retry-after")),
                                  **kw)
        if code == 404:
            return JobNotFound(f"{what}: not found: {short}",
                               hint="the engine does not know this job or path (expired, "
                                    "made with another account's key, or a wrong base URL)",
                               **kw)
        if code in (400, 413, 422) and any(w in low for w in MODERATION_WORDS):
            return ModerationRefused(f"{what}: refused by moderation: {short}",
                                     hint="rephrase the prompt or route the shot elsewhere",
                                     **kw)
        if code == 413:
            return InvalidRequest(f"{what}: input too large: {short}",
                                  hint="use smaller reference images", **kw)
        if code in (400, 409, 422):
            return InvalidRequest(f"{what}: invalid input: {short}",
                                  hint=f"the engine refused the request as sent: check the "
                                       f"shot's duration, references and options against "
                                       f"{self.name}'s limits, or route the shot elsewhere",
                                  **kw)
        if code >= 500:
            return ServerError(f"{what}: server error: {short}", **kw)
        if 400 <= code < 500:
            return ClientError(f"{what}: unexpected answer: {short}",
                               hint=f"check the base URL (${self.env_prefix}_URL) and that "
                                    "the service still speaks this API version", **kw)
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
    def policy(self) -> RetryPolicy:
        """This client's schedule (``RetryPolicy``: attempts, backoff, Retry-After cap)."""
        return RetryPolicy(self.max_retries, self.retry_backoff, self.max_retry_after)

    def retry_policy(self, *, idempotent: bool) -> AsyncRetrying:
        """tenacity's retrying for one API call (see the module docstring)."""

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, RateLimited | RequestTimeout):
                return True  # the request was not accepted: safe for every call
            if isinstance(exc, ServerError | MalformedResponse):
                # the request never reached the server: safe to retry even a submit
                connect_failed = isinstance(exc.__cause__,
                                            httpx.ConnectError | httpx.ConnectTimeout)
                return idempotent or connect_failed
            return False

        return self.policy().async_retrying(retryable)

    async def call(self, client: httpx.AsyncClient, method: str, url: str, *,
                   idempotent: bool, remote_id: str | None = None, expect_json: bool = True,
                   **kw: Any) -> Any:
        """One API call with retries; returns parsed JSON (or the response)."""
        return await self.retry_policy(idempotent=idempotent)(
            self._call_once, client, method, url, idempotent=idempotent,
            remote_id=remote_id, expect_json=expect_json, **kw)

    async def _call_once(self, client: httpx.AsyncClient, method: str, url: str, *,
                         idempotent: bool, remote_id: str | None, expect_json: bool,
                         **kw: Any) -> Any:
        try:
            resp = await client.request(method, url, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # the request never reached the server: safe to retry even a submit
            raise ServerError(f"{self.name}: cannot connect to {self.base_url}: {exc}",
                              engine=self.name, remote_id=remote_id,
                              hint="is the engine's base URL right and reachable?") from exc
        except httpx.TransportError as exc:
            cls = ServerError if idempotent else SubmissionUnconfirmed
            # (a submission may have been accepted: callers never resend blindly)
            raise cls(f"{self.name}: connection failed during {method} {url}: "
                      f"{exc!r}", engine=self.name, remote_id=remote_id) from exc
        if resp.status_code >= 400:
            raise self.map_error(resp, resp.text, remote_id)
        if not expect_json:
            return resp
        try:
            return resp.json()
        except ValueError:
            raise MalformedResponse(
                f"{self.name}: {method} {resp.request.url.path} answered with "
                f"non-JSON: {resp.text[:120]!r}", engine=self.name,
                remote_id=remote_id) from None

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
    def keyed_url(self, url: str | httpx.URL) -> bool:
        """May the engine's key go with a request to ``url``? Only to a relative URL (the
        base URL's own origin) or an absolute one of exactly the base URL's origin."""
        text = str(url)
        if text.startswith("/") and not text.startswith("//"):
            return True
        return same_origin(text, self.base_url)

    async def download(self, client: httpx.AsyncClient, url: str, vault: Vault,
                       remote_id: str | None = None, *, expected_s: float | None = None
                       ) -> tuple[str, dict[str, Any]]:
        """Stream ``url`` into the vault; (digest, decode info) or DownloadRejected.

        The engine's key is sent only to the base URL's origin; other origins (a CDN) and
        redirects to them are fetched with a client that has no key. The file is decoded
        in full (``decode_check``) before it is stored: with ``expected_s``, its length
        must match within two frames."""
        cap = self.max_download_bytes
        kw = {"engine": self.name, "remote_id": remote_id}
        anon: httpx.AsyncClient | None = None

        def client_for(target: str | httpx.URL) -> httpx.AsyncClient:
            nonlocal anon
            if self.keyed_url(target):
                return client
            if anon is None:
                anon = httpx.AsyncClient(timeout=self.http_timeout, follow_redirects=False,
                                         headers={"User-Agent": "studio-kit"},
                                         transport=self.transport)
            return anon

        async def fetch() -> tuple[str, dict[str, Any]]:
            target: str | httpx.URL = url
            for _hop in range(_MAX_REDIRECTS + 1):
                dl = client_for(target)
                async with dl.stream("GET", target) as resp:
                    if resp.status_code in _REDIRECTS and resp.headers.get("location"):
                        target = resp.url.join(resp.headers["location"])
                        if target.scheme not in ("http", "https"):
                            raise DownloadRejected(f"{self.name}: output redirects to a "
                                                   f"{target.scheme}: URL", **kw)
                        continue
                    return await self._receive(resp, vault, cap, kw, expected_s)
            raise DownloadRejected(f"{self.name}: output URL redirects more than "
                                   f"{_MAX_REDIRECTS} times", **kw)

        # a GET: retried on 5xx, 408 and dropped connections, max_retries + 1 attempts
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda e: isinstance(
                e, ServerError | RequestTimeout | httpx.TransportError)),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=lambda rs: self.retry_backoff * 2 ** (rs.attempt_number - 1), reraise=True)
        try:
            return await retrying(fetch)
        except httpx.TransportError as exc:
            raise ServerError(f"{self.name}: download failed: {exc!r}", **kw) from exc
        finally:
            if anon is not None:
                await anon.aclose()

    async def _receive(self, resp: httpx.Response, vault: Vault, cap: int,
                       kw: dict[str, Any], expected_s: float | None
                       ) -> tuple[str, dict[str, Any]]:
        remote_id = kw.get("remote_id")
        if resp.status_code >= 400:
            await resp.aread()
            raise self.map_error(resp, resp.text, remote_id)
        if resp.status_code != 200:
            raise DownloadRejected(f"{self.name}: output answered HTTP {resp.status_code}, "
                                   "not the file", **kw)
        ctype = resp.headers.get("content-type", "").split(";")[0].strip()
        if not ctype.lower().startswith(VIDEO_TYPES):
            raise DownloadRejected(f"{self.name}: output is {ctype or 'untyped'}, not a video",
                                   **kw)
        length = resp.headers.get("content-length")
        if length and length.isdigit() and int(length) > cap:
            raise DownloadRejected(f"{self.name}: output is {int(length)} bytes, over the "
                                   f"{cap}-byte cap", hint="raise STUDIO_ENGINE_MAX_DOWNLOAD",
                                   **kw)
        with vault.writer(".mp4") as (tmp, out):
            size = 0
            head = b""
            with open(tmp, "wb") as fh:
                async for chunk in resp.aiter_bytes(1 << 16):
                    size += len(chunk)
                    if size > cap:
                        raise DownloadRejected(f"{self.name}: output exceeds the {cap}-byte "
                                               "cap", hint="raise STUDIO_ENGINE_MAX_DOWNLOAD",
                                               **kw)
                    if len(head) < 16:
                        head += chunk[:16]
                    fh.write(chunk)
            if length and length.isdigit() and size != int(length) and \
                    not resp.headers.get("content-encoding"):
                raise DownloadRejected(f"{self.name}: output ended after {size} of "
                                       f"{int(length)} bytes (truncated)", **kw)
            if not looks_like_video(head):
                raise DownloadRejected(f"{self.name}: output ({ctype}) is not a video file "
                                       f"(starts {head[:8]!r})", **kw)
            info = await asyncio.to_thread(decode_check, tmp, self.name, remote_id,
                                           expected_s)
        return out[0], info


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


#: frames a delivery may be short of (or beyond) what was asked
FRAME_TOLERANCE = 2
#: extra length allowed beyond what was asked (engines round up: 5 s -> 121 frames, 5.1 s)
OVERRUN_FRACTION = 0.05


def decode_check(path, engine: str, remote_id: str | None = None,
                 expected_s: float | None = None) -> dict[str, Any]:
    """Decode every frame of a delivered clip; DownloadRejected unless it decodes cleanly,
    has the frames its header declares and (with ``expected_s``) the length asked for,
    within ``FRAME_TOLERANCE`` frames (and ``OVERRUN_FRACTION`` longer at most).

    The decoder runs with error detection that stops at the first damaged packet
    (``err_detect=explode``) and frames flagged corrupt are counted, so a byte-flipped or
    truncated file is refused here instead of reaching grading."""
    import av

    info = probe_video(path, engine, remote_id)
    kw = {"engine": engine, "remote_id": remote_id}
    frames = corrupt = 0
    first_pts = last_pts = None
    try:
        with av.open(str(path)) as box:
            stream = box.streams.video[0]
            declared = int(stream.frames or 0)
            stream.codec_context.options = {"err_detect": "explode"}
            stream.thread_type = "AUTO"
            time_base = float(stream.time_base) if stream.time_base else None
            for frame in box.decode(stream):
                frames += 1
                corrupt += bool(getattr(frame, "is_corrupt", False))
                if frame.pts is not None:
                    first_pts = frame.pts if first_pts is None else min(first_pts, frame.pts)
                    last_pts = frame.pts if last_pts is None else max(last_pts, frame.pts)
    except av.error.FFmpegError as exc:
        raise DownloadRejected(f"{engine}: output is damaged: decoding stopped after {frames} "
                               f"frames: {exc}", **kw) from None
    fps = info["fps"] or 24.0
    if frames == 0:
        raise DownloadRejected(f"{engine}: output has no decodable frames", **kw)
    if corrupt:
        raise DownloadRejected(f"{engine}: output is damaged: {corrupt} of {frames} frames "
                               "decode corrupt", **kw)
    if declared and frames < declared - FRAME_TOLERANCE:
        raise DownloadRejected(f"{engine}: output is truncated: {frames} of the {declared} "
                               "frames its header declares decode", **kw)
    if last_pts is not None and first_pts is not None and time_base:
        decoded_s = (last_pts - first_pts) * time_base + 1.0 / fps
    else:
        decoded_s = frames / fps
    if expected_s:
        want = expected_s * fps
        if frames < want - FRAME_TOLERANCE:
            raise DownloadRejected(
                f"{engine}: output is {frames} frames ({decoded_s:.2f}s); {expected_s:g}s "
                f"at {fps:g} fps ({want:.0f} frames) was asked", **kw)
        if frames > want * (1 + OVERRUN_FRACTION) + FRAME_TOLERANCE:
            raise DownloadRejected(
                f"{engine}: output is {frames} frames ({decoded_s:.2f}s), longer than the "
                f"{expected_s:g}s asked", **kw)
    info.update(frames=frames, duration_s=round(decoded_s, 3))
    return info


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
            raise EngineUserError(f"shot {sid}: duration {d:g}s must be positive",
                              field="duration_s", hint="set duration_s above 0")
        if d > self.capabilities.max_duration_s:
            raise EngineUserError(
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

    async def find_submission(self, client: httpx.AsyncClient, request: EngineRequest,
                              vault: Vault) -> str | None:
        """The remote id of a job the engine accepted for ``request`` although its answer
        was lost, for services that list recent jobs with their input (None: cannot)."""
        return None

    async def _recover_submission(self, client: httpx.AsyncClient, request: EngineRequest,
                                  vault: Vault) -> str | None:
        try:
            return await self.find_submission(client, request, vault)
        except (AdapterError, httpx.HTTPError):
            return None

    def expected_duration(self, request: EngineRequest) -> float:
        """The length of clip the engine is asked to deliver (checked on download)."""
        return self.billed_duration(request)

    def reference_slots(self, continues: bool) -> int:
        """How many reference images a request may carry (``conditioning``); adapters
        whose service takes a different number with a start frame override this."""
        caps = self.capabilities
        return caps.max_references if caps.reference_images else 0

    async def run_job(self, request: EngineRequest, vault: Vault,
                      progress: ProgressFn | None = None, *, remote_id: str | None = None,
                      on_submitted: Callable[[str], None] | None = None) -> EngineResult:
        """Submit (or resume ``remote_id``), wait, download; the result carries the cost.

        After the job is accepted, a result that cannot be collected this time (polls,
        the result call or the download keep failing transiently) raises
        ``ResultUnavailable`` with the remote id (and the billed cost once the job is
        known to have finished): call again with ``remote_id=`` to collect it. A delivery
        that does not decode in full raises ``DownloadRejected`` with the billed cost."""
        self.check(request)
        transient = (ServerError, MalformedResponse, RateLimited, RequestTimeout,
                     httpx.TransportError)
        async with self.client() as client:
            if remote_id is None:
                try:
                    remote_id = await self.submit(client, request, vault)
                except SubmissionUnconfirmed as err:
                    err.at_risk = self.estimate_cost(request)
                    found = await self._recover_submission(client, request, vault)
                    if found is None:
                        raise
                    remote_id = found  # the engine has it: collect it, never resend
                if on_submitted:
                    on_submitted(remote_id)
            try:
                state = await self.wait(client, remote_id, progress)
            except transient as err:
                raise ResultUnavailable(
                    f"{self.name}: job {remote_id} was accepted but its status cannot be "
                    f"read now ({err}); it is collected on the next run", engine=self.name,
                    remote_id=remote_id, completed=False,
                    hint="run the render again later: the job is polled, not resubmitted"
                ) from err
            cost = self.estimate_cost(request)  # billed on completion
            try:
                url = await self.output_url(client, remote_id, state)
                digest, info = await self.download(client, url, vault, remote_id,
                                                   expected_s=self.expected_duration(request))
            except transient as err:
                raise ResultUnavailable(
                    f"{self.name}: job {remote_id} finished (billed) but its result cannot "
                    f"be fetched now ({err}); it is collected on the next run",
                    engine=self.name, remote_id=remote_id, completed=True, cost=cost,
                    hint="run the render again later: the finished job is downloaded, "
                         "not paid again") from err
            except AdapterError as err:
                err.cost = cost
                if err.remote_id is None:
                    err.remote_id = remote_id
                raise
        return EngineResult(
            asset=digest, engine=self.name, model=self.model,
            duration_s=info["duration_s"], width=info["width"], height=info["height"],
            fps=info["fps"], cost=cost, currency=self.capabilities.currency,
            metadata={"remote_id": remote_id, "billed_s": self.billed_duration(request),
                      "codec": info["codec"], "frames": info.get("frames")})

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

    data = vault.get(digest).read_bytes()
    if data.startswith(b"\x89PNG"):
        mime = "image/png"
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    else:
        mime = "image/jpeg"
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def data_uris(vault: Vault, digests: list[str]) -> list[str]:
    return [data_uri(vault, d) for d in digests]


def nearest(options: list[str], w: int, h: int) -> str:
    """The option 'a:b' whose aspect ratio is closest to w/h."""
    def dist(o: str) -> float:
        a, b = (float(x) for x in o.split(":"))
        return abs(math.log((a / b) / (w / h)))

    return min(options, key=dist)
