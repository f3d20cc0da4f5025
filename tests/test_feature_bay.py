"""Feature Bay logic (studio_kit.feature.bay) on two tiny rendered series: the library
across series, building and editing features/<id>.yaml (cards follow their source, comments
kept), running time against the format, the act / mood arc and its plot, the credits
preview, the export with progress (MP4 probed with PyAV), the widget driven in process,
and the per-feature papermill notebook."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
import yaml
from feature_bay_helpers import approve_all, two_series

from studio_kit.errors import StudioError
from studio_kit.feature import bay
from studio_kit.feature.model import load_feature
from studio_kit.models.feature import FeatureFormat
from studio_kit.project.series_folder import Project


def _stage(ev) -> str:
    """The export's progress event as the stage it reports ("done" for the end)."""
    return "done" if ev.status == "done" else ev.stage


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    base = tmp_path_factory.mktemp("featurebay")
    renders = two_series(base)
    approve_all(renders)
    return base, renders


def _fresh(base: Path) -> None:
    for p in (base / "features").glob("*.yaml") if (base / "features").is_dir() else []:
        p.unlink()


def test_library_lists_rendered_episodes_across_series(root):
    base, renders = root
    lib = bay.rendered_episodes(base)
    assert [e.key for e in lib] == ["harbour/01", "lighthouse/01", "lighthouse/02"]
    by = {e.key: e for e in lib}
    assert by["harbour/01"].series_title == "Harbour Lights"
    assert by["lighthouse/01"].series_title == "The Lighthouse at Kerbrat"
    for (series, ep), r in renders.items():
        e = by[f"{series}/{ep}"]
        assert e.duration_s == pytest.approx(r.duration_s)
        assert (e.width, e.height) == (64, 36) and e.master == r.master
    # an episode whose master is gone is not offered
    assert bay.read_render(base / "harbour", base / "harbour" / "nope.json", base) is None
    with pytest.raises(StudioError, match="no such folder"):
        bay.rendered_episodes(base / "missing")


def test_build_edit_save_cards_follow_their_source(root):
    base, _ = root
    _fresh(base)
    lib = {e.key: e for e in bay.rendered_episodes(base)}
    f = bay.new_feature("tales", "Tales of the Coast", "anthology",
                        [lib["lighthouse/01"], lib["harbour/01"]])
    assert [(s.series, s.act) for s in f.sources] == [("lighthouse", 1), ("harbour", 2)]
    f = bay.add_sources(f, [lib["lighthouse/02"]])
    assert f.sources[-1].act == 2  # the last source's act
    f = bay.add_card(f, 1, "Part Two\nHarbour Lights", 1.0)
    f = bay.move_source(f, 2, -1)  # lighthouse 02 before harbour 01
    assert [f"{s.series} {s.episode}" for s in f.sources] == [
        "lighthouse 01", "lighthouse 02", "harbour 01"]
    assert [(c.before, c.text.split()[0]) for c in f.cards] == [(2, "Part")]  # still harbour
    f = bay.set_source(f, 1, act=1, mood="tense")
    path = bay.save(base, f)
    path.write_text("# the anthology for the festival\n" + path.read_text())
    loaded = bay.load(base, "tales")
    assert loaded == f
    again = bay.set_source(loaded, 0, mood="calm")
    bay.save(base, again, base=loaded)
    text = path.read_text()
    assert text.startswith("# the anthology for the festival")  # comments kept
    disk = yaml.safe_load(text)
    assert disk["sources"][0]["mood"] == "calm" and disk["cards"][0]["before"] == 2
    assert bay.list_features(base) == ["tales"]
    # bad edits: clear errors, nothing changed
    with pytest.raises(StudioError, match="no source 7"):
        bay.move_source(again, 7, 1)
    with pytest.raises(StudioError, match="needs text"):
        bay.add_card(again, 0, "  ")
    with pytest.raises(StudioError, match="at least one"):
        bay.new_feature("x", "X", "short", [])
    with pytest.raises(StudioError, match="id"):
        bay.new_feature("Bad Id", "X", "short", [lib["harbour/01"]])
    with pytest.raises(StudioError, match="permutation"):
        bay.reorder(again, [0, 0, 1])
    one = bay.remove_source(bay.remove_source(again, 2), 1)
    assert one.cards == [] and len(one.sources) == 1
    with pytest.raises(StudioError, match="at least one source"):
        bay.remove_source(one, 0)


