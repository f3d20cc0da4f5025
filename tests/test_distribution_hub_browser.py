"""Distribution Hub in a real browser (``studio serve`` on loopback, Debian Chromium): the
page loads with no JavaScript error and shows Gate C open; publishing is refused (the
refusal shown, nothing written); ticking two platforms shows each shot's framing side by
side (master still with the crop, the cropped picture, a crop plot); a thumbnail is picked
and the metadata edited (both on disk); once Gate C is approved, publish writes every
deliverable, its captions, the thumbnail, the metadata JSON and the provenance report to
the folder; English captions chosen to be burned into the shorts video and a title drawn
on its thumbnail reach the published files. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from browser_support import BENIGN, LOAD_S, MARKS
from PIL import Image
from tiny_sample import sample_copy, tiny_render

from studio_kit.cli.serve_commands import running_server
from studio_kit.distribution import hub
from studio_kit.production import gates
from studio_kit.project.series_folder import Project

pytestmark = MARKS
TOKEN = "distribution-hub-token"


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("distributionhub")
    root = base / "lighthouse"
    sample_copy(root)
    result = tiny_render(root, sign=True)
    with running_server(root, token=TOKEN, log=base / "serve.log",
                        args=["--kernel-grace=3", "--cull-idle=60"]) as srv:
        yield {"url": srv.url, "project": root, "result": result, "base": base}


def _state(root: Path) -> dict:
    path = root / "episodes" / "01" / hub.HUB_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def test_distribution_hub_previews_picks_and_publishes(browser, hub_server,
                                                       artifacts_dir) -> None:
    root, result = hub_server["project"], hub_server["result"]
    dest = hub_server["base"] / "published"
    page = browser.new_page(viewport={"width": 1500, "height": 1200})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(f"{hub_server['url']}/voila/render/distribution_hub.ipynb?token={TOKEN}",
              timeout=LOAD_S * 1000)
    try:
        page.wait_for_selector(".studio-distribution-hub .studio-gate-state",
                               timeout=LOAD_S * 1000)
    except Exception:
        raise AssertionError(f"no hub; page shows:\n{page.inner_text('body')[:3000]}\n"
                             f"console: {errors}") from None
    text = page.inner_text("body")
    assert "Distribution Hub" in text and "The Lighthouse at Kerbrat" in text
    for bad in ("Traceback", "Error displaying widget"):
        assert bad not in text
    gate = page.inner_text(".studio-gate-c")
    assert "Gate C: open, publishing is refused" in gate and "has not been reviewed" in gate

    # publish before Gate C: refused, shown, nothing written
    page.fill(".studio-publish-dest input", str(dest))
    page.press(".studio-publish-dest input", "Enter")
    page.click("button.studio-publish")
    page.wait_for_selector(".studio-publish-refused", timeout=60_000)
    assert "nothing is published without Gate C" in page.inner_text(".studio-publish-result")
    assert not dest.exists()
    page.screenshot(path=str(artifacts_dir / "distribution_hub_refused.png"), full_page=True)

    # choose two platforms: each shot's framing side by side
    page.click(".studio-platform-shorts input[type=checkbox]")
    page.wait_for_selector(".studio-framing-cell[data-platform='shorts'] img.studio-framing-crop",
                           timeout=LOAD_S * 1000)
    page.click(".studio-platform-feed-square input[type=checkbox]")
    page.wait_for_selector(".studio-framing-cell[data-platform='feed-square']",
                           timeout=LOAD_S * 1000)
    shots = [s.shot_id for s in result.shots]
    for sid in shots:
        for name in ("shorts", "feed-square"):
            cell = page.locator(f".studio-framing-cell[data-platform='{name}'][data-shot='{sid}']")
            assert cell.locator("img.studio-framing-master").count() == 1
            assert cell.locator(".studio-crop-plot svg polygon").count() == 1
    assert page.locator(".studio-crop-plot[data-platform='shorts'] svg polyline").count() >= 2
    widths = page.eval_on_selector_all(
        f".studio-framing-cell[data-shot='{shots[0]}'] img.studio-framing-crop",
        "els => els.map(e => e.naturalWidth)")
    assert len(widths) == 2 and widths[0] < widths[1]  # 9:16 narrower than 1:1
    assert _state(root)["platforms"] == ["shorts", "feed-square"]
    page.screenshot(path=str(artifacts_dir / "distribution_hub_framing.png"), full_page=True)

    # pick a thumbnail for shorts (the platform picked first)
    buttons = page.locator(".studio-thumb-pick button")
    assert buttons.count() >= 2
    label = buttons.nth(1).inner_text()
    frame = int(label.split()[-1])
    buttons.nth(1).click()
    page.wait_for_selector(f".studio-thumb-card[data-frame='{frame}'][style*='outline']",
                           timeout=60_000)
    assert _state(root)["choices"]["shorts"]["thumbnail_frame"] == frame

    # edit the metadata: a bad title is refused beside the form, then a good one is kept
    page.fill(".studio-meta-title input", "A <b> title")
    page.click(".studio-save-metadata")
    page.wait_for_selector(".studio-form-message .studio-error", timeout=60_000)
    assert "must not contain" in page.inner_text(".studio-form-message")
    assert "metadata" not in _state(root)["choices"]["shorts"]
    page.fill(".studio-meta-title input", "Kerbrat: the light goes out")
    page.fill(".studio-meta-description textarea", "A keeper, a storm, a lamp.")
    page.fill(".studio-meta-tags input", "mystery, sea")
    page.click(".studio-save-metadata")
    page.wait_for_selector(".studio-form-message .studio-ok", timeout=60_000)
    meta = _state(root)["choices"]["shorts"]["metadata"]
    assert meta == {"title": "Kerbrat: the light goes out",
                    "description": "A keeper, a storm, a lamp.", "tags": ["mystery", "sea"]}

    # burn English captions into the shorts video; a title on its thumbnail (previewed)
    page.select_option(".studio-burn-in select", label="en")
    page.locator(".studio-form-message .studio-ok", has_text="en captions burned in").wait_for(
        timeout=60_000)
    assert _state(root)["choices"]["shorts"]["burn_captions"] == "en"
    page.fill(".studio-thumb-title input", "The storm")
    page.click(".studio-thumb-title-apply")
    page.wait_for_selector(".studio-thumb-title-preview img.studio-thumb-titled",
                           timeout=60_000)
    assert _state(root)["choices"]["shorts"]["thumbnail_title"] == "The storm"
    assert "burn_captions" not in _state(root)["choices"].get("feed-square", {})
    page.screenshot(path=str(artifacts_dir / "distribution_hub_burn_in.png"), full_page=True)

    # the producer approves Gate C (elsewhere); the hub sees it and publishes
    project = Project.load(root)
    with project.ledger() as led:
        gates.decide_master(led, "01", result.master, approve=True, who="producer")
    page.click(".studio-gate-refresh")
    page.wait_for_selector(".studio-gate-approved", timeout=60_000)
    page.click("button.studio-publish")
    page.wait_for_selector(".studio-publish-result .studio-ok", timeout=LOAD_S * 3000)
    page.screenshot(path=str(artifacts_dir / "distribution_hub_published.png"), full_page=True)
    stem = Path(result.master).stem
    for name in ("shorts", "feed-square"):
        folder = dest / name
        assert (folder / f"{stem}.{name}.mp4").stat().st_size > 10_000
        for lang in ("en", "fr"):
            assert "-->" in (folder / f"{stem}.{lang}.srt").read_text()
        assert (folder / f"{stem}.{name}.thumbnail.png").stat().st_size > 1000
        assert "transcoded" in (folder / f"{stem}.{name}.provenance.html").read_text()
    shorts = json.loads((dest / "shorts" / f"{stem}.shorts.json").read_text())
    assert shorts["title"] == "Kerbrat: the light goes out" and shorts["tags"] == ["mystery",
                                                                                  "sea"]
    assert shorts["burned_captions"] == "en"  # the burn-in chosen on the page
    square = json.loads((dest / "feed-square" / f"{stem}.feed-square.json").read_text())
    assert square.get("burned_captions") is None
    cand = next(c for c in hub.thumbnail_candidates(root, "01", "shorts") if c.frame == frame)
    want = np.asarray(Image.open(cand.path).convert("RGB").resize((1080, 1920)), float)
    got = np.asarray(Image.open(dest / "shorts" / f"{stem}.shorts.thumbnail.png"), float)
    assert np.abs(want - got).mean() > 1.0  # the chosen frame with the title drawn on
    record = json.loads((dest / "publish.json").read_text())
    assert [p["platform"] for p in record["platforms"]] == ["shorts", "feed-square"]
    errors = [e for e in errors if not any(b in e for b in BENIGN)]
    assert not errors, f"JavaScript console errors: {errors}"
    page.close()
