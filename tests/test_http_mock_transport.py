"""Unit tests of the HTTP retry policy and the error kinds through ``httpx.MockTransport``
(the adapters) and ``httpx2.MockTransport`` (the ``openai`` SDK the VLM/LLM clients use).

The loopback fake servers (tests/fakes/engine_servers.py, tests/fakes/openai_chat.py) test
the same code over real sockets; here every answer is scripted per request, so the policy
is checked exactly: which failures are retried and how many times, which are not (and are
``EngineUserError``), that timeouts become ``EngineOperationalError``, that ``Retry-After``
sets the wait, and that a paid call leaves exactly one ledger row.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections import deque
from typing import Any

import httpx
import pytest
from fakes.engine_servers import tiny_mp4

from studio_kit.engines import openai_compat
from studio_kit.engines.adapters import errors as E
from studio_kit.engines.factory import get_engine
from studio_kit.errors import EngineError, EngineOperationalError, EngineUserError, error_kind
from studio_kit.production.generation import generate_shot
from studio_kit.production.routing import build_request

REAL_CHAT = openai_compat.chat_content
BASE = "https://runway.mock.test"  # never resolved: the transport answers everything
FAST = dict(poll_interval=0.01, max_poll_interval=0.02, timeout_s=3.0, retry_backoff=0.01,
            max_download_bytes=2_000_000, max_retries=3)


class MockRunway:
    """Runway's task API as an ``httpx.MockTransport`` handler.

    ``script[endpoint]`` (submit, status, download, cancel) is consumed one entry per
    request before the normal answer: an int (that HTTP status), ``(status, headers)``, or
    an ``httpx`` exception class (raised as the transport would). ``log`` is every request
    as ``(monotonic time, endpoint)``; ``jobs`` counts accepted (billable) submissions."""

    def __init__(self, video: bytes, **script: list[Any]) -> None:
        self.video = video
        self.script = {k: deque(v) for k, v in script.items()}
        self.log: list[tuple[float, str]] = []
        self.jobs = 0
        self.auth: list[str | None] = []
        self.transport = httpx.MockTransport(self.handle)

    def count(self, endpoint: str) -> int:
        return sum(1 for _t, ep in self.log if ep == endpoint)

    def times(self, endpoint: str) -> list[float]:
        return [t for t, ep in self.log if ep == endpoint]

    @staticmethod
    def endpoint(req: httpx.Request) -> str:
        path = req.url.path
        if req.method == "POST":
            return "submit"
        if path.startswith("/v1/tasks/"):
            return "cancel" if req.method == "DELETE" else "status"
        return "download"

    def handle(self, req: httpx.Request) -> httpx.Response:
        ep = self.endpoint(req)
        self.log.append((time.monotonic(), ep))
        self.auth.append(req.headers.get("authorization"))
        queue = self.script.get(ep)
        if queue:
            fault = queue.popleft()
            if isinstance(fault, type) and issubclass(fault, Exception):
                raise fault(f"scripted {fault.__name__}", request=req)
            code, headers = fault if isinstance(fault, tuple) else (fault, {})
            body = {"error": "invalid input: bad ratio"} if code == 400 else \
                {"error": f"scripted {code}"}
            return httpx.Response(code, json=body, headers=headers)
        if ep == "submit":
            self.jobs += 1
            return httpx.Response(200, json={"id": f"task-{self.jobs}"})
        if ep == "status":
            rid = req.url.path.rsplit("/", 1)[-1]
            return httpx.Response(200, json={"status": "SUCCEEDED", "progress": 1.0,
                                             "output": [f"{BASE}/files/{rid}.mp4"]})
        if ep == "cancel":
            return httpx.Response(204)
        return httpx.Response(200, content=self.video, headers={"content-type": "video/mp4"})


@pytest.fixture(scope="module")
def project():
    from conftest import SAMPLE

    from studio_kit.project.series_folder import Project

    return Project.load(SAMPLE)


@pytest.fixture
def vault(tmp_path):
    from studio_kit.store.vault import Vault

    return Vault(tmp_path / "vault")


@pytest.fixture
def runway_key(monkeypatch):
    monkeypatch.setenv("RUNWAYML_API_SECRET", "rw-test-key")


def rig(project, *, shot: str = "s02-cliff-mara", **script: list[Any]):
    """(mock service, runway engine on it, request) with ``script``ed faults."""
    probe = get_engine("runway", base_url=BASE, **FAST)
    req = build_request(project, "01", shot)
    mock = MockRunway(tiny_mp4(probe.expected_duration(req)), **script)
    return mock, get_engine("runway", base_url=BASE, transport=mock.transport, **FAST), req


def run(engine, req, vault, **kw):
    return asyncio.run(engine.run_job(req, vault, **kw))


# -- the error kinds -----------------------------------------------------------------------
def test_every_adapter_error_has_one_kind_and_stays_an_engine_error():
    user = [E.MissingKey, E.AuthError, E.InsufficientCredits, E.InvalidRequest, E.JobNotFound,
            E.ModerationRefused, E.ClientError]
    operational = [E.RateLimited, E.RequestTimeout, E.ServerError, E.SubmissionUnconfirmed,
                   E.JobFailed, E.EngineTimeout, E.MalformedResponse, E.DownloadRejected,
                   E.ResultUnavailable]
    for cls in user:
        err = cls("x", engine="runway")
        assert isinstance(err, EngineUserError) and not isinstance(err, EngineOperationalError)
        assert isinstance(err, EngineError) and error_kind(err) == "user", cls
    for cls in operational:
        err = cls("x", engine="runway")
        assert isinstance(err, EngineOperationalError) and not isinstance(err, EngineUserError)
        assert isinstance(err, EngineError) and error_kind(err) == "operational", cls
    assert error_kind(ValueError("x")) == "" and error_kind(EngineError("x")) == ""


# -- retried: 5xx, 408/429, dropped connections ------------------------------------------------
def test_5xx_then_success_is_retried(project, vault, runway_key):
    mock, eng, req = rig(project, status=[500, 503], download=[502])
    res = run(eng, req, vault)
    assert vault.has(res.asset)
    assert mock.count("submit") == 1 and mock.jobs == 1
    assert mock.count("status") == 3  # two 5xx, then the answer
    assert mock.count("download") == 2
    assert set(mock.auth) == {"Bearer rw-test-key"}  # same origin: the key goes along


def test_5xx_retries_stop_after_max_retries_plus_one_attempts(project, vault, runway_key):
    mock, eng, req = rig(project, status=[500] * 10)
    with pytest.raises(E.ResultUnavailable) as info:  # accepted: collected next run
        run(eng, req, vault)
    assert isinstance(info.value, EngineOperationalError)
    assert isinstance(info.value.__cause__, E.ServerError)
    assert mock.count("status") == eng.max_retries + 1 == 4
    assert mock.count("submit") == 1


def test_5xx_on_a_submission_is_not_retried(project, vault, runway_key):
    """The engine may have accepted it: sending it again could bill twice."""
    mock, eng, req = rig(project, submit=[500])
    with pytest.raises(E.ServerError) as info:
        run(eng, req, vault)
    assert error_kind(info.value) == "operational"
    assert mock.count("submit") == 1 and mock.count("status") == 0


@pytest.mark.parametrize("code", [429, 408])
def test_429_and_408_on_a_submission_are_retried(project, vault, runway_key, code):
    """Neither was accepted by the engine, so resending cannot bill twice."""
    mock, eng, req = rig(project, submit=[code, code])
    res = run(eng, req, vault)
    assert vault.has(res.asset)
    assert mock.count("submit") == 3 and mock.jobs == 1


def test_retry_after_of_a_429_is_honoured(project, vault, runway_key):
    mock, eng, req = rig(project, status=[(429, {"Retry-After": "0.3"})])
    run(eng, req, vault)
    first, second = mock.times("status")[:2]
    assert second - first >= 0.3  # the header's wait, not the 0.01 s backoff
    assert mock.count("status") == 2


def test_a_retry_after_beyond_the_cap_gives_up_at_once(project, vault, runway_key):
    mock, eng, req = rig(project, submit=[(429, {"Retry-After": "30"})])
    eng.max_retry_after = 1.0
    t0 = time.monotonic()
    with pytest.raises(E.RateLimited) as info:
        run(eng, req, vault)
    assert time.monotonic() - t0 < 5
    assert info.value.retry_after == pytest.approx(30) and info.value.kind == "operational"
    assert mock.count("submit") == 1


def test_the_backoff_doubles_between_attempts(project, vault, runway_key):
    mock, eng, req = rig(project, status=[500, 500, 500])
    eng.retry_backoff = 0.1
    run(eng, req, vault)
    t = mock.times("status")
    gaps = [b - a for a, b in zip(t, t[1:], strict=False)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2 and gaps[2] >= 0.4


# -- not retried: 4xx other than 408/429 ------------------------------------------------------
@pytest.mark.parametrize(("code", "cls"), [(400, E.InvalidRequest), (401, E.AuthError),
                                           (405, E.ClientError), (422, E.InvalidRequest)])
def test_4xx_is_not_retried_and_is_a_user_error(project, vault, runway_key, code, cls):
    mock, eng, req = rig(project, status=[code])
    with pytest.raises(cls) as info:
        run(eng, req, vault)
    assert isinstance(info.value, EngineUserError) and info.value.status == code
    assert mock.count("status") == 1  # an idempotent call, still not asked again
    mock, eng, req = rig(project, submit=[code])
    with pytest.raises(cls):
        run(eng, req, vault)
    assert mock.count("submit") == 1 and mock.jobs == 0


def test_a_bad_request_says_what_to_fix(project, vault, runway_key):
    mock, eng, req = rig(project, submit=[400])
    with pytest.raises(E.InvalidRequest, match="invalid input: .*bad ratio") as bad:
        run(eng, req, vault)
    assert "runway's limits" in (bad.value.hint or "")
    mock, eng, req = rig(project, submit=[405])
    with pytest.raises(E.ClientError) as other:
        run(eng, req, vault)
    assert "STUDIO_ENGINE_RUNWAY_URL" in (other.value.hint or "")
    mock, eng, req = rig(project, submit=[401])
    with pytest.raises(E.AuthError) as info:
        run(eng, req, vault)
    assert "RUNWAYML_API_SECRET" in (info.value.hint or "")
    assert "rw-test-key" not in str(info.value)


# -- timeouts and dropped connections are operational ------------------------------------------
def test_a_read_timeout_while_polling_is_retried_then_operational(project, vault, runway_key):
    mock, eng, req = rig(project, status=[httpx.ReadTimeout] * 10)
    with pytest.raises(E.ResultUnavailable) as info:
        run(eng, req, vault)
    err = info.value
    assert isinstance(err, EngineOperationalError) and err.remote_id == "task-1"
    assert isinstance(err.__cause__, E.ServerError)
    assert isinstance(err.__cause__.__cause__, httpx.ReadTimeout)
    assert mock.count("status") == eng.max_retries + 1 and mock.count("submit") == 1


def test_a_read_timeout_after_a_submission_is_never_resent(project, vault, runway_key):
    mock, eng, req = rig(project, submit=[httpx.ReadTimeout])
    with pytest.raises(E.SubmissionUnconfirmed) as info:
        run(eng, req, vault)
    assert isinstance(info.value, EngineOperationalError)
    assert info.value.at_risk == pytest.approx(eng.estimate_cost(req))
    assert mock.count("submit") == 1


@pytest.mark.parametrize("exc", [httpx.ConnectTimeout, httpx.ConnectError])
def test_a_connect_failure_is_retried_even_for_a_submission(project, vault, runway_key, exc):
    """The request never reached the server: resending it is safe."""
    mock, eng, req = rig(project, submit=[exc, exc])
    res = run(eng, req, vault)
    assert vault.has(res.asset) and mock.count("submit") == 3 and mock.jobs == 1


def test_connect_failures_that_persist_are_operational(project, vault, runway_key):
    mock, eng, req = rig(project, submit=[httpx.ConnectError] * 10)
    with pytest.raises(E.ServerError, match="cannot connect") as info:
        run(eng, req, vault)
    assert info.value.kind == "operational"
    assert mock.count("submit") == eng.max_retries + 1


def test_a_download_that_keeps_dropping_is_operational(project, vault, runway_key):
    mock, eng, req = rig(project, download=[httpx.RemoteProtocolError] * 10)
    with pytest.raises(E.ResultUnavailable) as info:
        run(eng, req, vault)
    assert info.value.completed and info.value.cost == pytest.approx(eng.estimate_cost(req))
    assert mock.count("download") == eng.max_retries + 1


# -- the ledger: exactly one row per paid call ------------------------------------------------
@pytest.fixture
def proj(sample_project, runway_key):
    ledger = sample_project.ledger()
    ledger.decide(episode="01", gate="A", subject="budget", decision="approved", who="t")
    return sample_project


def rows_for(ledger, h):
    return ledger.query("SELECT status, cost, remote_id FROM engine_calls WHERE "
                        "request_hash=?", (h,))


def test_exactly_one_ledger_row_per_paid_call(proj):
    vault, ledger = proj.vault(), proj.ledger()
    mock, eng, req = rig(proj, submit=[(429, {"Retry-After": "0.01"}), httpx.ConnectError],
                         status=[503, httpx.ReadTimeout], download=[500])
    h = req.request_hash("runway", eng.model)
    res = asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
    assert mock.jobs == 1 and mock.count("submit") == 3  # retried, accepted once
    assert rows_for(ledger, h) == [{"status": "succeeded", "cost": pytest.approx(res.cost),
                                    "remote_id": "task-1"}]
    n = len(mock.log)
    again = asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
    assert again.asset == res.asset and len(mock.log) == n  # no call at all
    assert len(rows_for(ledger, h)) == 1 and ledger.total_cost() == pytest.approx(res.cost)


def test_an_uncollectable_result_stays_one_pending_row_and_is_collected(proj):
    """Polls that keep timing out: the job stays pending on its row (not failed over, not
    resubmitted); the next run polls the same remote id and the row becomes the take."""
    vault, ledger = proj.vault(), proj.ledger()
    mock, eng, req = rig(proj, status=[httpx.ReadTimeout] * (FAST["max_retries"] + 1))
    h = req.request_hash("runway", eng.model)
    with pytest.raises(E.ResultUnavailable):
        asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
    (row,) = rows_for(ledger, h)
    assert row["status"] == "submitted" and row["remote_id"] == "task-1"
    res = asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
    assert mock.count("submit") == 1 and mock.jobs == 1  # collected, not paid again
    assert rows_for(ledger, h) == [{"status": "succeeded", "cost": pytest.approx(res.cost),
                                    "remote_id": "task-1"}]


def test_a_refused_submission_is_one_failed_row_and_no_job(proj):
    vault, ledger = proj.vault(), proj.ledger()
    mock, eng, req = rig(proj, submit=[400])
    h = req.request_hash("runway", eng.model)
    with pytest.raises(EngineUserError):
        asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
    assert rows_for(ledger, h) == [{"status": "failed", "cost": 0.0, "remote_id": None}]
    assert mock.jobs == 0 and mock.count("submit") == 1


@pytest.mark.parametrize(("fault", "error", "kind"), [(400, "InvalidRequest", "user"),
                                                     (503, "ServerError", "operational")])
def test_failover_names_the_error_kind_and_moves_on(proj, fault, error, kind):
    """Both kinds fail over as before (the next engine of the chain may take it); the
    attempt says which kind it was. Neither submission is resent to the first engine."""
    from fakes.engine_servers import register_test_engine

    from studio_kit.production.failover import Router
    from studio_kit.production.routing import RoutingRules, route_shot

    free = register_test_engine()
    vault, ledger = proj.vault(), proj.ledger()
    mock, eng, req = rig(proj, shot="s01-cliff-wide", submit=[fault])
    rules = RoutingRules(default="runway", failover=[free])
    engines = {"runway": eng}
    decision = route_shot(proj, "01", "s01-cliff-wide", rules, engines=engines)
    router = Router(rules, vault=vault, ledger=ledger, engines=engines)
    out = asyncio.run(router.run_shot(req, decision, episode="01"))
    assert out.engine == free and out.ok
    assert out.attempts[0]["error"] == error and out.attempts[0]["kind"] == kind
    assert mock.count("submit") == 1 and mock.jobs == 0


# -- the OpenAI-compatible clients (openai SDK over httpx2) -----------------------------------
httpx2 = pytest.importorskip("httpx2")

COMPLETION = {"id": "c", "object": "chat.completion", "created": 0, "model": "m",
              "choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": '{"ok": true}'}}]}


class MockChat:
    """An OpenAI-compatible server as an ``httpx2.MockTransport``: scripted answers (int,
    ``(status, headers)`` or an httpx2 exception class), then the completion."""

    def __init__(self, *script: Any) -> None:
        self.script = deque(script)
        self.seen: list[tuple[float, str, dict[str, str], Any]] = []
        self.transport = httpx2.MockTransport(self.handle)

    def handle(self, req):
        self.seen.append((time.monotonic(), req.url.path, dict(req.headers),
                          json.loads(req.content or b"null")))
        if self.script:
            fault = self.script.popleft()
            if isinstance(fault, type) and issubclass(fault, Exception):
                raise fault("scripted", request=req)
            code, headers = fault if isinstance(fault, tuple) else (fault, {})
            return httpx2.Response(code, json={"error": {"message": "scripted"}},
                                   headers=headers)
        return httpx2.Response(200, json=COMPLETION)


@pytest.fixture
def no_openai_env(monkeypatch):
    for env, value in {"OPENAI_API_KEY": "sk-env-openai", "OPENAI_ADMIN_KEY": "sk-env-admin",
                       "OPENAI_ORG_ID": "org-env", "OPENAI_PROJECT_ID": "proj-env",
                       "OPENAI_BASE_URL": "https://api.openai.com/v1"}.items():
        monkeypatch.setenv(env, value)


def vlm_with(monkeypatch, chat: MockChat, **cfg: Any):
    """vlm.ask against ``chat`` (the SDK's transport replaced), with a VLMConfig."""
    from studio_kit.qc.vlm import VLMConfig, ask

    monkeypatch.setattr(openai_compat, "chat_content",
                        functools.partial(REAL_CHAT, transport=chat.transport))
    config = VLMConfig(base_url="http://127.0.0.1:9", model="tiny-vlm", **cfg)
    return lambda: ask(config, [{"role": "user", "content": "score"}])


def test_openai_5xx_then_success_is_retried(monkeypatch, no_openai_env):
    chat = MockChat((503, {"retry-after-ms": "10"}), (500, {"retry-after-ms": "10"}))
    assert vlm_with(monkeypatch, chat, api_key="sk-vlm")() == '{"ok": true}'
    assert len(chat.seen) == 3
    assert [p for _t, p, _h, _b in chat.seen] == ["/v1/chat/completions"] * 3
    body = chat.seen[-1][3]
    assert body["model"] == "tiny-vlm" and body["temperature"] == 0
    assert body["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(("code", "match"), [(400, "answered HTTP 400"),
                                             (401, "refused the key"),
                                             (404, "answered HTTP 404")])