def test_running_time_arc_and_plot(root):
    base, renders = root
    lib = {e.key: e for e in bay.rendered_episodes(base)}
    f = bay.new_feature("arc", "Arc", "anthology", [lib["lighthouse/01"], lib["harbour/01"]])
    f = bay.set_source(f, 0, mood="tense")
    f = bay.add_card(f, 1, "Part Two", 1.5)
    rt = bay.running_time(f, base)
    eps = renders[("lighthouse", "01")].duration_s + renders[("harbour", "01")].duration_s
    assert rt.episodes_s == pytest.approx(eps, abs=1e-3)
    assert rt.seconds == pytest.approx(eps + bay._TITLE_S + bay.CREDITS_S + 1.5, abs=1e-3)
    assert rt.status == "ok" and rt.allowed
    short = f.model_copy(update={"format": FeatureFormat.short})
    r2 = bay.running_time(short, base)
    assert r2.status == "under" and not r2.allowed and "20-40 min" in r2.text()
    assert bay.running_time(short.model_copy(update={"allow_short": True}), base).allowed
    segs = bay.arc(f, base)
    assert [s.kind for s in segs] == ["title", "episode", "card", "episode", "credits"]
    assert [s.act for s in segs] == [1, 1, 2, 2, 2]
    # a source's mood: its own, else the episode's music mood, else the previous one;
    # intensities are the score's
    from studio_kit.audio.music import mood_spec

    own = bay.episode_mood(base / "harbour", "01") or "tense"
    assert [s.mood for s in segs] == ["tense", "tense", own, own, own]
    f2 = bay.set_source(f, 1, mood="storm")
    assert [s.mood for s in bay.arc(f2, base)] == ["tense", "tense", "storm", "storm", "storm"]
    assert bay.episode_mood(base / "harbour", "99") is None
    assert segs[1].intensity == mood_spec("tense")[0].intensity
    assert segs[-1].end_s == pytest.approx(rt.seconds, abs=1e-3)
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in zip(segs, segs[1:], strict=False))
    acts = bay.acts(segs)
    assert [(a["act"], a["parts"]) for a in acts] == [(1, ["lighthouse 01"]),
                                                      (2, ["harbour 01"])]
    import holoviews as hv

    fig = hv.render(bay.arc_plot(segs, rt), backend="bokeh")
    assert fig.title.text == "Acts and mood arc"
    # a source that is not rendered is flagged, and the export refuses it
    gone = bay.add_sources(f, [lib["harbour/01"].model_copy(update={"episode": "09"})])
    assert bay.missing_sources(gone, base) == ["harbour 09"]
    with pytest.raises(StudioError, match="not rendered: harbour 09"):
        bay.export(gone, base, base / "x")
    with pytest.raises(StudioError, match="needs at least|runs"):
        bay.export(short, base, base / "x")
    assert not (base / "x").exists()


def test_credits_preview_names_characters_and_series(root):
    base, renders = root
    lib = {e.key: e for e in bay.rendered_episodes(base)}
    f = bay.new_feature("cr", "Credits Test", "anthology",
                        [lib["lighthouse/01"], lib["harbour/01"]])
    text = bay.credits_preview(f, base)
    assert "Credits Test" in text and "Harbour Lights" in text
    proj = Project.load(base / "lighthouse")
    speakers = {ln.character for s in proj.storyboard("01").shots for ln in s.dialogue}
    for cid in speakers:
        assert proj.characters[cid].name in text
    for r in renders.values():
        for shot in r.shots:
            assert shot.engine in text


