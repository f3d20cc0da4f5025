"""Asset Vault in a real browser (``studio serve`` on loopback, Debian Chromium): the page
loads with no JavaScript error and shows the rendered takes with thumbnails; picking a take
opens its provenance chain (request, engine call, stages), its cost and where it is used;
a filter narrows the list. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest
from browser_support import BENIGN, LOAD_S, MARKS
from tiny_sample import sample_copy, tiny_render

from studio_kit.cli.serve_commands import running_server

pytestmark = MARKS
TOKEN = "asset-vault-token"


@pytest.fixture(scope="module")
def vault_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("assetvault")
    root = base / "lighthouse"
    sample_copy(root)
    result = tiny_render(root)
    with running_server(root, token=TOKEN, log=base / "serve.log",
                        args=["--kernel-grace=3", "--cull-idle=60"]) as srv:
        yield {"url": srv.url, "project": root, "result": result}


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
