"""Feature assembly from rendered episodes: an anthology of the sample series (episodes 01
and 02) and a second small series, joined without any engine call, mastered once, with
chapters readable by PyAV and credits naming every character, voice and engine."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import yaml
from feature_bay_helpers import one_shot_per_act

from studio_kit.audio.mix import SAMPLE_RATE, integrated_lufs, true_peak_dbtp
from studio_kit.errors import StudioError
from studio_kit.feature.assemble import _decode_audio, assemble_feature
from studio_kit.feature.model import load_feature
from studio_kit.models.feature import Feature
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.project.series_folder import Project

ROOT = Path(__file__).resolve().parents[1]
OPTS = RenderOptions(engine="local", width=64, height=36, sign=False, prores=False)


def _stage(ev) -> str:
    """The export's progress event as the stage it reports ("done" for the end)."""
    return "done" if ev.status == "done" else ev.stage


@pytest.fixture(scope="module")
def anthology(tmp_path_factory):
    base = tmp_path_factory.mktemp("feature")
    a = one_shot_per_act(base / "lighthouse", ["01", "02"])
    b = one_shot_per_act(base / "harbour", ["01"], title="Harbour Lights")
    renders = {("lighthouse", "01"): render_episode(a, "01", options=OPTS),
               ("lighthouse", "02"): render_episode(a, "02", options=OPTS),
               ("harbour", "01"): render_episode(b, "01", options=OPTS)}
    fdir = base / "features"
    fdir.mkdir()
    spec = {"id": "tales", "title": "Tales of the Coast", "format": "anthology",
            "sources": [{"series": "lighthouse", "episode": "01", "mood": "tense"},
                        {"series": "lighthouse", "episode": "02", "act": 2},
                        {"series": "harbour", "episode": "01", "act": 3}],
            "cards": [{"before": 2, "text": "Part Two\nHarbour Lights", "seconds": 1.0}]}
    (fdir / "tales.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return base, renders, fdir / "tales.yaml"


def _no_engine(monkeypatch):
    import studio_kit.pipeline.episode as ep

    def refuse(*a, **k):
        raise AssertionError("an engine/render was called during feature assembly")
    monkeypatch.setattr(ep, "render_episode", refuse)
    monkeypatch.setattr(ep, "_run", refuse)


def test_anthology_assembled_chapters_credits_loudness(anthology, monkeypatch):
    base, renders, spec = anthology
    _no_engine(monkeypatch)
    feature = load_feature(spec)
    res = assemble_feature(feature, base, base / "out" / "tales.mp4", file=str(spec))
    with av.open(res.out) as c:
        titles = [ch["metadata"].get("title") for ch in c.chapters()]
        v = c.streams.video[0]
        assert c.streams.audio, "the feature has sound"
        seconds = float(c.duration / av.time_base)
    assert titles == ["Title", "lighthouse 01", "lighthouse 02", "harbour 01", "End credits"]
    expected = sum(r.duration_s for r in renders.values())
    assert seconds == pytest.approx(expected + 1.0 + 2.0 + 4.0, abs=0.3)
    assert (v.codec_context.width, v.codec_context.height) == (64, 36)
    assert Path(res.vtt).read_text().startswith("WEBVTT")
    # credits: every character who speaks, their voice, every engine in the render records
    proj = Project.load(base / "lighthouse")
    for r in renders.values():
        for shot in r.shots:
            assert shot.engine in res.credits.engines
    for ep in ("01", "02"):
        for shot in proj.storyboard(ep).shots:
            for line in shot.dialogue:
                name = proj.characters[line.character].name
                assert name in res.credits.characters
                assert res.credits.characters[name].startswith(
                    proj.characters[line.character].voice.engine)
    assert "Harbour Lights" in res.credits.series
    # loudness of the whole feature, measured on the delivered AAC
    x = _decode_audio(res.out, seconds)
    assert integrated_lufs(x, SAMPLE_RATE) == pytest.approx(feature.loudness.lufs, abs=0.5)
    assert true_peak_dbtp(x) <= -1.0 + 1e-6


def test_reassembly_reencodes_only_the_changed_episode(anthology, monkeypatch):
    base, renders, spec = anthology
    feature = load_feature(spec)
    out = base / "out" / "tales.mp4"
    assemble_feature(feature, base, out)
    warm = assemble_feature(feature, base, out)
    assert warm.pieces_encoded == [] and len(warm.pieces_reused) == 7  # nothing re-made
    # episode 02 changes: its master is different content
    master = Path(renders[("lighthouse", "02")].master)
    with av.open(str(master)) as c:  # noqa: F841 - it is readable before the change
        pass
    data = master.read_bytes()
    master.write_bytes(data + b"\0" * 16)  # trailing bytes: a new content key, still playable
    _no_engine(monkeypatch)
    second = assemble_feature(feature, base, out)
    assert [p for p in second.pieces_encoded if p.startswith("ep-")] != []
    assert len([p for p in second.pieces_encoded if p.startswith("ep-")]) == 1
    assert not [p for p in second.pieces_encoded if p.startswith("card-")]
    assert np.isfinite(second.loudness["integrated_lufs"])


def test_bad_input_clear_errors(anthology, tmp_path):
    base, renders, spec = anthology
    f = Feature.model_validate({"id": "x", "title": "X", "format": "anthology",
                                "sources": [{"series": "lighthouse", "episode": "07"}]})
    with pytest.raises(StudioError, match="not rendered"):
        assemble_feature(f, base, tmp_path / "x.mp4")
    f = Feature.model_validate({"id": "x", "title": "X", "format": "short",
                                "sources": [{"series": "lighthouse", "episode": "01"}]})
    with pytest.raises(StudioError, match="needs at least"):
        assemble_feature(f, base, tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\ntitle: X\nformat: epic\nsources: []\n")
    with pytest.raises(StudioError) as e:
        load_feature(bad)
    assert "bad.yaml" in str(e.value) and "format" in str(e.value)


def test_export_mp4_captions_prores_c2pa(anthology, tmp_path):
    from studio_kit import provenance as pv
    from studio_kit.feature.export import export_feature

    base, renders, spec = anthology
    feature = load_feature(spec)
    stages = []
    res = export_feature(feature, base, tmp_path / "deliver",
                         progress=lambda ev: stages.append((_stage(ev), ev.fraction)))
    with av.open(res.mp4) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.audio[0].codec_context.name == "aac"
        assert len(c.chapters()) == 5
        langs = {s.metadata.get("language") for s in c.streams.subtitles}
    assert set(res.captions) and langs == {"eng"} | ({"fra"} if "fr" in res.captions else set())
    with av.open(res.prores) as c:
        assert c.streams.video[0].codec_context.name == "prores"
        assert c.streams.video[0].codec_context.profile == "HQ"
    report = pv.verify(res.mp4, development=True)
    assert len(report.ingredients) == 3
    assert [s for s, _ in stages][-1] == "done"


def test_unified_grade_writes_cube_and_regrades_only_the_other_series(anthology):
    from studio_kit.edit.grade import read_lut

    base, renders, spec = anthology
    plain = assemble_feature(load_feature(spec), base, base / "out" / "plain.mp4")
    f = load_feature(spec).model_copy(update={"unify_grade": True})
    graded = assemble_feature(f, base, base / "out" / "graded.mp4")
    assert read_lut(base / "out" / "graded.look.cube").size == 33
    eps_plain = {p for p in plain.pieces_encoded + plain.pieces_reused if p.startswith("ep-")}
    eps_graded = {p for p in graded.pieces_encoded if p.startswith("ep-")}
    assert len(eps_graded) == 1 and not eps_graded & eps_plain  # harbour only, re-graded
    with av.open(graded.out) as c:
        assert c.streams.video[0].frames > 0