def test_export_with_progress_mp4_chapters(root, tmp_path):
    base, _ = root
    lib = {e.key: e for e in bay.rendered_episodes(base)}
    f = bay.new_feature("exp", "Export Test", "anthology",
                        [lib["lighthouse/01"], lib["harbour/01"]])
    f = bay.add_card(f, 1, "Part Two", 1.0)
    seen: list[tuple[str, float]] = []
    res = bay.export(f, base, tmp_path / "deliver", sign=False,
                     progress=lambda ev: seen.append((_stage(ev), ev.fraction)))
    assert seen[0][1] == 0.0 and seen[-1] == ("done", 1.0)
    assert [x for _s, x in seen] == sorted(x for _s, x in seen)
    with av.open(res.mp4) as c:
        titles = [ch["metadata"].get("title") for ch in c.chapters()]
    assert titles == ["Title", "lighthouse 01", "harbour 01", "End credits"]
    assert bay.export_dir(base, "exp") == base / "deliver" / "exp"


def test_widget_in_process_create_reorder_card_credits_export(root, monkeypatch):
    """The widget's controls driven in process (the browser test drives the same through
    Chromium): every gesture lands in features/<id>.yaml."""
    from widgets.feature_bay import FeatureBay

    base, _ = root
    _fresh(base)
    fb = FeatureBay(base, chart=False)
    assert fb.feature is None
    keys = [k for _label, k in fb.lib_pick.options]
    assert keys == ["harbour/01", "lighthouse/01", "lighthouse/02"]
    fb.lib_pick.value = ("lighthouse/01", "harbour/01")
    fb.new_id.value, fb.new_title.value = "wid", "Widget Tales"
    fb.create_btn.click()
    assert "created wid" in fb.form.general.value
    path = base / "features" / "wid.yaml"
    assert [s.series for s in load_feature(path).sources] == ["lighthouse", "harbour"]
    fb.lib_pick.value = ("lighthouse/02",)
    fb.add_btn.click()
    assert fb.source_pick.value == 2  # the added episode is selected
    fb.up_btn.click()  # lighthouse 02 before harbour 01
    assert fb.source_pick.value == 1
    fb.source_pick.value = 2
    fb.card_text.value = "Part Two"
    fb.card_btn.click()
    f = load_feature(path)
    assert [f"{s.series} {s.episode}" for s in f.sources] == [
        "lighthouse 01", "lighthouse 02", "harbour 01"]
    assert [(c.before, c.text) for c in f.cards] == [(2, "Part Two")]
    assert "card: Part Two" in fb.sources_html.value
    fb.format_pick.value = "short"
    assert load_feature(path).format.value == "short"
    assert "under" in fb.running.value
    fb.format_pick.value = "anthology"
    fb.credits_btn.click()
    assert "Harbour Lights" in fb.credits_html.value
    fb.source_pick.value = 0
    fb.up_btn.click()  # already first: nothing breaks
    fb.ex_sign.value = False
    fb._export(fb.feature)  # the thread's body, in process
    assert fb.progress.value == 1.0, fb.export_status.value
    mp4 = base / "deliver" / "wid" / "wid.mp4"
    assert mp4.is_file() and "Part Two" not in fb.export_result.value
    assert "lighthouse 02" in fb.export_result.value
    rec = json.loads((base / "deliver" / "wid" / ".wid.joined.feature.json").read_text())
    assert [c["title"] for c in rec["chapters"]] == [
        "Title", "lighthouse 01", "lighthouse 02", "harbour 01", "End credits"]


