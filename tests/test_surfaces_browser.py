"""The studio surfaces in a real browser: Voila on a loopback port, Debian's Chromium via
Playwright. One server for the session (kernels start slowly on 2 cores); each surface
must load without a JavaScript error, show the sample project and do one real thing."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from studio_kit.cli.serve_commands import NOTEBOOKS, serve_env, voila_command
from studio_kit.project import Project

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian chromium not installed at /usr/bin/chromium "
                              "(run scripts/test-system-deps.sh as root)"),
]
ROOT = Path(__file__).resolve().parents[1]
LOAD_S = 120  # a kernel start + imports on a busy 2-core machine
TOKEN = "surface-test-token"
# Console messages that are not errors of ours: a missing favicon on a dev server.
BENIGN = ("favicon.ico",)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("surfaces")
    project = base / "lighthouse"
    shutil.copytree(ROOT / "samples" / "lighthouse", project,
                    ignore=shutil.ignore_patterns(".studio", "out"))
    port = _free_port()
    env = serve_env(project)
    env["STUDIO_PROJECTS_DIR"] = str(base / "projects")
    log = open(base / "voila.log", "wb")
    proc = subprocess.Popen(voila_command(NOTEBOOKS, port, TOKEN, python=sys.executable),
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=NOTEBOOKS)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/?token={TOKEN}", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("voila did not start:\n" + (base / "voila.log").read_text()[-3000:])
        time.sleep(0.3)
    yield {"url": url, "project": project, "base": base}
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


class Surface:
    def __init__(self, page, errors: list[str]) -> None:
        self.page, self.errors = page, errors

    def check_clean(self) -> None:
        text = self.page.inner_text("body")
        for bad in ("Traceback", "Error displaying widget", "Unable to run Panel code",
                    "javascript error"):
            assert bad not in text, f"page shows {bad!r}:\n{text[:3000]}"
        errors = [e for e in self.errors if not any(b in e for b in BENIGN)]
        assert not errors, f"JavaScript console errors: {errors}"


def open_surface(browser, server, name: str, ready: str) -> Surface:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(f"{server['url']}/voila/render/{name}.ipynb?token={TOKEN}",
              timeout=LOAD_S * 1000)
    page.wait_for_selector(ready, timeout=LOAD_S * 1000)
    return Surface(page, errors)


def test_scene_workshop_key_light_changes_preview(browser, studio_server, artifacts_dir):
    s = open_surface(browser, studio_server, "scene_workshop", ".studio-scene-workshop")
    page = s.page
    assert "The Lighthouse at Kerbrat" in page.inner_text("body")
    page.wait_for_selector(".studio-preview-note", timeout=60_000)
    img = page.locator("img.studio-preview")
    before_src = img.get_attribute("src")
    before_note = page.inner_text(".studio-preview-note")
    page.screenshot(path=str(artifacts_dir / "surface_scene_workshop_before.png"))
    # the first scene is cliff_path; its key is not back_right
    page.click(".key-back_right")
    page.wait_for_function(
        "(b) => { const n = document.querySelector('.studio-preview-note');"
        " return n && n.innerText !== b && n.innerText.includes('back right'); }",
        arg=before_note, timeout=60_000)
    assert img.get_attribute("src") != before_src
    page.screenshot(path=str(artifacts_dir / "surface_scene_workshop_after.png"))

    # a bad value: message beside the control, nothing written
    path = studio_server["project"] / "scenes" / "cliff_path.yaml"
    on_disk = path.read_bytes()
    fill = page.locator(".studio-fill-ratio input")
    fill.fill("lots")
    fill.press("Enter")
    page.wait_for_selector(".studio-field-message .studio-error", timeout=30_000)
    page.click(".studio-save-scene")
    page.wait_for_timeout(1500)
    assert path.read_bytes() == on_disk
    assert "number" in page.inner_text(".studio-field-message .studio-error")
    page.screenshot(path=str(artifacts_dir / "surface_scene_workshop_bad_value.png"))
    s.check_clean()
    page.close()


def test_talent_roster_garment_edit_writes_yaml(browser, studio_server, artifacts_dir):
    s = open_surface(browser, studio_server, "talent_roster", ".studio-talent-roster")
    page = s.page
    assert "Élodie Marchand" in page.inner_text("body").replace("\xa0", " ")
    page.locator(".lm-TabBar-tabLabel", has_text="Wardrobe").click()
    path = studio_server["project"] / "characters" / "elodie.yaml"
    before = path.read_text()
    colour = page.locator(".garment-colour-0 input")
    colour.fill("#zz0000")
    page.click(".studio-save-wardrobe")
    page.wait_for_selector(".studio-field-message .studio-error", timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "surface_talent_roster_bad_colour.png"))
    assert path.read_text() == before  # nothing written
    colour.fill("#123456")
    page.click(".studio-save-wardrobe")
    deadline = time.monotonic() + 30
    while "#123456" not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "#123456" in path.read_text()
    Project.load(studio_server["project"])  # still a valid project
    # the voice preview plays in the browser: an <audio> element with the WAV
    page.locator(".lm-TabBar-tabLabel", has_text="Voice").click()
    page.click(".studio-voice-preview")
    page.wait_for_selector("audio.studio-voice-audio[src]", state="attached", timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "surface_talent_roster.png"))
    s.check_clean()
    page.close()


def test_project_builder_creates_valid_project(browser, studio_server, artifacts_dir):
    s = open_surface(browser, studio_server, "project_builder", ".studio-builder")
    page = s.page
    page.locator(".studio-title input").fill("Harbour Lights")
    page.locator(".studio-folder input").fill("bad/name")
    page.click(".studio-build")
    page.wait_for_selector(".studio-field-message .studio-error", timeout=30_000)
    assert not (studio_server["base"] / "projects").exists() or not any(
        (studio_server["base"] / "projects").iterdir())
    page.locator(".studio-folder input").fill("harbour-lights")
    page.click(".studio-build")
    page.wait_for_selector(".studio-built", timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "surface_project_builder.png"))
    built = Project.load(studio_server["base"] / "projects" / "harbour-lights")
    assert built.series.title == "Harbour Lights"
    assert len(built.characters) == 3 and built.storyboard("01").shots
    s.check_clean()
    page.close()


def test_command_center_launches_run_with_progress(browser, studio_server, artifacts_dir):
    s = open_surface(browser, studio_server, "command_center", ".studio-command-center")
    page = s.page
    body = page.inner_text("body")
    assert "The Lighthouse at Kerbrat" in body and "Gate queue" in body
    # a tiny run: 160x90 frames
    for name, value in (("width", "160"), ("height", "90")):
        field = page.locator(f".param-{name} input")
        field.fill(value)
        field.press("Tab")
    page.click(".studio-run-start")
    page.wait_for_selector(".studio-run-state[data-status='running']", timeout=30_000)
    page.wait_for_function(
        "() => { const s = document.querySelector('.studio-run-state');"
        " return s && /: [1-9][0-9]*\\//.test(s.innerText); }", timeout=120_000)
    page.screenshot(path=str(artifacts_dir / "surface_command_center_running.png"))
    # the HoloViews budget chart arrives after the page is interactive (Bokeh canvas)
    page.wait_for_selector(".studio-budget canvas", state="attached", timeout=180_000)
    page.wait_for_selector(".studio-run-state[data-status='ok'], "
                           ".studio-run-state[data-status='failed']", timeout=240_000)
    page.screenshot(path=str(artifacts_dir / "surface_command_center_done.png"))
    state = page.locator(".studio-run-state")
    assert state.get_attribute("data-status") == "ok", page.inner_text("body")[-2000:]
    s.check_clean()
    page.close()


def test_server_needs_the_token(studio_server):
    import http.client
    from urllib.parse import urlparse

    u = urlparse(studio_server["url"])
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", "/voila/render/talent_roster.ipynb")
    resp = conn.getresponse()
    assert resp.status in (302, 401, 403)
    assert "login" in (resp.getheader("Location") or "login")
    conn.close()