def test_openai_4xx_is_not_retried_and_is_a_user_error(monkeypatch, code, match):
    chat = MockChat(code)
    with pytest.raises(EngineUserError, match=match):
        vlm_with(monkeypatch, chat, api_key="sk-vlm")()
    assert len(chat.seen) == 1


def test_openai_timeout_is_an_operational_error(monkeypatch):
    chat = MockChat(*[httpx2.ReadTimeout] * 5)
    with pytest.raises(EngineOperationalError, match="unreachable: ReadTimeout"):
        vlm_with(monkeypatch, chat, max_retries=1)()
    assert len(chat.seen) == 2  # the first attempt and one retry


def test_openai_5xx_that_persists_is_operational(monkeypatch):
    chat = MockChat(*[(502, {"retry-after-ms": "5"})] * 5)
    with pytest.raises(EngineOperationalError, match="answered HTTP 502"):
        vlm_with(monkeypatch, chat, max_retries=2)()
    assert len(chat.seen) == 3


def test_openai_429_retry_after_is_honoured(monkeypatch):
    chat = MockChat((429, {"retry-after": "0.3"}))
    assert vlm_with(monkeypatch, chat)()
    (t0, *_), (t1, *_) = chat.seen
    assert t1 - t0 >= 0.3 and len(chat.seen) == 2


