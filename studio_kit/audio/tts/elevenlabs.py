"""Cloud TTS adapter speaking the ElevenLabs HTTP protocol (text-to-speech with timestamps).

``POST {base}/v1/text-to-speech/{voice_id}/with-timestamps?output_format=pcm_22050`` with
header ``xi-api-key``; the JSON answer holds ``audio_base64`` (16-bit PCM) and an
``alignment`` (characters with start/end seconds), which becomes the viseme track.

The key comes only from the environment (``ELEVENLABS_API_KEY``); it is never put into
errors, logs or outputs. ``ELEVENLABS_BASE_URL`` points the adapter at another server
(a proxy, or the fake server the tests run on 127.0.0.1).
"""

from __future__ import annotations

import base64
import binascii
import os

import httpx
import numpy as np

from ...engines.adapters.http import RetryPolicy, parse_retry_after
from ...models import VoiceProfile
from ...registry import TTS
from ...visemes import Viseme
from .base import (
    Speech,
    TTSAuthError,
    TTSEngine,
    TTSError,
    TTSRateLimited,
    TTSServiceError,
    VoiceInfo,
    compact_track,
    viseme_for_letter,
)

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
KEY_ENV = "ELEVENLABS_API_KEY"
URL_ENV = "ELEVENLABS_BASE_URL"
SAMPLE_RATE = 22050

#: Languages of the multilingual v2 model (ISO 639-1, plus 'fil').
LANGUAGES = ("ar", "bg", "cs", "da", "de", "el", "en", "es", "fi", "fil", "fr", "hi", "hr",
             "hu", "id", "it", "ja", "ko", "ms", "nl", "pl", "pt", "ro", "ru", "sk", "sv",
             "ta", "tr", "uk", "zh")


