"""Keys stay with their engine: exact-origin checks, safe base URLs, redacted error text."""

from __future__ import annotations

import asyncio

import pytest
import yaml
from fakes.engine_servers import ENGINE_SERVICE, KEY_ENV, FakeEngineServer

from studio_kit.cli import main
from studio_kit.engines.adapters import errors as E
from studio_kit.engines.adapters.http import base_url_problem, same_origin
from studio_kit.engines.factory import get_engine
from studio_kit.errors import StudioError
from studio_kit.production.generation import generate_shot
from studio_kit.production.routing import build_request
from studio_kit.secrets import REDACTED, redact, secret_names, secret_values

FAST = dict(poll_interval=0.01, max_poll_interval=0.05, timeout_s=3.0, retry_backoff=0.01,
            max_download_bytes=400_000)
SHOT = "s02-cliff-mara"


# -- origins -----------------------------------------------------------------------------
@pytest.mark.parametrize("a,b,same", [
    ("https://api.example.com", "https://api.example.com/v1/x?y=1", True),
    ("https://api.example.com", "https://API.example.com.:443/file", True),
    ("http://127.0.0.1:4400", "http://127.0.0.1:4400/files/a.mp4", True),
    ("http://127.0.0.1:4400", "http://127.0.0.1:44001/files/a.mp4", False),  # was a prefix
    ("http://127.0.0.1:4400", "http://127.0.0.1:4400.evil.example/x", False),
    ("https://api.example.com", "https://api.example.com.attacker.example/x", False),
    ("https://api.example.com", "https://api.example.com@attacker.example/x", False),
    ("https://api.example.com", "http://api.example.com/x", False),  # scheme differs
    ("https://api.example.com", "https://cdn.example.com/x", False),
    ("https://api.example.com", "https://api.example.com:8443/x", False),
    ("https://api.example.com", "not a url", False),
])
def test_same_origin_compares_scheme_host_and_port_exactly(a, b, same):
    assert same_origin(a, b) is same


def test_keyed_url_is_never_a_lookalike_host(keys):
    eng = get_engine("runway", base_url="https://api.example.com")
    assert eng.keyed_url("/v1/tasks/1")
    assert eng.keyed_url("https://api.example.com/files/a.mp4")
    assert not eng.keyed_url("https://api.example.com.attacker.example/files/a.mp4")
    assert not eng.keyed_url("//attacker.example/a.mp4")
    eng = get_engine("runway", base_url="http://127.0.0.1:4400")
    assert not eng.keyed_url("http://127.0.0.1:44001/files/a.mp4")


def test_download_on_another_port_gets_no_authorization(sample_project, keys):
    """Base http://127.0.0.1:PORT; the output URL is on another port (a redirect to it
    too): that server never sees the Authorization header."""
    vault = sample_project.vault()
    req = build_request(sample_project, "01", SHOT)
    with FakeEngineServer("runway") as api, FakeEngineServer("runway") as cdn:
        engine = get_engine("runway", base_url=api.url, **FAST)
        api.redirect_downloads_to = cdn.url  # /files/<id>.mp4 answers 302 -> cdn
        orig = engine.wait

        async def wait(client, rid, progress=None):
            state = await orig(client, rid, progress)
            cdn.jobs.update(api.jobs)
            return state

        engine.wait = wait
        res = asyncio.run(engine.run_job(req, vault))
        assert vault.has(res.asset)
        assert api.download_auth == ["Bearer test-key"]  # same origin: the key goes
        assert cdn.download_auth == [None]  # the other port: it does not
        assert api.url.rsplit(":", 1)[0] == cdn.url.rsplit(":", 1)[0]


# -- base URLs ---------------------------------------------------------------------------
@pytest.mark.parametrize("url,ok", [
    ("https://api.dev.runwayml.com", True), ("http://127.0.0.1:8188", True),
    ("http://localhost:8188", True), ("http://[::1]:8188", True),
    ("file:///etc/passwd", False), ("ftp://example.com", False),
    ("http://comfy.lan:8188", False), ("https://user:pw@api.example.com", False),
    ("https://", False), ("javascript:alert(1)", False),
])
def test_base_url_schemes(url, ok, monkeypatch):
    monkeypatch.delenv("STUDIO_ALLOW_INSECURE_HTTP", raising=False)
    assert (base_url_problem(url) is None) is ok


def test_plain_http_elsewhere_needs_explicit_allowance(monkeypatch):
    assert base_url_problem("http://comfy.lan:8188")
    monkeypatch.setenv("STUDIO_ALLOW_INSECURE_HTTP", "1")
    assert base_url_problem("http://comfy.lan:8188") is None
    assert base_url_problem("file:///etc/passwd")  # never


def test_routing_yaml_base_url_is_validated(sample_dir, keys):
    from studio_kit.production.routing import load_rules
    from studio_kit.project.series_folder import Project

    path = sample_dir / "routing.yaml"
    rules = yaml.safe_load(path.read_text())
    rules["engines"]["runway"] = {"base_url": "file:///etc/passwd"}
    path.write_text(yaml.safe_dump(rules))
    with pytest.raises(StudioError) as info:
        load_rules(Project.load(sample_dir))
    text = str(info.value)
    assert "routing.yaml" in text and "base_url" in text and "'file' is not allowed" in text