def test_feature_notebook_is_the_record(root, tmp_path):
    import nbformat

    from studio_kit.feature.notebook import NOTEBOOK, FeatureRunOptions, run_feature_notebook

    source = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in source.cells if c.cell_type == "code")
    base, _ = root
    lib = {e.key: e for e in bay.rendered_episodes(base)}
    f = bay.new_feature("nb", "Notebook Tales", "anthology",
                        [lib["lighthouse/01"], lib["harbour/01"]])
    spec = bay.save(base, bay.add_card(f, 1, "Part Two", 1.0))
    assert FeatureRunOptions().sign and callable(run_feature_notebook)
    # through the CLI: studio feature render FEATURE --notebook
    from studio_kit.cli import main

    assert main(["feature", "render", str(spec), "--notebook", "--no-sign",
                 "-o", str(tmp_path / "nb")]) == 0
    (path,) = (tmp_path / "nb" / "notebooks").glob("feature-nb-*.ipynb")
    nb = nbformat.read(path, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "running time:" in text and "mp4:" in text and "Harbour Lights" in text
    for title in ("Title", "lighthouse 01", "harbour 01", "End credits"):
        assert f"s  {title}" in text
    plots = [o for o in outputs if o.get("output_type") in ("display_data", "execute_result")
             and any("holoviews" in k or "bokeh" in k for k in o.get("data", {}))]
    assert plots, "the arc plot is in the record"
    assert (tmp_path / "nb" / "nb.mp4").is_file()


def test_cli_episodes_render_and_refusals(root, tmp_path, capsys):
    from studio_kit.cli import main

    base, _ = root
    assert main(["feature", "episodes", str(base)]) == 0
    err = capsys.readouterr().err
    assert "harbour/01" in err and "lighthouse/02" in err and "3 rendered episodes" in err
    lib = {e.key: e for e in bay.rendered_episodes(base)}
    f = bay.new_feature("cli", "CLI Tales", "anthology", [lib["harbour/01"]])
    spec = bay.save(base, f)
    assert main(["feature", "render", str(spec), "--no-sign", "-o", str(tmp_path / "d")]) == 0
    err = capsys.readouterr().err
    assert "anthology" in err and "[100%] done" in err
    with av.open(str(tmp_path / "d" / "cli.mp4")) as c:
        assert [ch["metadata"]["title"] for ch in c.chapters()] == [
            "Title", "harbour 01", "End credits"]
    # too short for its format, and an episode not rendered: exit 2, a clear message
    bay.save(base, f.model_copy(update={"format": FeatureFormat.standard}), base=f)
    assert main(["feature", "render", str(spec), "-o", str(tmp_path / "e")]) == 2
    assert "standard" in capsys.readouterr().err
    bad = bay.save(base, bay.add_sources(f, [lib["harbour/01"].model_copy(
        update={"episode": "05"})]).model_copy(update={"id": "cli2"}))
    assert main(["feature", "render", str(bad), "-o", str(tmp_path / "e")]) == 2
    assert "not rendered: harbour 05" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_export_needs_gate_c_unless_draft(root, tmp_path):
    from studio_kit.production.gates import GateError, decide_master
    from studio_kit.store.ledger import Ledger

    base, renders = root
    lib = {e.key: e for e in bay.rendered_episodes(base)}
    assert {e.gate_c for e in lib.values()} == {"approved"}
    assert "Gate C: approved" in lib["harbour/01"].label
    f = bay.new_feature("gate", "Gate Tales", "anthology",
                        [lib["lighthouse/01"], lib["harbour/01"]])
    r = renders[("harbour", "01")]
    ledger_path = Path(r.project) / ".studio" / "ledger.sqlite"
    with Ledger(ledger_path) as ledger:
        decide_master(ledger, "01", r.master, approve=False, who="lead", why="grade too dark")
    try:
        assert bay.rendered_episodes(base)[0].gate_c == "rejected"
        with pytest.raises(GateError, match="rejected by lead: grade too dark"):
            bay.export(f, base, tmp_path / "refused")
        assert not (tmp_path / "refused").exists()
        seen: list[str] = []
        res = bay.export(f, base, tmp_path / "draft", sign=False, draft=True,
                         progress=lambda ev: seen.append(_stage(ev)))
        assert Path(res.mp4).is_file() and seen[-1] == "done"
    finally:
        with Ledger(ledger_path) as ledger:
            decide_master(ledger, "01", r.master, approve=True, who="lead")