def test_openai_sdk_reads_no_credential_from_the_environment(monkeypatch, no_openai_env):
    """No key: no Authorization header at all (local servers); a key: that key only. The
    SDK's own OPENAI_* variables never reach the configured server."""
    chat = MockChat()
    vlm_with(monkeypatch, chat)()
    vlm_with(monkeypatch, chat, api_key="sk-vlm-only")()
    (_t, _p, anon, _b), (_t2, _p2, keyed, _b2) = chat.seen
    assert "authorization" not in anon and keyed["authorization"] == "Bearer sk-vlm-only"
    for headers in (anon, keyed):
        assert "openai-organization" not in headers and "openai-project" not in headers
        assert not any(v.endswith(("sk-env-openai", "sk-env-admin", "org-env", "proj-env"))
                       for v in headers.values())


def test_llm_outline_through_the_sdk_retries_then_says_what_failed(monkeypatch):
    from studio_kit.surfaces.builder import list_genres, llm_outline, load_template

    chat = MockChat(*[(500, {"retry-after-ms": "5"})] * 5)
    monkeypatch.setattr(openai_compat, "chat_content",
                        functools.partial(REAL_CHAT, transport=chat.transport))
    monkeypatch.setenv("STUDIO_LLM_API_KEY", "sk-llm")
    tpl = load_template(list_genres()[0])
    with pytest.raises(EngineOperationalError, match="LLM endpoint answered HTTP 500") as info:
        llm_outline("an idea", tpl, 2, base_url="http://127.0.0.1:9/v1", max_retries=1)
    assert "STUDIO_LLM_API_KEY" in (info.value.hint or "")
    assert len(chat.seen) == 2 and chat.seen[0][2]["authorization"] == "Bearer sk-llm"
    chat = MockChat(422)
    monkeypatch.setattr(openai_compat, "chat_content",
                        functools.partial(REAL_CHAT, transport=chat.transport))
    with pytest.raises(EngineUserError, match="answered HTTP 422"):
        llm_outline("an idea", tpl, 2, base_url="http://127.0.0.1:9")
    assert len(chat.seen) == 1


