"""The ElevenLabs TTS client's retries through ``httpx.MockTransport``.

The client retries through the engine adapters' ``RetryPolicy`` (tenacity); the loopback
fake server (tests/fakes/elevenlabs_server.py, tests/test_audio_tts.py) tests it over real
sockets, here every answer is scripted per request so the policy is checked exactly: a 5xx
then success is retried with the doubling backoff, a 4xx is not retried, a 429's
``Retry-After`` sets the wait (and one longer than ``max_retry_after_s`` gives up at once),
timeouts are retried, an unreachable host is not.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import httpx
import pytest
from fakes.elevenlabs_server import speech_for

from studio_kit.audio.tts.base import TTSAuthError, TTSError, TTSRateLimited, TTSServiceError
from studio_kit.audio.tts.elevenlabs import ElevenLabsTTS
from studio_kit.engines.adapters.http import RetryPolicy
from studio_kit.models import VoiceProfile

KEY = "xi-mock-3c1d"
BASE = "https://elevenlabs.mock.test"  # never resolved: the transport answers everything


class MockEleven:
    """ElevenLabs' text-to-speech and voices endpoints as a MockTransport handler.

    ``script`` is consumed one entry per request before the normal answer: an int (that
    status), ``(status, headers)`` or an ``httpx`` exception class. ``log`` holds the
    monotonic time of every request."""

    def __init__(self, *script: Any) -> None:
        self.script = deque(script)
        self.log: list[float] = []
        self.keys: list[str | None] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, req: httpx.Request) -> httpx.Response:
        self.log.append(time.monotonic())
        self.keys.append(req.headers.get("xi-api-key"))
        if self.script:
            fault = self.script.popleft()
            if isinstance(fault, type) and issubclass(fault, Exception):
                raise fault(f"scripted {fault.__name__}", request=req)
            code, headers = fault if isinstance(fault, tuple) else (fault, {})
            return httpx.Response(code, json={"detail": {"message": f"scripted {code}"}},
                                  headers=headers)
        if req.url.path == "/v1/voices":
            return httpx.Response(200, json={"voices": [{"voice_id": "v-rachel",
                                                         "name": "Rachel"}]})
        assert req.url.path == "/v1/text-to-speech/v-rachel/with-timestamps"
        return httpx.Response(200, json=speech_for("Oui"))

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.log, self.log[1:], strict=False)]


@pytest.fixture(autouse=True)
def _key(monkeypatch) -> None:
    monkeypatch.setenv("ELEVENLABS_API_KEY", KEY)


def _tts(mock: MockEleven, **kw: Any) -> ElevenLabsTTS:
    return ElevenLabsTTS(base_url=BASE, transport=mock.transport, **kw)


def _profile() -> VoiceProfile:
    return VoiceProfile(engine="elevenlabs", voice="v-rachel", language="fr")


def test_5xx_then_success_is_retried_with_doubling_backoff() -> None:
    mock = MockEleven(500, 503)
    tts = _tts(mock, backoff_s=0.05)
    speech = tts.synthesize("Oui", _profile())
    assert speech.duration_s > 0 and len(mock.log) == 3
    assert tts.attempts == [(500, 0.05), (503, 0.1), (200, 0.0)]
    g1, g2 = mock.gaps()
    assert 0.05 <= g1 < 0.5 and 0.1 <= g2 < 0.6
    assert mock.keys == [KEY] * 3


def test_5xx_gives_up_after_max_retries_plus_one_attempts() -> None:
    mock = MockEleven(502, 502, 502, 502)
    with pytest.raises(TTSServiceError, match="HTTP 502 after 3 attempts"):
        _tts(mock, max_retries=2, backoff_s=0.01).synthesize("Oui", _profile())
    assert len(mock.log) == 3 and len(mock.script) == 1


@pytest.mark.parametrize("code", [400, 404, 422])
def test_4xx_is_not_retried(code: int) -> None:
    mock = MockEleven(code)
    tts = _tts(mock, backoff_s=0.01)
    with pytest.raises(TTSError, match=f"refused the request \\(HTTP {code}\\): scripted") as ei:
        tts.synthesize("Oui", _profile())
    assert type(ei.value) is TTSError and ei.value.hint
    assert len(mock.log) == 1 and tts.attempts == [(code, 0.0)]


@pytest.mark.parametrize("code", [401, 403])
def test_refused_key_is_not_retried_and_not_shown(code: int) -> None:
    mock = MockEleven(code)
    with pytest.raises(TTSAuthError) as ei:
        _tts(mock).voices()
    assert len(mock.log) == 1 and KEY not in str(ei.value)


def test_429_waits_retry_after_then_succeeds() -> None:
    mock = MockEleven((429, {"Retry-After": "0.3"}))
    tts = _tts(mock, backoff_s=0.01)
    assert [v.id for v in tts.voices()] == ["v-rachel"]
    assert tts.attempts == [(429, 0.3), (200, 0.0)]
    assert 0.3 <= mock.gaps()[0] < 1.0  # the server's wait, not the 0.01 s backoff


def test_429_without_retry_after_uses_the_backoff() -> None:
    mock = MockEleven(429, 429)
    tts = _tts(mock, backoff_s=0.02)
    tts.synthesize("Oui", _profile())
    assert tts.attempts == [(429, 0.02), (429, 0.04), (200, 0.0)]


def test_429_retry_after_beyond_the_cap_gives_up_at_once() -> None:
    mock = MockEleven((429, {"Retry-After": "120"}))
    started = time.monotonic()
    with pytest.raises(TTSRateLimited, match=r"HTTP 429\) after 1 attempts"):
        _tts(mock, max_retry_after_s=5.0).synthesize("Oui", _profile())
    assert len(mock.log) == 1 and time.monotonic() - started < 2.0


def test_429_gives_up_after_the_attempts() -> None:
    mock = MockEleven(*[(429, {"Retry-After": "0"})] * 5)
    tts = _tts(mock, max_retries=3)
    with pytest.raises(TTSRateLimited, match="after 4 attempts"):
        tts.synthesize("Oui", _profile())
    assert [a for a, _ in tts.attempts] == [429] * 4 and len(mock.script) == 1


def test_timeouts_are_retried_unreachable_is_not() -> None:
    mock = MockEleven(httpx.ReadTimeout, httpx.ConnectTimeout)
    tts = _tts(mock, backoff_s=0.01)
    tts.synthesize("Oui", _profile())
    assert tts.attempts == [("timeout", 0.01), ("timeout", 0.02), (200, 0.0)]
    mock = MockEleven(httpx.ReadTimeout, httpx.ReadTimeout)
    with pytest.raises(TTSServiceError, match=r"within 7s \(2 attempts\)"):
        _tts(mock, backoff_s=0.01, max_retries=1, timeout_s=7).synthesize("Oui", _profile())
    mock = MockEleven(httpx.ConnectError)
    with pytest.raises(TTSServiceError, match="cannot reach ElevenLabs at https://elevenlabs"):
        _tts(mock, backoff_s=0.01).synthesize("Oui", _profile())
    assert len(mock.log) == 1


def test_the_client_uses_the_adapters_policy() -> None:
    tts = ElevenLabsTTS(base_url=BASE, max_retries=5, backoff_s=0.25, max_retry_after_s=9.0)
    policy = tts._policy()
    assert isinstance(policy, RetryPolicy)
    assert (policy.max_retries, policy.backoff, policy.max_retry_after) == (5, 0.25, 9.0)
    assert [policy.delay(n, None) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]
    limited = TTSRateLimited("x")
    limited.retry_after = 2.0  # type: ignore[attr-defined]
    assert policy.delay(1, limited) == 2.0
