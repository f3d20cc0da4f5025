"""Distribution Hub logic (studio_kit.distribution.hub): platform choice, framing previews
per shot, thumbnail candidates and choice, metadata edits persisted as JSON, and publishing
behind Gate C: refused (nothing written) until Gate C approves, then a folder with every
deliverable, its caption sidecars, the chosen thumbnail, the edited metadata and a
provenance report of its C2PA chain; a release tampered with or a re-opened gate refused.

One tiny signed render per module (2 shots at 64x36)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from tiny_sample import sample_copy

from studio_kit.distribution import hub
from studio_kit.distribution.publish import publish
from studio_kit.errors import StudioError
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.production import gates
from studio_kit.project.series_folder import Project

OPTS = RenderOptions(engine="local", width=64, height=36, sign=True, prores=False)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub") / "lighthouse"
    sample_copy(root)
    result = render_episode(root, "01", options=OPTS, out_dir=root / "out")
    return Project.load(root), result


def _approve(project, result, approve=True):
    with project.ledger() as led:
        gates.decide_master(led, "01", result.master, approve=approve, who="producer",
                            why="" if approve else "the hook is weak")


def test_platform_choice_is_validated_and_kept_on_disk(rendered) -> None:
    project, _ = rendered
    with pytest.raises(StudioError) as err:
        hub.choose_platforms(project, "01", ["shorts", "vine"])
    assert "unknown platform 'vine'" in str(err.value) and "platforms" in str(err.value)
    state = hub.choose_platforms(project, "01", ["shorts", "youtube", "shorts"])
    assert state.platforms == ["shorts", "youtube"]
    on_disk = json.loads(hub.state_path(project, "01").read_text())
    assert on_disk["platforms"] == ["shorts", "youtube"]
    assert hub.load_state(project, "1").platforms == ["shorts", "youtube"]


def test_framing_per_shot_for_a_crop_plot(rendered) -> None:
    project, result = rendered
    src = hub.source(project, "01")
    vert = hub.framing(project, "01", "shorts", src)
    wide = hub.framing(project, "01", "youtube", src)
    assert vert.reframed and not wide.reframed
    assert (vert.crop_w, vert.crop_h) == (20, 36) and vert.aspect == "9:16"
    assert [s.shot_id for s in vert.shots] == [s.shot_id for s in result.shots]
    for s in vert.shots:
        n = len(s.t)
        assert n > 10 and len(s.crop_left) == len(s.crop_right) == len(s.subject_left) == n
        assert all(0 <= x and x + vert.crop_w <= vert.width for x in s.crop_left)
        inside = [lo >= l_ - 0.5 and hi <= r + 0.5 for l_, r, lo, hi in
                  zip(s.crop_left, s.crop_right, s.subject_left, s.subject_right, strict=True)
                  if lo is not None]
        assert inside and np.mean(inside) >= 0.98
    assert all(s.crop_left == [0] * len(s.t) for s in wide.shots)
    stills = hub.framing_stills(project, "01", vert, src)
    assert [s.shot_id for s in stills] == [s.shot_id for s in vert.shots]
    big = Image.open(io.BytesIO(stills[0].master_png))
    crop = Image.open(io.BytesIO(stills[0].crop_png))
    assert big.size == (256, hub.PREVIEW_H) and crop.size == (80, hub.PREVIEW_H)
    # the crop window is drawn on the master still (yellow outline)
    px = np.asarray(big.convert("RGB")).reshape(-1, 3)
    assert ((px[:, 0] > 200) & (px[:, 1] > 180) & (px[:, 2] < 80)).sum() > 100
    # cached per master: the second call reads the crop path back
    assert hub.framing(project, "01", "shorts").shots == vert.shots


def test_thumbnail_candidates_and_choice(rendered) -> None:
    project, _ = rendered
    cands = hub.thumbnail_candidates(project, "01", "shorts")
    assert 1 <= len(cands) <= hub.CANDIDATES
    assert len({c.shot_id for c in cands}) == len(cands)
    for c in cands:
        assert c.luma > 24 and Image.open(c.path).size == (20, 36)
    with pytest.raises(StudioError, match="not one of the thumbnail candidates") as err:
        hub.choose_thumbnail(project, "01", "shorts", 99999)
    assert "shorts.thumbnail" in str(err.value)
    state = hub.choose_thumbnail(project, "01", "shorts", cands[-1].frame)
    assert state.choices["shorts"].thumbnail_frame == cands[-1].frame
    assert hub.load_state(project, "01").choices["shorts"].thumbnail_frame == cands[-1].frame


def test_metadata_edits_are_validated_and_persisted(rendered) -> None:
    project, _ = rendered
    before = hub.state_path(project, "01").read_bytes()
    with pytest.raises(StudioError) as err:
        hub.edit_metadata(project, "01", "shorts", title="  ", description="x")
    assert "shorts.title" in str(err.value)
    with pytest.raises(StudioError, match="must not contain"):
        hub.edit_metadata(project, "01", "shorts", title="A <b>bold</b> title")
    with pytest.raises(StudioError, match="tag"):
        hub.edit_metadata(project, "01", "shorts", title="ok", tags=["x" * 101])
    assert hub.state_path(project, "01").read_bytes() == before  # nothing written
    hub.edit_metadata(project, "01", "shorts", title="Kerbrat: the light goes out",
                      description="A keeper, a storm, a lamp.", tags="mystery, sea ,mystery")
    got = hub.load_state(project, "01").choices["shorts"].metadata
    assert got.tags == ["mystery", "sea"] and got.title == "Kerbrat: the light goes out"


def test_burn_in_and_thumbnail_title_are_validated_and_persisted(rendered) -> None:
    """Per platform: a caption language to burn in (one the render has) and a title drawn
    on the thumbnail; bad values refused with the field, nothing written; the surface
    offers the render's languages and previews the titled thumbnail."""
    from widgets.distribution_hub import DistributionHub

    project, _ = rendered
    assert hub.caption_languages(project, "01") == ["en", "fr"]
    before = hub.state_path(project, "01").read_bytes()
    with pytest.raises(StudioError) as err:
        hub.choose_burn_in(project, "01", "shorts", "de")
    assert "no 'de' captions" in str(err.value) and "shorts.burn_captions" in str(err.value)
    assert "en, fr" in str(err.value)
    with pytest.raises(StudioError, match="must not contain") as err:
        hub.set_thumbnail_title(project, "01", "shorts", "A <b> title")
    assert "shorts.thumbnail_title" in str(err.value)
    assert hub.state_path(project, "01").read_bytes() == before  # nothing written
    try:
        hub.choose_burn_in(project, "01", "shorts", "fr")
        hub.set_thumbnail_title(project, "01", "shorts", "  The   storm ")
        got = hub.load_state(project, "01").choices["shorts"]
        assert got.burn_captions == "fr" and got.thumbnail_title == "The storm"
        ui = DistributionHub(project)
        ui.pick.value = "shorts"
        assert [v for _, v in ui.burn.options] == ["", "en", "fr"] and ui.burn.value == "fr"
        assert ui.thumb_title.value == "The storm"
        assert "studio-thumb-titled" in ui.thumb_preview.value
        ui.burn.value = "en"
        assert hub.load_state(project, "01").choices["shorts"].burn_captions == "en"
        ui.thumb_title.value = ""
        ui.thumb_title_btn.click()
        assert hub.load_state(project, "01").choices["shorts"].thumbnail_title is None
        assert ui.thumb_preview.value == ""
        frame = hub.thumbnail_candidates(project, "01", "shorts")[0]
        png = hub.titled_preview(project, "01", "shorts", frame.frame, "The storm")
        plain = Image.open(frame.path).convert("RGB")
        titled = Image.open(io.BytesIO(png)).convert("RGB")
        assert titled.size == plain.size and titled.tobytes() != plain.tobytes()
    finally:  # the release tests below publish without them
        hub.choose_burn_in(project, "01", "shorts", None)
        hub.set_thumbnail_title(project, "01", "shorts", None)
    got = hub.load_state(project, "01").choices["shorts"]
    assert got.burn_captions is None and got.thumbnail_title is None