def test_openai_key_is_in_no_log_or_error(monkeypatch, caplog):
    """At DEBUG, the SDK's and httpx2's logs of a retried call and of a refusal whose body
    echoes the key hold no trace of it; nor does the error."""
    import logging

    caplog.set_level(logging.DEBUG)
    key = "sk-canary-vlm-5c7e9a1b3d"
    chat = MockChat((500, {"retry-after-ms": "5"}))
    assert vlm_with(monkeypatch, chat, api_key=key)()
    echo = MockChat(401)
    echo.handle = lambda req: httpx2.Response(  # type: ignore[method-assign]
        401, json={"error": {"message": f"bad key {req.headers['authorization']}"}})
    echo.transport = httpx2.MockTransport(echo.handle)
    with pytest.raises(EngineUserError) as info:
        vlm_with(monkeypatch, echo, api_key=key)()
    assert key not in str(info.value) and key not in repr(info.value)
    assert "Retrying" in caplog.text and key not in caplog.text


@pytest.mark.parametrize("base", ["http://h:8000", "http://h:8000/", "http://h:8000/v1",
                                  "http://h:8000/v1/"])
def test_the_sdk_base_url_ends_in_v1_either_way(base):
    assert openai_compat.sdk_base_url(base) == "http://h:8000/v1"
