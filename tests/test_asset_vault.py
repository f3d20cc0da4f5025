"""The asset index (studio_kit.surfaces.asset_vault) and the Asset Vault component on a tiny rendered copy
of the sample (2 shots, 64x36): every take has its provenance chain (request with prompt,
engine call, stages), its cost from the ledger and where it is used; the filters narrow
the list; the component shows a thumbnail, a player and the provenance of a picked asset."""

from __future__ import annotations

import pytest
from tiny_sample import sample_copy, tiny_render

from studio_kit.project.series_folder import Project
from studio_kit.store.ledger import Ledger
from studio_kit.surfaces.asset_vault import asset_index, search, thumbnail


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("vault") / "lighthouse"
    sample_copy(root)
    sb = Project.load(root).storyboard("01")
    result = tiny_render(root)
    take = result.shots[0].asset
    with Ledger(root / ".studio" / "ledger.sqlite") as led, led.transaction() as c:
        c.execute("UPDATE engine_calls SET cost=1.25 WHERE asset=?", (take,))
    return {"root": root, "result": result, "sb": sb}


def test_index_takes_provenance_cost_use(rendered) -> None:
    project = Project.load(rendered["root"])
    assets = {a.digest: a for a in asset_index(project)}
    vault_objects = {d for d, _, _ in project.vault().iter_objects()}
    assert set(assets) == vault_objects  # every object, once
    first, second = rendered["result"].shots[:2]
    take = assets[first.asset]
    assert take.kind == "take" and take.engine == "local" and take.shot == first.shot_id
    assert take.cost == pytest.approx(1.25) and take.paid
    assert take.seed == first.seed and take.media == "video"
    assert take.prompt and "shot" in take.prompt.lower()
    whats = [s.what for s in take.provenance]
    assert whats[:2] == ["request", "engine_call"] and "stage" in whats
    assert "episode 01: current take of " + first.shot_id in take.used_in
    expected_chars = [c.character for c in rendered["sb"].shots[0].characters]
    assert take.characters == expected_chars
    kinds = {a.kind for a in assets.values()}
    assert {"take", "reference", "audio", "master", "request"} <= kinds
    master = [a for a in assets.values() if a.kind == "master"]
    assert master and all(a.used_in for a in master)
    assert assets[second.asset].cost == 0.0


def test_search_by_shot_character_engine_date(rendered) -> None:
    project = Project.load(rendered["root"])
    assets = asset_index(project)
    s1 = rendered["result"].shots[0].shot_id
    by_shot = search(assets, shot=s1, kind="take")
    assert [a.shot for a in by_shot] == [s1]
    char = rendered["sb"].shots[0].characters[0].character
    assert all(char in a.characters for a in search(assets, character=char))
    assert search(assets, character=char)
    assert {a.engine for a in search(assets, engine="local")} == {"local"}
    assert search(assets, engine="warp") == []
    assert search(assets, since="2999-01-01") == []
    assert len(search(assets, since="2000-01-01")) == len(assets)


def test_thumbnail_and_component(rendered) -> None:
    from widgets.asset_vault import AssetVault

    project = Project.load(rendered["root"])
    take = next(a for a in asset_index(project) if a.kind == "take")
    png = thumbnail(project, take)
    assert png and png[:8] == b"\x89PNG\r\n\x1a\n"
    ui = AssetVault(project)
    assert "studio-asset-thumb" in ui.grid.value
    ui.f_kind.value = "take"
    assert len(ui.filtered()) == 2 and "2 of" in ui.count.value
    ui.pick.value = take.digest
    assert "Provenance chain" in ui.detail.value and "engine_call" in ui.detail.value
    assert "1.25 USD (paid)" in ui.detail.value or take.cost == 0
    assert "<video" in ui.preview.value
