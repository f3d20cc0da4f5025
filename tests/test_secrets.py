"""Secrets come from the environment only and are never written anywhere.

Fake keys ("canaries") are put in the environment; real work that uses them runs against
the fake servers on 127.0.0.1 (every engine adapter through ``generate_shot``, ElevenLabs,
an OpenAI-compatible VLM/LLM endpoint), including failures whose messages end up in the
ledger. Then every byte the studio wrote (project files, ``.studio/ledger.sqlite`` and its
WAL, vault objects, manifests, outputs, executed notebooks) and everything it printed or
logged is scanned for the canaries. The committed notebooks must hold no key-like strings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fakes.elevenlabs_server import FakeElevenLabs
from fakes.engine_servers import ENGINE_SERVICE, KEY_ENV, FakeEngineServer
from fakes.openai_chat import FakeChatServer

from studio_kit.engines.factory import get_engine
from studio_kit.errors import StudioError
from studio_kit.production.generation import generate_shot
from studio_kit.production.routing import build_request

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "lighthouse"
STUDIO = Path(sys.executable).with_name("studio")
FAST = dict(poll_interval=0.01, max_poll_interval=0.05, timeout_s=3.0, retry_backoff=0.01,
            max_download_bytes=200_000)

#: every secret the studio reads from the environment (grep -rn environ studio_kit)
CANARIES = {
    "RUNWAYML_API_SECRET": "sk-canary-runway-4f9d2a7c1e",
    "RUNWAY_API_KEY": "sk-canary-runway2-8b1e3f5a",
    "LUMAAI_API_KEY": "luma-canary-7c3e9a1f2b",
    "FAL_KEY": "fal-canary-2d8f4b6a9c",
    "REPLICATE_API_TOKEN": "r8_canary_5e7a1c3d9f",
    "COMFYUI_API_KEY": "comfy-canary-3a6c8e0b2d",
    "ELEVENLABS_API_KEY": "xi-canary-9f1b3d5e7a",
    "STUDIO_LLM_API_KEY": "sk-canary-llm-6d2f8a4c0e",
    "STUDIO_VLM_API_KEY": "sk-canary-vlm-1a3c5e7b9d",
    "STUDIO_TOKEN": "canary-voila-token-0e2c4a6f8b",
}
WRONG = "sk-canary-wrong-key-7777aaaa"  # a key the servers refuse (its errors get logged)
ALL = [*CANARIES.values(), WRONG]


def _leaks(data: bytes | str) -> list[str]:
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    return [c for c in ALL if c.encode() in data]


def _scan_tree(*roots: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            if path.is_file() and not path.is_symlink():
                leaks = _leaks(path.read_bytes())
                if leaks:
                    found[str(path)] = leaks
    return found


@pytest.fixture
def canary_env(monkeypatch):
    for env, value in CANARIES.items():
        monkeypatch.setenv(env, value)
    return dict(CANARIES)


@pytest.fixture
def openai_server():
    """Accepts only the VLM canary key, so the LLM call is refused (and must say so cleanly)."""
    reply = json.dumps({"scores": {"identity": 0.9, "continuity": 0.9, "framing": 0.9,
                                   "artefacts": 0.9}, "notes": "ok"})
    with FakeChatServer(reply, key=CANARIES["STUDIO_VLM_API_KEY"]) as fake:
        yield fake


def test_engine_keys_are_used_but_never_stored(sample_project, canary_env, monkeypatch,
                                               caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)
    proj = sample_project
    vault, ledger = proj.vault(), proj.ledger()
    ledger.decide(episode="01", gate="A", subject="budget", decision="approved", who="qa")
    shots = [s.id for s in proj.storyboard("01").shots]
    errors: list[str] = []
    for i, (engine, service) in enumerate(sorted(ENGINE_SERVICE.items())):
        env = KEY_ENV[service]
        key = canary_env[env]
        with FakeEngineServer(service, key=key) as server:
            eng = get_engine(engine, base_url=server.url, **FAST)
            req = build_request(proj, "01", shots[i % len(shots)])
            res = asyncio.run(generate_shot(req, engine, vault=vault, ledger=ledger,
                                            engine=eng))
            assert vault.has(res.asset), engine
            if service != "comfyui":  # comfyui needs no key; the others sent the canary
                assert server.submissions, engine
            # the same engine with a key the service refuses: the error is recorded
            monkeypatch.setenv(env, WRONG)
            eng = get_engine(engine, base_url=server.url, **FAST)
            req = build_request(proj, "01", shots[(i + 5) % len(shots)])
            if service != "comfyui":
                with pytest.raises(StudioError) as info:
                    asyncio.run(generate_shot(req, engine, vault=vault, ledger=ledger,
                                              engine=eng))
                errors.append(str(info.value))
                assert not _leaks(str(info.value)), str(info.value)
            monkeypatch.setenv(env, key)
    assert ledger.query("SELECT COUNT(*) AS n FROM engine_calls")[0]["n"] >= 6
    assert ledger.query("SELECT COUNT(*) AS n FROM engine_calls WHERE error IS NOT NULL "
                        "AND error != ''")[0]["n"] >= 1, errors
    ledger.close()
    out = capsys.readouterr()
    assert not _leaks(out.out + out.err)
    assert not _leaks(caplog.text)
    assert _scan_tree(proj.root) == {}


def test_elevenlabs_key_is_used_but_never_stored(sample_project, canary_env, monkeypatch,
                                                 caplog, capsys) -> None:
    from studio_kit.audio.tts.elevenlabs import ElevenLabsTTS
    from studio_kit.models import VoiceProfile

    caplog.set_level(logging.DEBUG)
    key = canary_env["ELEVENLABS_API_KEY"]
    with FakeElevenLabs(api_key=key) as server:
        monkeypatch.setenv("ELEVENLABS_BASE_URL", server.url)
        speech = ElevenLabsTTS().synthesize("Bonjour Mara", VoiceProfile(
            engine="elevenlabs", voice="v-rachel", language="fr"))
        assert speech.duration_s > 0
        assert server.requests[-1]["headers"].get("xi-api-key") == key
        monkeypatch.setenv("ELEVENLABS_API_KEY", WRONG)
        with pytest.raises(StudioError) as info:
            ElevenLabsTTS().synthesize("Bonjour", VoiceProfile(
                engine="elevenlabs", voice="v-rachel", language="fr"))
        assert not _leaks(str(info.value)) and not _leaks(repr(info.value))
    out = capsys.readouterr()
    assert not _leaks(out.out + out.err + caplog.text)


def test_llm_and_vlm_keys_are_sent_but_never_shown(canary_env, monkeypatch,
                                                   openai_server) -> None:
    from studio_kit.qc.vlm import VLMConfig, ask
    from studio_kit.surfaces.builder import list_genres, llm_outline, load_template

    monkeypatch.setenv("STUDIO_VLM_BASE_URL", openai_server.url)  # the /v1 form
    cfg = VLMConfig.from_env()
    assert cfg is not None
    assert ask(cfg, [{"role": "user", "content": "score"}])
    monkeypatch.setenv("STUDIO_VLM_API_KEY", WRONG)
    with pytest.raises(StudioError) as info:
        ask(VLMConfig.from_env(), [{"role": "user", "content": "score"}])
    assert not _leaks(str(info.value))
    tpl = load_template(list_genres()[0])
    with pytest.raises(StudioError) as info:  # the LLM key is refused (401)
        llm_outline("a lighthouse keeper", tpl, 2, base_url=openai_server.url, timeout_s=10)
    assert not _leaks(str(info.value))
    sent = [auth for _path, auth, _body in openai_server.seen]
    assert f"Bearer {canary_env['STUDIO_VLM_API_KEY']}" in sent
    assert f"Bearer {canary_env['STUDIO_LLM_API_KEY']}" in sent


def _small_sample(dest: Path) -> Path:
    """The sample series with episode 01 cut to 2 one-second shots."""
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".studio", "out"))
    path = dest / "episodes" / "01" / "storyboard.yaml"
    sb = yaml.safe_load(path.read_text())
    keep = {"s02-cliff-mara", "s07-cafe-wide"}
    for act in sb["acts"]:
        act["shots"] = [s for s in act["shots"] if s["id"] in keep]
        for s in act["shots"]:
            s["duration_s"] = 1.0
    path.write_text(yaml.safe_dump(sb, allow_unicode=True, sort_keys=False))
    return dest


def _studio(args: list[str], env: dict[str, str], cwd: Path,
            timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(STUDIO), *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def test_cli_commands_with_keys_set_write_and_print_no_key(tmp_path: Path,
                                                          openai_server) -> None:
    """Quick commands that look at keys (estimate reports missing ones) and write files."""
    root = _small_sample(tmp_path / "lighthouse")
    env = {**os.environ, **CANARIES, "COLUMNS": "200", "STUDIO_VLM_BASE_URL": openai_server.root}
    outputs = []
    for args in (["estimate", str(root), "01"], ["approve", str(root), "01", "--who", "qa"],
                 ["render-shot", str(root), "01", "s02-cliff-mara", "-o",
                  str(tmp_path / "s.mp4"), "--width", "160", "--height", "90"],
                 ["say", str(root), "mara", "hello", "-o", str(tmp_path / "say.wav")]):
        proc = _studio(args, env, tmp_path)
        assert proc.returncode in (0, 2), proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        outputs.append(proc.stdout + proc.stderr)
    assert not _leaks("\n".join(outputs))
    assert _scan_tree(tmp_path) == {}


@pytest.mark.heavy  # ~30-60 s: the papermill kernel plus a whole (tiny) episode
def test_pipeline_and_notebook_run_write_no_key(tmp_path: Path, openai_server) -> None:
    """A whole (tiny) episode render through the papermill notebook with every key set."""
    root = _small_sample(tmp_path / "lighthouse")
    env = {**os.environ, **CANARIES, "COLUMNS": "200", "STUDIO_VLM_BASE_URL": openai_server.root}
    proc = _studio(["render", str(root), "01", "--engine", "local", "--width", "160",
                    "--height", "90", "--notebook", "--out", str(tmp_path / "out")],
                   env, tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list((tmp_path / "out").rglob("*.ipynb")), "no executed notebook"
    assert not _leaks(proc.stdout + proc.stderr)
    assert _scan_tree(tmp_path) == {}


KEY_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_-]{16,}"),                # OpenAI-style
    re.compile(r"r8_[A-Za-z0-9]{20,}"),                  # Replicate
    re.compile(r"key_[0-9a-f]{32,}"),                    # Runway
    re.compile(r"luma-[0-9a-f-]{30,}"),                  # Luma
    re.compile(r"AKIA[0-9A-Z]{16}"),                     # AWS
    re.compile(r"(?i)(api[_-]?key|api[_-]?token|secret|xi-api-key|authorization)"
               r"['\"]?\s*[:=]\s*['\"]?(Bearer |Key )?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"[?&]token=[A-Za-z0-9_\-]{16,}"),        # a Voila/Jupyter URL with its token
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


def _notebooks() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.ipynb")
                  if not {".venv", ".ipynb_checkpoints", "test-artifacts", "out"}
                  & set(p.relative_to(ROOT).parts))


def test_committed_notebooks_hold_no_keys() -> None:
    notebooks = _notebooks()
    assert notebooks, "no notebooks found"
    for path in notebooks:
        text = path.read_text(encoding="utf-8")
        for pat in KEY_PATTERNS:
            m = pat.search(text)
            assert m is None, f"{path.relative_to(ROOT)}: key-like text {m.group(0)[:24]!r}..."
        nb = json.loads(text)
        for cell in nb.get("cells", []):
            src = "".join(cell.get("source", []))
            # a key is read from the environment, never assigned in a notebook
            assert not re.search(r"os\.environ\[[^\]]*(KEY|TOKEN|SECRET)[^\]]*\]\s*=", src), \
                f"{path.relative_to(ROOT)} sets a key in a cell"


def test_a_password_in_a_url_is_redacted_and_the_llm_hint_never_shows_it() -> None:
    from studio_kit.secrets import redact

    said = redact("cannot reach https://ann:s3cr3t-pw@llm.example:8443/v1 or "
                  "http://bob:pw2@10.0.0.1/ (ftp://host/p@x stays)", environ={})
    assert "s3cr3t-pw" not in said and "pw2" not in said
    assert "https://ann:[redacted]@llm.example:8443/v1" in said
    assert "http://bob:[redacted]@10.0.0.1/" in said and "ftp://host/p@x" in said


def test_the_builder_hint_for_an_unreachable_llm_hides_the_url_password() -> None:
    import socket

    from studio_kit.surfaces.builder import list_genres, llm_outline, load_template

    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://ann:hunter2-pw@127.0.0.1:{port}/v1"
    tpl = load_template(list_genres()[0])
    with pytest.raises(StudioError, match="LLM endpoint unreachable") as info:
        llm_outline("an idea", tpl, 2, base_url=url, timeout_s=2, max_retries=0)
    text = f"{info.value} {info.value.hint or ''}"
    assert "hunter2-pw" not in text and "ann:[redacted]@127.0.0.1" in text
