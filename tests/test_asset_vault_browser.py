"""Asset Vault in a real browser (``studio serve`` on loopback, Debian Chromium): the page
loads with no JavaScript error and shows the rendered takes with thumbnails; picking a take
opens its provenance chain (request, engine call, stages), its cost and where it is used;
a filter narrows the list. Screenshots go to test-artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from studio_kit.cli.serve_commands import running_server
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.project import Project

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian chromium not installed at /usr/bin/chromium "
                              "(run scripts/test-system-deps.sh as root)"),
]
ROOT = Path(__file__).resolve().parents[1]
LOAD_S = 120
TOKEN = "asset-vault-token"
BENIGN = ("favicon.ico",)


@pytest.fixture(scope="module")
def vault_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("assetvault")
    root = base / "lighthouse"
    shutil.copytree(ROOT / "samples" / "lighthouse", root,
                    ignore=shutil.ignore_patterns(".studio", "out"))
    project = Project.load(root)
    sb = project.storyboard("01").model_copy(deep=True)
    sb.acts = sb.acts[:1]
    sb.acts[0].shots = sb.acts[0].shots[:2]
    project.save_storyboard(sb)
    result = render_episode(root, "01", options=RenderOptions(
        engine="local", width=64, height=36, sign=False, prores=False), out_dir=root / "out")
    with running_server(root, token=TOKEN, log=base / "serve.log",
                        args=["--kernel-grace=3", "--cull-idle=60"]) as srv:
        yield {"url": srv.url, "project": root, "result": result}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def test_asset_vault_provenance_opened(browser, vault_server, artifacts_dir) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(f"{vault_server['url']}/voila/render/asset_vault.ipynb?token={TOKEN}",
              timeout=LOAD_S * 1000)
    try:
        page.wait_for_selector(".studio-asset-vault img.studio-asset-thumb",
                               timeout=LOAD_S * 1000)
    except Exception:
        raise AssertionError(f"no asset grid; page shows:\n{page.inner_text('body')[:3000]}\n"
                             f"console: {errors}") from None
    text = page.inner_text("body")
    assert "Asset Vault" in text and "The Lighthouse at Kerbrat" in text
    for bad in ("Traceback", "Error displaying widget"):
        assert bad not in text
    page.screenshot(path=str(artifacts_dir / "asset_vault_loaded.png"), full_page=True)

    take = vault_server["result"].shots[0]
    select = page.locator(".studio-asset-pick select")
    select.select_option(value=None, label=next(
        o for o in select.locator("option").all_inner_texts()
        if o.startswith("take") and take.shot_id in o))
    page.wait_for_selector(".studio-provenance-chain", timeout=60_000)
    detail = page.inner_text(".studio-asset-detail")
    assert take.asset in detail
    assert "request" in detail and "engine_call" in detail and "generate" in detail
    assert f"current take of {take.shot_id}" in detail and "USD" in detail
    page.wait_for_selector("video.studio-asset-player", timeout=30_000)
    page.screenshot(path=str(artifacts_dir / "asset_vault_provenance.png"), full_page=True)

    # a filter narrows the grid: only the two takes
    kind = page.locator(".studio-asset-vault select").nth(2)
    kind.select_option(label="take")
    page.wait_for_function("() => document.querySelector('.studio-asset-count')"
                           ".innerText.startsWith('2 of')", timeout=30_000)
    errors = [e for e in errors if not any(b in e for b in BENIGN)]
    assert not errors, f"JavaScript console errors: {errors}"
    page.close()
