"""Feature Bay in a real browser (``studio serve`` on loopback, Debian Chromium) over two tiny
rendered series: a reviewer picks episodes across both series into a new feature, adds one
more, sees the running time against the format and the act / mood arc chart, reorders the
sources, adds a chapter card, sets a mood, previews the credits and launches the export
(refused until the masters pass Gate C) with a progress bar. Asserted on disk: features/<id>.yaml after each gesture, and the
exported MP4 probed with PyAV (its chapters). Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from pathlib import Path

import av
import pytest
import yaml
from browser_support import BENIGN, LOAD_S, MARKS
from feature_bay_helpers import approve_all, two_series

from studio_kit.cli.serve_commands import running_server
from studio_kit.feature import bay

pytestmark = MARKS
TOKEN = "feature-bay-token"


@pytest.fixture(scope="module")
def feature_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("featurebaybrowser")
    renders = two_series(base)  # rendered, not yet approved at Gate C
    # the surface's root is the folder above the served series: both series, features/
    with running_server(base / "lighthouse", token=TOKEN, log=base / "serve.log",
                        args=["--kernel-grace=3", "--cull-idle=60"]) as srv:
        yield {"url": srv.url, "root": base, "renders": renders}


def wait_file(path: Path, check, timeout: float = 60.0, page=None):
    """Poll ``path`` (YAML) until ``check(data)`` holds; the surface saves on each gesture."""
    deadline = time.monotonic() + timeout
    data = None
    while time.monotonic() < deadline:
        if path.is_file():
            data = yaml.safe_load(path.read_text())
            if data and check(data):
                return data
        time.sleep(0.2)
    msg = page.inner_text(".studio-form-message") if page is not None else ""
    raise AssertionError(f"{path} never matched; last: {data}; page says: {msg}")


def pick_source(page, label: str, key: str) -> None:
    """Choose a source in the picker once it lists it; wait until the kernel has it (the
    table highlights the selected source)."""
    page.wait_for_selector(f".studio-source-pick select option[value='{label}']",
                           state="attached", timeout=30_000)
    page.select_option(".studio-source-pick select", value=label)
    index = int(label.split(".")[0]) - 1
    page.wait_for_selector(f".studio-source-selected[data-index='{index}'][data-key='{key}']",
                           timeout=30_000)


def order(data) -> list[str]:
    return [f"{s['series']} {s['episode']}" for s in data["sources"]]


def test_feature_bay_pick_reorder_card_credits_export(browser, feature_server,
                                                      artifacts_dir) -> None:
    root = feature_server["root"]
    spec = root / "features" / "tales.yaml"
    labels = {e.key: e.label for e in bay.rendered_episodes(root)}
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(f"{feature_server['url']}/voila/render/feature_bay.ipynb?token={TOKEN}",
              timeout=LOAD_S * 1000)
    try:
        page.wait_for_selector(".studio-feature-bay .studio-library select option",
                               timeout=LOAD_S * 1000)
    except Exception:
        raise AssertionError(f"no library; page shows:\n{page.inner_text('body')[:3000]}\n"
                             f"console: {errors}") from None
    text = page.inner_text("body")
    assert "Feature Bay" in text and "3 rendered episodes in 2 series" in text
    # ipywidgets shows option text with no-break spaces; option values are the labels
    options = [o.replace("\xa0", " ") for o in
               page.locator(".studio-library select option").all_inner_texts()]
    assert len(options) == 3 and any("Harbour Lights" in o for o in options)

    # pick episodes across the two series, create the feature
    page.select_option(".studio-library select",
                       value=[labels["lighthouse/01"], labels["harbour/01"]])
    page.fill(".studio-new-id input", "tales")
    page.fill(".studio-new-title input", "Tales of the Coast")
    page.select_option(".studio-new-format select", "anthology")
    page.click(".studio-create-feature")
    data = wait_file(spec, lambda d: len(d["sources"]) == 2, page=page)
    # the library lists by series: the feature starts with harbour 01
    assert order(data) == ["harbour 01", "lighthouse 01"] and data["format"] == "anthology"
    assert data["title"] == "Tales of the Coast"
    page.wait_for_selector(".studio-running[data-status='ok']", timeout=30_000)

    # one more episode, then reorder: harbour 01 goes last (two steps later)
    page.select_option(".studio-library select", value=[labels["lighthouse/02"]])
    page.click(".studio-add-sources")
    wait_file(spec, lambda d: len(d["sources"]) == 3, page=page)
    page.wait_for_selector(".studio-source-selected[data-index='2'][data-key='lighthouse/02']",
                           timeout=30_000)  # the added episode is selected
    pick_source(page, "1. harbour 01", "harbour/01")
    page.click(".studio-source-down")
    wait_file(spec, lambda d: order(d) == ["lighthouse 01", "harbour 01", "lighthouse 02"],
              page=page)
    page.wait_for_selector(".studio-source-selected[data-index='1'][data-key='harbour/01']",
                           timeout=30_000)
    page.click(".studio-source-down")
    data = wait_file(spec, lambda d: order(d) == ["lighthouse 01", "lighthouse 02",
                                                  "harbour 01"], page=page)
    assert [s["act"] for s in data["sources"]] == [1, 1, 2]  # acts run forwards again

    # a chapter card before the other series, and its mood
    pick_source(page, "3. harbour 01", "harbour/01")
    page.fill(".studio-card-text input", "Part Two")
    page.click(".studio-add-card")
    data = wait_file(spec, lambda d: d.get("cards"), page=page)
    assert data["cards"] == [{"before": 2, "text": "Part Two", "seconds": 3.0}]
    page.select_option(".studio-source-mood select", "storm")
    page.click(".studio-source-apply")
    data = wait_file(spec, lambda d: d["sources"][2].get("mood") == "storm", page=page)
    assert data["sources"][2]["series"] == "harbour"
    page.wait_for_selector(".studio-sources .studio-card-row[data-before='2']", timeout=30_000)

    # running time against the format, act table, the arc chart
    rt = page.inner_text(".studio-running-time")
    expected = bay.running_time(bay.load(root, "tales"), root)
    assert f"{expected.seconds:.1f} s" in rt and "anthology" in rt and "ok" in rt
    acts = page.inner_text(".studio-acts")
    assert "harbour 01" in acts and "storm" in acts
    chart = ".studio-arc-chart .bk-Canvas, .studio-arc-chart canvas"
    page.wait_for_selector(f"{chart}, .studio-chart-error", timeout=LOAD_S * 1000)
    assert page.locator(".studio-chart-error").count() == 0, page.inner_text(
        ".studio-arc-chart")
    page.screenshot(path=str(artifacts_dir / "feature_bay_arc.png"), full_page=True)

    # the credits preview
    page.click(".studio-preview-credits")
    page.wait_for_selector("pre.studio-credits", timeout=60_000)
    credits = page.inner_text("pre.studio-credits")
    want = bay.credits_preview(bay.load(root, "tales"), root)
    assert "Harbour Lights" in credits and "The Lighthouse at Kerbrat" in credits
    for line in want.splitlines():
        if "voice:" in line:
            assert line.split("  voice:")[0] in credits

    # the export needs Gate C on every master: refused first, nothing written
    page.click(".studio-export")
    page.wait_for_selector(".studio-export-error", timeout=60_000)
    assert "has not been reviewed" in page.inner_text(".studio-export-status")
    assert not (root / "deliver" / "tales" / "tales.mp4").exists()
    # a reviewer approves the masters (command center / studio gate); the library shows it
    approve_all(feature_server["renders"])
    page.click(".studio-refresh-library")
    page.wait_for_function("() => [...document.querySelectorAll('.studio-library option')]"
                           ".every(o => o.value.endsWith('Gate C: approved'))",
                           timeout=30_000)

    # the export, with its progress bar
    page.wait_for_selector(".studio-export:not([disabled])", timeout=30_000)
    page.click(".studio-export")
    page.wait_for_selector(".studio-export-error", state="detached", timeout=30_000)
    widths: list[str] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        widths.append(page.eval_on_selector(
            ".studio-export-progress .progress-bar", "e => e.style.width"))
        if page.locator(".studio-export-done, .studio-export-error").count():
            break
        time.sleep(0.25)
    assert page.locator(".studio-export-error").count() == 0, page.inner_text(
        ".studio-export-status")
    page.wait_for_function("() => document.querySelector('.studio-export-progress "
                           ".progress-bar').style.width === '100%'", timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "feature_bay_exported.png"), full_page=True)
    mp4 = root / "deliver" / "tales" / "tales.mp4"
    assert mp4.is_file() and str(mp4) in page.inner_text(".studio-export-result")
    with av.open(str(mp4)) as c:
        titles = [ch["metadata"].get("title") for ch in c.chapters()]
        assert c.streams.video and c.streams.audio
        seconds = float(c.duration / av.time_base)
    assert titles == ["Title", "lighthouse 01", "lighthouse 02", "harbour 01", "End credits"]
    assert seconds == pytest.approx(expected.seconds, abs=0.3)
    real = [e for e in errors if not any(b in e for b in BENIGN)]
    assert not real, f"JavaScript console errors: {real}"
    for bad in ("Traceback", "Error displaying widget"):
        assert bad not in page.inner_text("body")
    page.close()
