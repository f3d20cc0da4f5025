"""The Edit Suite in a real browser (the real ``studio serve``, Debian Chromium): a trim
saved on the page re-renders the episode and the new master is shorter by the trimmed
amount (probed with PyAV); the grade compare shows a before and an after frame."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import av
import pytest
from browser_support import BENIGN, LOAD_S, MARKS, chromium
from test_edit_suite import OPTS, SHOT, small_sample

from studio_kit.cli.serve_commands import running_server
from studio_kit.pipeline import render_episode
from studio_kit.project.series_folder import Project

pytestmark = MARKS
TOKEN = "edit-suite-token"


def master_seconds(path: str | Path) -> float:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return float(v.frames / v.average_rate)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("edit-suite")
    project = small_sample(base / "lighthouse")
    first = render_episode(project, "01", options=OPTS, out_dir=project / "out")
    env = {**os.environ, "STUDIO_PROJECTS_DIR": str(base / "projects"),
           "STUDIO_EDIT_RENDER": OPTS.model_dump_json()}
    with running_server(project, token=TOKEN, env=env, log=base / "serve.log",
                        args=["--kernel-grace=3", "--cull-idle=60"]) as srv:
        yield {"url": srv.url, "project": project, "first": first,
               "first_s": master_seconds(first.master)}


@pytest.fixture(scope="module")
def page(server):
    with chromium() as b:
        pg = b.new_page(viewport={"width": 1400, "height": 1100})
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        pg.goto(f"{server['url']}/voila/render/edit_suite.ipynb?token={TOKEN}",
                timeout=LOAD_S * 1000)
        pg.wait_for_selector(".studio-edit-suite", timeout=LOAD_S * 1000)
        pg.errors = errors
        yield pg


def check_clean(pg) -> None:
    text = pg.inner_text("body")
    for bad in ("Traceback", "Error displaying widget"):
        assert bad not in text, text[:3000]
    errors = [e for e in pg.errors if not any(b in e for b in BENIGN)]
    assert not errors, errors


def test_trim_rerenders_a_shorter_master(page, server, artifacts_dir):
    pg = page
    pg.select_option(".studio-edit-shot select", SHOT)
    pg.wait_for_function("() => document.body.innerText.includes('take ')", timeout=60_000)
    path = server["project"] / "episodes" / "01" / "storyboard.yaml"
    on_disk = path.read_bytes()
    # a bad trim: message beside the control, nothing written
    box = pg.locator(".studio-trim-in input")
    box.fill("-0.5")
    box.press("Enter")
    pg.click(".studio-save-edits")
    pg.wait_for_selector(".studio-field-message .studio-error", timeout=30_000)
    assert "negative" in pg.inner_text(".studio-edit-suite")
    assert path.read_bytes() == on_disk
    pg.screenshot(path=str(artifacts_dir / "edit_suite_bad_trim.png"))

    box.fill("0")
    box.press("Enter")
    out = pg.locator(".studio-trim-out input")
    out.fill("0.5")
    out.press("Enter")
    t0 = time.perf_counter()
    pg.click(".studio-save-edits")
    pg.wait_for_selector(".studio-ok", timeout=30_000)
    save_s = time.perf_counter() - t0
    assert Project.load(server["project"]).storyboard("01").shot(SHOT).trim_out_s == 0.5
    pg.click(".studio-rerender")
    pg.wait_for_selector(".studio-render-done", timeout=600_000)
    check_clean(pg)
    status = pg.inner_text(".studio-render-status")
    assert "grade" in status and "generate" not in status, status
    pg.screenshot(path=str(artifacts_dir / "edit_suite_trim_rerendered.png"))
    master = Path(server["first"].master)
    shorter = server["first_s"] - master_seconds(master)
    assert shorter == pytest.approx(0.5, abs=1 / 24 + 1e-6), shorter
    (artifacts_dir / "edit_suite_browser.json").write_text(json.dumps(
        {"save_click_to_ok_s": round(save_s, 3), "status": status}, indent=1))


def test_grade_compare_shows_before_and_after(page, server, artifacts_dir):
    pg = page
    readout = pg.locator(".studio-grade-exposure .widget-readout")
    readout.click()
    readout.fill("1.0")
    readout.press("Enter")
    pg.click(".studio-compare-grade")
    pg.wait_for_function(
        "() => { const a = document.querySelector('.studio-compare-after');"
        " const b = document.querySelector('.studio-compare-before');"
        " return a && b && a.src && b.src && a.src.startsWith('blob:') || "
        "(a && a.naturalWidth > 0 && b.naturalWidth > 0); }", timeout=120_000)
    pg.wait_for_selector(".studio-compare-note", timeout=60_000)
    check_clean(pg)
    before = pg.locator("img.studio-compare-before").get_attribute("src")
    after = pg.locator("img.studio-compare-after").get_attribute("src")
    assert before and after and before != after
    pg.screenshot(path=str(artifacts_dir / "edit_suite_grade_compare.png"))
