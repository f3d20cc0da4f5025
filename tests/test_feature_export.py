"""Feature exports: the ProRes master carries C2PA with the episodes as ingredients like the
MP4; the feature DCP (heavy: JPEG 2000 at 2K) passes ClairMeta's check and its provenance
report reaches the episodes through the signed MP4 it was made from."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest
from feature_bay_helpers import two_series

from studio_kit.feature.export import export_feature
from studio_kit.models.feature import Feature


def _stage(ev) -> str:
    """The export's progress event as the stage it reports ("done" for the end)."""
    return "done" if ev.status == "done" else ev.stage


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("fexport")
    two_series(base)
    return base


def _feature(sources) -> Feature:
    return Feature.model_validate({"id": "duo", "title": "Duo", "format": "anthology",
                                   "sources": sources})


def test_prores_and_mp4_signed_with_the_episodes_as_ingredients(base, tmp_path):
    from studio_kit import provenance as pv

    f = _feature([{"series": "lighthouse", "episode": "01"},
                  {"series": "harbour", "episode": "01", "act": 2}])
    res = export_feature(f, base, tmp_path / "out")
    for path in (res.mp4, res.prores):
        rep = pv.verify(path, development=True)
        assert rep.has_manifest and rep.valid_apart_from_trust, path
        assert len(rep.ingredients) == 2, path
    with av.open(res.prores) as c:
        assert c.streams.video[0].codec_context.profile == "HQ"


@pytest.mark.heavy
def test_feature_dcp_passes_clairmeta_and_reports_provenance(base, tmp_path, monkeypatch):
    from dcp_helpers import NEEDS_ASDCP_INFO, check_dcp

    from studio_kit.dcp.timed_text import read_timed_text
    from studio_kit.feature.export import stage_spans

    f = _feature([{"series": "lighthouse", "episode": "01", "drop": ["end_hook"]}])
    seen: list[tuple[str, float]] = []
    res = export_feature(f, base, tmp_path / "out", prores=False, dcp=True,
                         progress=lambda ev: seen.append((_stage(ev), ev.fraction)))
    # ClairMeta's default check: nothing fails but the three subtitle checks that need
    # asdcplib's asdcp-info (tests/dcp_helpers.py), which pass on the reader's values. One
    # WARNING is content advice, accepted: RDD 52 recommends a first subtitle after 4 s,
    # and the episode's first caption comes 3.25 s in (after the 2 s title card)
    _d, _report, skipped = check_dcp(res.dcp, monkeypatch, allowed_warnings={
        "check_subtitle_cpl_first_tt_event"})
    assert skipped in (set(), set(NEEDS_ASDCP_INFO))
    # the feature's captions inside the DCP (its first language where captioned)
    (mxf,) = [Path(p) for p in res.dcp_subtitles.values() if p.endswith(".mxf")]
    assert mxf.parent == Path(res.dcp) and mxf.name.startswith("sub_")
    assert b"<SubtitleReel" in read_timed_text(mxf).xml
    # progress: every stage, in order, monotonic, each inside its span, then done
    spans = stage_spans(prores=False, dcp=True)
    stages = list(dict.fromkeys(s for s, _x in seen))
    assert stages == ["pictures", "credits", "sound", "encodes", "dcp", "done"]
    assert [x for _s, x in seen] == sorted(x for _s, x in seen) and seen[-1] == ("done", 1.0)
    assert all(spans[s][0] - 1e-9 <= x <= spans[s][1] + 1e-9 for s, x in seen if s != "done")
    rep = json.loads(Path(res.dcp_provenance).read_text())
    c2 = rep["master"]["c2pa"]
    assert rep["master"]["path"] == res.mp4 and c2["has_manifest"]
    assert len(c2["ingredients"]) == 1
    assert res.captions and set(res.dcp_subtitles) == set(res.captions) and res.notes


def test_dcp_subtitle_document_validates_against_st428_7(tmp_path):
    from datetime import timedelta

    import clairmeta
    import srt
    from lxml import etree

    from studio_kit.dcp.subtitle import subtitle_xml, write_subtitles

    subs = [srt.Subtitle(1, timedelta(seconds=0.5), timedelta(seconds=2.0), "Mara?\nUp here."),
            srt.Subtitle(2, timedelta(seconds=2.5), timedelta(seconds=9.0), "Tom & <Theo>"),
            srt.Subtitle(3, timedelta(seconds=12.0), timedelta(seconds=13.0), "past the end")]
    src = tmp_path / "a.srt"
    src.write_text(srt.compose(subs))
    out = write_subtitles(src, tmp_path / "a.xml", title="Coast", language="fr", max_s=8.0)
    xsd = Path(clairmeta.__file__).parent / "xsd" / "DCDMSubtitle-2014.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    doc = etree.parse(str(out))
    schema.assertValid(doc)
    ns = {"d": "http://www.smpte-ra.org/schemas/428-7/2014/DCST"}
    items = doc.findall(".//d:Subtitle", ns)
    assert [(s.get("TimeIn"), s.get("TimeOut")) for s in items] == [
        ("00:00:00:12", "00:00:02:00"), ("00:00:02:12", "00:00:08:00")]  # clipped at 8 s
    assert [t.text for t in items[0].findall("d:Text", ns)] == ["Mara?", "Up here."]
    assert items[1].find("d:Text", ns).text == "Tom & <Theo>"
    assert doc.findtext("d:Language", namespaces=ns) == "fr"
    assert "<SubtitleList>" in subtitle_xml([], title="x")
