"""Subtitles inside the SMPTE DCP: the ST 429-5 timed-text track file (studio_kit/dcp/
timed_text.py), its CPL MainSubtitle / PKL / ASSETMAP entries, read back by bmx (mxfuse) and
by the strict reader, the XML byte-identical, and ClairMeta's subtitle checks (heavy)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import subprocess
import uuid
from pathlib import Path

import mxfuse
import pytest
import srt
from dcp_helpers import NEEDS_ASDCP_INFO, check_dcp
from lxml import etree

from studio_kit.dcp import DcpError, DcpOptions, export_dcp
from studio_kit.dcp import picture as pic
from studio_kit.dcp import timed_text as tt
from studio_kit.dcp.subtitle import NS as DCST
from studio_kit.dcp.subtitle import subtitle_xml

FF = pic.ffmpeg_exe()
CAPTIONS = ("1\n00:00:00,100 --> 00:00:00,600\nHello, Mara!\nUp here.\n\n"
            "2\n00:00:00,700 --> 00:00:09,000\nÇa va? <Tom> & Theo\n\n"
            "3\n00:00:30,000 --> 00:00:31,000\npast the end\n")
IMSC1 = "http://www.w3.org/ns/ttml/profile/imsc1/text"


def _source(path: Path, seconds: float) -> Path:
    subprocess.run([FF, "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=160x90:rate=24:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=f=440:duration={seconds}:sample_rate=48000", "-c:v", "libx264",
                    "-qp", "0", "-c:a", "pcm_s16le", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def sub_dcp(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("dcpsub")
    src = _source(d / "m.mov", 1.0)
    (d / "en.srt").write_text(CAPTIONS, encoding="utf-8")
    (d / "fr.srt").write_text("1\n00:00:00,100 --> 00:00:00,900\nSalut\n", encoding="utf-8")
    res = export_dcp(src, src, d / "DCP", DcpOptions(title="Sub_FTR"),
                     subtitles={"fr": d / "fr.srt", "en": d / "en.srt"})
    return d, res


def _ns(root) -> dict[str, str]:
    return {"n": root.nsmap[None]}


def test_cpl_lists_the_subtitle_track_with_pkl_and_assetmap_entries(sub_dcp) -> None:
    _d, res = sub_dcp
    root = Path(res.path)
    mxf = root / f"sub_{res.subtitle_id}.mxf"
    assert mxf.is_file() and res.subtitle_language == "en"  # the DCP's language is chosen
    assert any("fr not in this DCP" in n for n in res.notes)
    cpl = etree.parse(str(next(root.glob("cpl_*.xml")))).getroot()
    el = cpl.find(".//n:MainSubtitle", namespaces=_ns(cpl))
    digest = base64.b64encode(hashlib.sha1(mxf.read_bytes()).digest()).decode()
    assert el.findtext("n:Id", namespaces=_ns(cpl)) == f"urn:uuid:{res.subtitle_id}"
    assert el.findtext("n:Hash", namespaces=_ns(cpl)) == digest
    assert el.findtext("n:Language", namespaces=_ns(cpl)) == "en"
    assert el.findtext("n:EntryPoint", namespaces=_ns(cpl)) == "0"
    assert el.findtext("n:IntrinsicDuration", namespaces=_ns(cpl)) == str(res.frames) == "24"
    from clairmeta.dcp_check_utils import get_schema
    from clairmeta.utils.xml import validate_xml

    validate_xml(str(next(root.glob("cpl_*.xml"))), get_schema(cpl.nsmap[None]))  # raises
    pkl = etree.parse(str(next(root.glob("pkl_*.xml")))).getroot()
    rows = {a.findtext("n:Id", namespaces=_ns(pkl)): a
            for a in pkl.findall("n:AssetList/n:Asset", namespaces=_ns(pkl))}
    row = rows[f"urn:uuid:{res.subtitle_id}"]
    assert row.findtext("n:Hash", namespaces=_ns(pkl)) == digest
    assert int(row.findtext("n:Size", namespaces=_ns(pkl))) == mxf.stat().st_size
    assert row.findtext("n:Type", namespaces=_ns(pkl)) == "application/mxf"
    am = (root / "ASSETMAP.xml").read_text()
    assert f"urn:uuid:{res.subtitle_id}" in am and mxf.name in am


def test_track_file_reads_back_and_the_xml_is_byte_identical(sub_dcp) -> None:
    _d, res = sub_dcp
    track = tt.read_timed_text(Path(res.path) / f"sub_{res.subtitle_id}.mxf")
    assert str(track.asset) == res.subtitle_id          # file package UMID = CPL Id
    assert str(track.resource_id) == res.subtitle_reel_id != res.subtitle_id
    assert (track.namespace, track.encoding, track.language) == (DCST, "UTF-8", "en")
    assert track.duration == 24 and track.edit_rate == (24, 1)
    assert track.essence_container == tt.TT_WRAPPING
    doc = etree.fromstring(track.xml)
    xsd = Path(__import__("clairmeta").__file__).parent / "xsd" / "DCDMSubtitle-2014.xsd"
    etree.XMLSchema(etree.parse(str(xsd))).assertValid(doc)
    ns = {"d": DCST}
    assert doc.findtext("d:Id", namespaces=ns) == f"urn:uuid:{res.subtitle_reel_id}"
    font_id = doc.findtext("d:LoadFont", namespaces=ns)[9:]
    assert doc.find(".//d:Font", ns).get("ID") == doc.find("d:LoadFont", ns).get("ID")
    mime, font = track.resources[uuid.UUID(font_id)]
    assert mime == tt.FONT_MIME and font[:4] == b"\x00\x01\x00\x00"   # TrueType
    times = [(s.get("TimeIn"), s.get("TimeOut")) for s in doc.iterfind(".//d:Subtitle", ns)]
    assert times == [("00:00:00:02", "00:00:00:14"), ("00:00:00:17", "00:00:01:00")]
    # byte-identical: the document regenerated from the SRT with the same ids
    again = subtitle_xml(list(srt.parse(CAPTIONS)), title="Sub_FTR", language="en",
                         reel_id=res.subtitle_reel_id, issued=doc.findtext("d:IssueDate",
                                                                            namespaces=ns),
                         max_s=1.0, font_id=font_id)
    assert track.xml == again.encode("utf-8")


def test_ffmpeg_reads_the_xml_back_byte_for_byte(sub_dcp) -> None:
    """FFmpeg's MXF demuxer (through PyAV) is a reader independent of ours: it finds the
    timed-text track, the packages and the identification, and hands out the clip-wrapped
    essence element, which is the SubtitleReel document byte for byte."""
    import av

    _d, res = sub_dcp
    path = Path(res.path) / f"sub_{res.subtitle_id}.mxf"
    with av.open(str(path)) as c:
        (stream,) = c.streams
        meta, smeta = dict(c.metadata), dict(stream.metadata)
        packets = [bytes(p) for p in c.demux(stream) if p.size]
        rate, duration = stream.time_base, stream.duration
    assert meta["operational_pattern_ul"] == "060e2b34.04010102.0d010201.10000000"  # OP-Atom
    assert meta["material_package_name"] == "Material Package"
    assert smeta["file_package_umid"].lower().endswith(uuid.UUID(res.subtitle_id).hex)
    assert smeta["track_name"] == "Timed Text Track"
    assert "429-5" in smeta["file_package_name"]
    assert (rate.numerator, rate.denominator, duration) == (1, 24, 24)
    assert packets == [tt.read_timed_text(path).xml]
    assert b"urn:uuid:" + res.subtitle_reel_id.encode() in packets[0]


def test_bmx_reads_the_structure(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """mxfuse (bmx) is an independent reader. It reads ST 429-5 / ST 2067-5 track files but
    accepts only IMSC1 profiles: with the DCST namespace it stops exactly there (it has
    found and decoded our TimedTextDescriptor); the same file with an IMSC1 NamespaceURI
    opens as a Timed_Text data track with our duration, edit rate and wrapping label."""
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n<tt xmlns="http://www.w3.org/ns/ttml"/>\n'
    font = tt.Resource(uuid.uuid4(), b"\x00\x01\x00\x00" + bytes(64))
    kw = {"asset": uuid.uuid4(), "resource_id": uuid.uuid4(), "duration": 48,
          "resources": [font]}
    dcst = tt.write_timed_text(tmp_path / "dcst.mxf", xml, **kw)
    with pytest.raises(RuntimeError), open(dcst, "rb") as f:
        mxfuse.open_mxf(f)
    assert f"Unsupported timed text profile {DCST}" in capfd.readouterr().err
    imsc = tt.write_timed_text(tmp_path / "imsc.mxf", xml, namespace=IMSC1, **kw)
    with open(imsc, "rb") as f, mxfuse.open_mxf(f) as clip:
        (track,) = clip.tracks
        assert (track.essence_type, track.kind.value, track.duration) == ("Timed_Text",
                                                                         "data", 48)
        assert clip.edit_rate == (24, 1) and clip.duration == 48
        assert track.essence_container_ul == tt.TT_WRAPPING
        assert clip.name == "Material Package"
    assert font.data in imsc.read_bytes()


def test_round_trip_is_byte_identical_for_any_document(tmp_path: Path) -> None:
    rid, asset = uuid.uuid4(), uuid.uuid4()
    fonts = [tt.Resource(uuid.uuid4(), bytes(range(256)) * 40),
             tt.Resource(uuid.uuid4(), b"second font")]
    for xml in (b"<a/>", "<x>Ça va? 日本語 \r\n\x00</x>".encode(), bytes(200_000)):
        p = tt.write_timed_text(tmp_path / "t.mxf", xml, asset=asset, resource_id=rid,
                                duration=7, edit_rate=(25, 1), language="fr",
                                resources=fonts,
                                now=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
        back = tt.read_timed_text(p)
        assert back.xml == xml and back.asset == asset and back.resource_id == rid
        assert back.duration == 7 and back.edit_rate == (25, 1) and back.language == "fr"
        assert {k: v[1] for k, v in back.resources.items()} == {f.id: f.data for f in fonts}
        keys = [k[13:15] for k, _at in back.partitions]
        assert keys == [b"\x02\x04", b"\x03\x04", b"\x03\x11", b"\x03\x11", b"\x04\x04",
                        b"\x11\x01"]  # header, body, 2 generic streams, footer, RIP
        data = p.read_bytes()
        assert int.from_bytes(data[-4:], "big") == len(data) - back.partitions[-1][1]
    with pytest.raises(tt.TimedTextError):
        (tmp_path / "bad.mxf").write_bytes(data[:-100])
        tt.read_timed_text(tmp_path / "bad.mxf")


def test_subtitles_the_font_cannot_show_are_refused_before_encoding(tmp_path: Path) -> None:
    src = _source(tmp_path / "m.mov", 0.5)
    (tmp_path / "ja.srt").write_text("1\n00:00:00,000 --> 00:00:00,400\nこんにちは\n",
                                     encoding="utf-8")
    with pytest.raises(DcpError, match="no glyph for") as err:
        export_dcp(src, src, tmp_path / "D", DcpOptions(title="T", language="ja"),
                   subtitles={"ja": tmp_path / "ja.srt"})
    assert "subtitle_font" in str(err.value) and "hint:" in str(err.value)
    (tmp_path / "bad.srt").write_text("not a caption file at all\n")
    with pytest.raises(DcpError, match="SRT") as err:
        export_dcp(src, src, tmp_path / "D", DcpOptions(title="T"),
                   subtitles={"en": tmp_path / "bad.srt"})
    assert "bad.srt" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.srt", "ja.srt", "m.mov"]


@pytest.mark.heavy
def test_clairmeta_subtitle_checks_pass(tmp_path: Path, monkeypatch) -> None:
    import clairmeta.dcp_check_subtitle as cds

    src = _source(tmp_path / "m.mov", 4.5)   # first event past 4 s (RDD 52 recommends it)
    (tmp_path / "en.srt").write_text(
        "1\n00:00:04,050 --> 00:00:04,250\nHello, Mara!\nUp here.\n\n"
        "2\n00:00:04,300 --> 00:00:09,000\nÇa va? <Tom> & Theo\n", encoding="utf-8")
    res = export_dcp(src, src, tmp_path / "DCP", DcpOptions(title="Sub_FTR"),
                     subtitles={"en": tmp_path / "en.srt"})
    _d, report, skipped = check_dcp(res.path, monkeypatch)
    ran = {c.name for c in report.checks}
    assert {n for n in dir(cds.Checker) if n.startswith("check_subtitle_cpl")} <= ran
    assert skipped in (set(), set(NEEDS_ASDCP_INFO))  # empty only where asdcplib is here