def test_the_surface_shows_the_gate_c_refusal(rendered, tmp_path) -> None:
    from widgets.distribution_hub import DistributionHub

    project, _ = rendered
    ui = DistributionHub(project)
    assert "Gate C: open, publishing is refused" in ui.gate.value
    assert sorted(ui.chosen) == sorted(hub.load_state(project, "01").platforms)
    assert ui.framing.value.count("studio-framing-cell") == 2 * len(ui.chosen)
    assert ui.framing.value.count("<svg class='studio-crop-svg'") == 2 * len(ui.chosen)
    ui.dest.value = str(tmp_path / "pub")
    ui.publish_btn.click()
    assert "studio-publish-refused" in ui.result.value
    assert "nothing is published without Gate C" in ui.result.value
    assert not (tmp_path / "pub").exists()


def test_publish_is_refused_before_gate_c(rendered, tmp_path) -> None:
    project, result = rendered
    with project.ledger() as led:
        if gates.master_status(led, "01", result.master).state != gates.GateState.open:
            pytest.skip("Gate C already decided in this module")
    view = hub.gate_view(project, "01")
    assert not view.can_publish and view.state == "open"
    assert "has not been reviewed" in view.message and "studio gate" in view.message
    with pytest.raises(gates.GateError, match="nothing is published without Gate C"):
        hub.publish_episode(project, "01", "folder", dest=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not (hub.stage_dir(project, "01") / "release").exists()
    _approve(project, result, approve=False)
    assert "rejected by producer" in hub.gate_view(project, "01").message
    with pytest.raises(gates.GateError, match="rejected"):
        hub.build_release(project, "01")


@pytest.fixture(scope="module")
def published(rendered, tmp_path_factory):
    project, result = rendered
    hub.choose_platforms(project, "01", ["shorts", "youtube"])
    hub.edit_metadata(project, "01", "shorts", title="Kerbrat: the light goes out",
                      description="A keeper, a storm, a lamp.", tags=["mystery", "sea"])
    _approve(project, result)
    dest = tmp_path_factory.mktemp("published")
    receipt = hub.publish_episode(project, "01", "folder", dest=dest)
    return project, result, dest, receipt


def test_publish_to_a_folder_writes_every_file(published) -> None:
    project, result, dest, receipt = published
    assert hub.gate_view(project, "01").can_publish
    record = json.loads((dest / "publish.json").read_text())
    assert record["approved_by"] == "producer" and record["root"] == str(dest.resolve())
    stem = Path(result.master).stem
    chosen = hub.load_state(project, "01").choices["shorts"].thumbnail_frame
    for name, (w, h) in (("shorts", (1080, 1920)), ("youtube", (1920, 1080))):
        folder = dest / name
        video = folder / f"{stem}.{name}.mp4"
        with av.open(str(video)) as c:
            assert (c.streams.video[0].width, c.streams.video[0].height) == (w, h)
        ext = "srt"
        for lang in ("en", "fr"):
            assert "-->" in (folder / f"{stem}.{lang}.{ext}").read_text()
        thumb = Image.open(folder / f"{stem}.{name}.thumbnail.png")
        assert thumb.size == (w, h)
        meta = json.loads((folder / f"{stem}.{name}.json").read_text())
        assert meta["thumbnails"] == [f"{stem}.{name}.thumbnail.png"]
        html = (folder / f"{stem}.{name}.provenance.html").read_text()
        assert f"{stem}.{name}.mp4" in html and "transcoded" in html and name in html
        assert "generated by a trained algorithm (AI)" in html  # the shots, through the master
        assert "UNTRUSTED" in html and "valid" in html
        assert {f["role"] for f in next(p for p in record["platforms"]
                                        if p["platform"] == name)["files"]} == {
            "video", "thumbnail", "metadata", "caption", "provenance"}
    meta = json.loads((dest / "shorts" / f"{stem}.shorts.json").read_text())
    assert meta["title"] == "Kerbrat: the light goes out" and meta["tags"] == ["mystery", "sea"]
    yt = json.loads((dest / "youtube" / f"{stem}.youtube.json").read_text())
    assert yt["title"].endswith("Episode 01")  # not edited: the generated metadata
    # the chosen candidate is the published thumbnail (scaled to the platform size)
    cand = next(c for c in hub.thumbnail_candidates(project, "01", "shorts") if c.frame == chosen)
    want = np.asarray(Image.open(cand.path).convert("RGB").resize((1080, 1920)), float)
    got = np.asarray(Image.open(dest / "shorts" / f"{stem}.shorts.thumbnail.png"), float)
    assert np.abs(want - got).mean() < 1.0
    with project.ledger() as led:
        rows = led.query("SELECT outputs FROM stage_results WHERE stage='publish'")
    assert any(json.loads(r["outputs"])["target"] == str(dest.resolve()) for r in rows)
    assert receipt.publisher == "folder" and len(receipt.items) == 12  # 6 files x 2 platforms


def test_the_provenance_report_follows_the_c2pa_chain(published) -> None:
    from studio_kit.distribution.provenance_report import chain

    _project, result, dest, _ = published
    video = next((dest / "shorts").glob("*.shorts.mp4"))
    root = chain(video)
    assert root is not None and any("transcoded" in a for a in root.actions)
    (master,) = root.children
    assert master.relationship == "parentOf" and master.has_manifest
    shots = master.children
    assert [s.relationship for s in shots] == ["componentOf"] * 2
    assert {s.generation.get("shot_id") for s in shots} == {s.shot_id for s in result.shots}
    assert all(s.generation.get("engine") == "local" for s in shots)


def test_a_tampered_release_or_a_reopened_gate_is_refused(published, tmp_path) -> None:
    project, result, _dest, _ = published
    from studio_kit.distribution.publish import load_release

    rel = load_release(hub.stage_dir(project, "01") / "release" / "release.json")
    video = Path(rel.root) / rel.platforms[0].file("video").path
    data = video.read_bytes()
    video.write_bytes(data[:-10] + b"x" * 10)
    with pytest.raises(StudioError, match="missing or changed"):
        publish(project, rel, "folder", dest=tmp_path / "a")
    video.write_bytes(data)
    publish(project, rel, "folder", dest=tmp_path / "b")
    assert (tmp_path / "b" / "publish.json").is_file()
    master = Path(result.master)
    saved = master.read_bytes()
    try:
        master.write_bytes(saved + b"\0")
        with pytest.raises(gates.GateError, match="changed after it was approved"):
            publish(project, rel, "folder", dest=tmp_path / "c")
        assert not (tmp_path / "c").exists()
    finally:
        master.write_bytes(saved)
        _approve(project, result)


def test_publish_uploads_through_the_tus_plugin(published, monkeypatch) -> None:
    from fakes.tus_platform import FakePlatform

    project, _result, _dest, _ = published
    token = "hub-upload-secret-31337"
    monkeypatch.setenv("STUDIO_UPLOAD_TOKEN", token)
    rel_file = hub.stage_dir(project, "01") / "release" / "release.json"
    from studio_kit.distribution.publish import load_release

    rel = load_release(rel_file)
    with FakePlatform(token) as fake:
        fake.fail_patch(1, keep=4096)
        receipt = publish(project, rel, "tus", endpoint=fake.url, backoff_s=0.01)
    assert {r["platform"] for r in fake.releases.values()} == {"shorts", "youtube"}
    assert [i["id"] for i in receipt.items] == ["r1", "r2"]
    for p in project.root.rglob("*"):
        if p.is_file() and p.suffix != ".mp4":
            assert token.encode() not in p.read_bytes(), p


def test_the_surface_uploads_through_a_plugin(published, monkeypatch) -> None:
    from fakes.tus_platform import FakePlatform

    from widgets.distribution_hub import DistributionHub

    project, _result, _dest, _ = published
    token = "surface-upload-secret-4242"
    monkeypatch.setenv("STUDIO_UPLOAD_TOKEN", token)
    ui = DistributionHub(project)
    assert "Gate C: approved, may be published" in ui.gate.value
    with FakePlatform(token) as fake:
        fake.fail_next("/api/files", 503)
        ui.via.value, ui.endpoint.value = "tus", fake.url
        ui.publish_btn.click()
    assert "studio-ok" in ui.result.value and "r1" in ui.result.value, ui.result.value
    assert {r["platform"] for r in fake.releases.values()} == {"shorts", "youtube"}
    assert token not in ui.result.value and token not in ui.form.general.value


def test_a_release_with_burned_captions_and_a_titled_thumbnail(published) -> None:
    """The hub's burn-in and thumbnail title reach the release: the shorts video carries
    the English captions in its picture (metadata ``burned_captions``, the burn plan beside
    it), its thumbnail has the title drawn on the chosen candidate."""
    project, result, _dest, _ = published
    hub.choose_burn_in(project, "01", "shorts", "en")
    hub.set_thumbnail_title(project, "01", "shorts", "The storm")
    try:
        rel = hub.build_release(project, "01", sign=False)
    finally:
        hub.choose_burn_in(project, "01", "shorts", None)
        hub.set_thumbnail_title(project, "01", "shorts", None)
    root = Path(rel.root)
    stem = Path(result.master).stem
    shorts = next(p for p in rel.platforms if p.platform == "shorts")
    assert shorts.metadata["burned_captions"] == "en"
    meta = json.loads((root / shorts.file("metadata").path).read_text())
    assert meta["burned_captions"] == "en"
    plan = json.loads((root / "shorts" / f"{stem}.shorts.burn-en.json").read_text())
    assert plan["language"] == "en" and plan["cues"]
    yt = next(p for p in rel.platforms if p.platform == "youtube")
    assert yt.metadata.get("burned_captions") is None
    state = hub.load_state(project, "01").choices["shorts"]
    cands = hub.thumbnail_candidates(project, "01", "shorts")
    pick = next(c for c in cands if c.frame == state.thumbnail_frame) if \
        state.thumbnail_frame is not None else cands[0]
    plain = np.asarray(Image.open(pick.path).convert("RGB").resize((1080, 1920)), float)
    got = np.asarray(Image.open(root / shorts.file("thumbnail").path).convert("RGB"), float)
    assert got.shape == plain.shape and np.abs(plain - got).mean() > 1.0  # the title