def test_env_base_url_is_validated(monkeypatch, keys):
    monkeypatch.setenv("STUDIO_ENGINE_RUNWAY_URL", "file:///etc/passwd")
    with pytest.raises(StudioError, match="not allowed"):
        get_engine("runway")


def test_route_and_estimate_show_base_urls_and_warn_on_other_hosts(sample_dir, keys,
                                                                   capsys):
    path = sample_dir / "routing.yaml"
    rules = yaml.safe_load(path.read_text())
    rules["engines"]["runway"] = {"base_url": "https://api.example.com.attacker.example"}
    path.write_text(yaml.safe_dump(rules))
    for cmd in ("route", "estimate"):
        assert main([cmd, str(sample_dir), "01"]) == 0
        err = " ".join(capsys.readouterr().err.split())
        assert "engine runway: https://api.example.com.attacker.example" in err, cmd
        assert "warning: not the default host (https://api.dev.runwayml.com)" in err, cmd
        assert "engine luma: https://api.lumalabs.ai/dream-machine/v1" in err, cmd
        assert "engine luma: https://api.lumalabs.ai/dream-machine/v1 warning" not in err


# -- secrets -----------------------------------------------------------------------------
def test_secret_values_and_redact(monkeypatch):
    env = {"RUNWAYML_API_SECRET": "key_runway_0123456789", "FAL_KEY": "fal-abcdef",
           "STUDIO_TOKEN": "tok-123456", "MY_SERVICE_TOKEN": "zzzzzzzzzz",
           "SHORT_KEY": "abc", "PATH": "/usr/bin:/bin", "HOME_DIR_SECRET": "1234567",
           "ELEVENLABS_API_KEY": "xi-0123456789"}
    assert secret_names(env) == sorted(["RUNWAYML_API_SECRET", "FAL_KEY", "STUDIO_TOKEN",
                                        "MY_SERVICE_TOKEN", "ELEVENLABS_API_KEY"])
    assert secret_values(env)[0] == "key_runway_0123456789"  # longest first
    text = ("HTTP 400: invalid key key_runway_0123456789 (fal-abcdef) "
            "?token=tok-123456 Authorization: Bearer abcdefghijklmnop xi-0123456789")
    out = redact(text, env)
    for v in secret_values(env):
        assert v not in out
    assert "abcdefghijklmnop" not in out and out.count(REDACTED) == 5
    assert redact("/usr/bin:/bin is fine", env) == "/usr/bin:/bin is fine"


@pytest.mark.parametrize("engine", ["runway", "luma", "kling", "replicate"])
def test_echoed_key_appears_nowhere(sample_project, monkeypatch, capsys, engine):
    """An engine that echoes the key in a 400 body: not in the raised error, not in the
    ledger after generate_shot (database and WAL bytes), not in the CLI's output."""
    service = ENGINE_SERVICE[engine]
    key = f"sk-echo-{engine}-7f3a9c1e5b"
    monkeypatch.setenv(KEY_ENV[service], key)
    p = sample_project
    vault, ledger = p.vault(), p.ledger()
    ledger.decide(episode="01", gate="A", subject="budget", decision="approved", who="qa")
    req = build_request(p, "01", SHOT)
    with FakeEngineServer(service, key=key) as server:
        server.script("submit", "echo_key")
        eng = get_engine(engine, base_url=server.url, **FAST)
        with pytest.raises(E.InvalidRequest) as info:
            asyncio.run(generate_shot(req, engine, vault=vault, ledger=ledger, engine=eng))
        assert server.calls and server.calls[0][2] == 400  # the echo was really sent
    err = info.value
    assert key not in str(err) and key not in repr(err) and REDACTED in str(err)
    rows = ledger.query("SELECT error FROM engine_calls")
    assert rows and all(key not in (r["error"] or "") for r in rows)
    assert any(REDACTED in (r["error"] or "") for r in rows)
    ledger.close()
    studio = p.root / ".studio"
    for path in studio.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    # the CLI's error printer: a StudioError carrying the key is printed redacted

    def boom(*a, **k):
        raise StudioError(f"engine said: bad key {key}", hint=f"check {key}")

    monkeypatch.setattr("studio_kit.project.series_folder.Project.load", boom)
    assert main(["validate", str(p.root)]) == 2
    out = capsys.readouterr()
    assert key not in out.out + out.err and REDACTED in out.err


def test_redirect_to_a_non_http_scheme_is_refused(sample_project, keys):
    vault = sample_project.vault()
    req = build_request(sample_project, "01", SHOT)
    with FakeEngineServer("runway") as api:
        api.redirect_downloads_to = "file:///etc"
        engine = get_engine("runway", base_url=api.url, **FAST)
        with pytest.raises(E.DownloadRejected, match="redirects to a file: URL") as info:
            asyncio.run(engine.run_job(req, vault))
        assert info.value.cost == pytest.approx(engine.estimate_cost(req))