class ElevenLabsTTS(TTSEngine):
    name = "elevenlabs"

    def __init__(self, *, base_url: str | None = None, model_id: str = "eleven_multilingual_v2",
                 max_retries: int = 3, timeout_s: float = 30.0,
                 max_retry_after_s: float = 60.0, backoff_s: float = 0.5,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = (base_url or os.environ.get(URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        self.model_id = model_id
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.max_retry_after_s = max_retry_after_s
        self.backoff_s = backoff_s
        #: replaces the network for every request (``httpx.MockTransport`` in unit tests)
        self.transport = transport
        self.attempts: list[tuple[int | str, float]] = []  # (status or error, waited s)

    # -- HTTP ---------------------------------------------------------------------------
    def _key(self) -> str:
        key = os.environ.get(KEY_ENV, "").strip()
        if not key:
            raise TTSAuthError(f"no ElevenLabs API key: {KEY_ENV} is not set",
                               hint=f"export {KEY_ENV}=... (keys come only from the "
                                    "environment), or use the embedded 'espeak' engine")
        return key

    def _policy(self) -> RetryPolicy:
        """The engine adapters' schedule (``RetryPolicy``): ``max_retries + 1`` attempts,
        backoff ``backoff_s * 2**(n-1)``, a 429's Retry-After honoured up to
        ``max_retry_after_s``."""
        return RetryPolicy(self.max_retries, self.backoff_s, self.max_retry_after_s,
                           throttled=lambda exc: isinstance(exc, TTSRateLimited))

    def _request(self, method: str, path: str, **kw) -> httpx.Response:
        """One call with retries (tenacity, through the shared policy): 5xx, timeouts and
        429 are retried; 401/403, other 4xx and unreachable hosts are not."""
        headers = {"xi-api-key": self._key(), "accept": "application/json"}
        self.attempts = []
        policy = self._policy()
        with httpx.Client(base_url=self.base_url, timeout=self.timeout_s,
                          transport=self.transport) as client:
            for attempt in policy.retrying(lambda exc: getattr(exc, "transient", False)):
                with attempt:
                    return self._attempt(client, policy, attempt.retry_state.attempt_number,
                                         method, path, headers=headers, **kw)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, client: httpx.Client, policy: RetryPolicy, n: int, method: str,
                 path: str, **kw) -> httpx.Response:
        """Attempt ``n`` (1-based); records ``(status or 'timeout', wait before the next)``."""
        try:
            resp = client.request(method, path, **kw)
        except httpx.TimeoutException:
            self.attempts.append(("timeout", policy.delay(n, None)))
            raise _transient(TTSServiceError(
                f"ElevenLabs did not answer within {self.timeout_s:g}s ({n} attempts)",
                hint="try again later")) from None
        except httpx.TransportError as exc:
            raise TTSServiceError(f"cannot reach ElevenLabs at {self.base_url}: "
                                  f"{type(exc).__name__}",
                                  hint=f"check the network or {URL_ENV}") from None
        code = resp.status_code
        if code in (401, 403):
            self.attempts.append((code, 0.0))
            raise TTSAuthError(f"ElevenLabs rejected the API key (HTTP {code})",
                               hint=f"check {KEY_ENV}")
        if code == 429:
            err = _transient(TTSRateLimited(
                f"ElevenLabs rate limit (HTTP 429) after {n} attempts",
                hint="wait and retry, or lower concurrency"))
            err.retry_after = parse_retry_after(  # type: ignore[attr-defined]
                resp.headers.get("retry-after"))
            self.attempts.append((code, policy.delay(n, err)))
            raise err
        if code >= 500:
            self.attempts.append((code, policy.delay(n, None)))
            raise _transient(TTSServiceError(
                f"ElevenLabs server error HTTP {code} after {n} attempts",
                hint="try again later"))
        self.attempts.append((code, 0.0))
        if code >= 400:
            raise TTSError(f"ElevenLabs refused the request (HTTP {code}): {_detail(resp)}",
                           hint="check the voice id, the text and the language")
        return resp

    # -- interface --------------------------------------------------------------------
    def voices(self) -> list[VoiceInfo]:
        data = _json(self._request("GET", "/v1/voices"))
        try:
            return [VoiceInfo(self.name, v["voice_id"], v.get("name", v["voice_id"]), LANGUAGES,
                              (v.get("labels") or {}).get("gender", ""))
                    for v in data["voices"]]
        except (KeyError, TypeError):
            raise TTSServiceError("ElevenLabs voice list is not in the expected shape") from None

    def languages(self) -> list[str]:
        return list(LANGUAGES)

    def synthesize(self, text: str, profile: VoiceProfile, *,
                   language: str | None = None) -> Speech:
        lang = (language or profile.language).split("-")[0].lower()
        if lang not in LANGUAGES:
            raise TTSError(f"ElevenLabs multilingual v2 does not speak {lang!r}",
                           field="voice.language", hint=f"languages: {', '.join(LANGUAGES)}")
        if not profile.voice:
            raise TTSError("an ElevenLabs voice needs a voice id", field="voice.voice",
                           hint="set voice: <voice_id> in the character's voice profile")
        body = {"text": text, "model_id": self.model_id, "language_code": lang,
                "voice_settings": {"stability": 0.5, "similarity_boost": 0.75,
                                   "speed": float(np.clip(profile.rate / 170.0, 0.7, 1.2))}}
        resp = self._request("POST", f"/v1/text-to-speech/{profile.voice}/with-timestamps",
                             params={"output_format": f"pcm_{SAMPLE_RATE}"}, json=body)
        data = _json(resp)
        try:
            pcm = base64.b64decode(data["audio_base64"], validate=True)
            al = data.get("alignment") or data["normalized_alignment"]
            chars, starts = al["characters"], al["character_start_times_seconds"]
            ends = al["character_end_times_seconds"]
            if not (len(chars) == len(starts) == len(ends)):
                raise ValueError("alignment lists differ in length")
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise TTSServiceError(f"ElevenLabs answer is not in the expected shape: "
                                  f"{type(exc).__name__}") from None
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32)
        samples *= (profile.volume / 100.0) / 32768.0
        phonemes = [(float(s), float(e), str(c)) for c, s, e in zip(chars, starts, ends,
                                                                    strict=True)]
        track = [(s, viseme_for_letter(c)) for s, _, c in phonemes]
        track.append((len(samples) / SAMPLE_RATE, Viseme.rest))
        return Speech(samples=samples, sample_rate=SAMPLE_RATE, phonemes=phonemes,
                      visemes=compact_track(track), language=lang, voice=profile.voice,
                      engine=self.name, meta={"model_id": self.model_id})


def _transient(err: TTSError) -> TTSError:
    """Mark ``err`` as worth another attempt (the retry policy's ``retryable``)."""
    err.transient = True
    return err


def _json(resp: httpx.Response) -> dict:
    try:
        data = resp.json()
    except ValueError:
        raise TTSServiceError(f"ElevenLabs answered HTTP {resp.status_code} with malformed "
                              "JSON", hint="the service or a proxy returned something else; "
                              "try again later") from None
    if not isinstance(data, dict):
        raise TTSServiceError("ElevenLabs answer is not a JSON object")
    return data


def _detail(resp: httpx.Response) -> str:
    try:
        d = resp.json().get("detail")
        if isinstance(d, dict):
            d = d.get("message") or d.get("status")
        return str(d)[:200] if d else resp.reason_phrase
    except (ValueError, AttributeError):
        return resp.reason_phrase


TTS.register("elevenlabs")(ElevenLabsTTS)
