"""SMPTE DCP export: ClairMeta check, cross-references, picture/sound round trip, bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from studio_kit.dcp import DcpError, DcpOptions, export_dcp
from studio_kit.dcp import picture as pic
from studio_kit.dcp.mxf import read_track

FF = pic.ffmpeg_exe()


def _source(path: Path, *, fps: int = 24, seconds: float = 2.0, channels: int = 2) -> Path:
    layout = "stereo" if channels == 2 else "5.1"
    subprocess.run([FF, "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=160x90:rate={fps}:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=f=440:duration={seconds}:sample_rate=48000", "-filter_complex",
                    f"[1:a]aformat=channel_layouts={layout}[a]", "-map", "0:v", "-map", "[a]",
                    "-c:v", "libx264", "-pix_fmt", "yuv444p", "-qp", "0", "-c:a", "pcm_s16le",
                    str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def dcp(tmp_path_factory: pytest.TempPathFactory):
    from studio_kit import provenance as pv

    d = tmp_path_factory.mktemp("dcp")
    src = pv.sign_master(_source(d / "raw.mov"), d / "master.mov", ingredients=[],
                         actions=[pv.EditAction(action="c2pa.edited")],
                         creds=pv.create_dev_credentials(d / "creds"))
    seen: list[float] = []
    res = export_dcp(src, src, d / "DCP", DcpOptions(title="Test_FTR"), progress=seen.append)
    return src, res, seen


def _ns(root) -> dict[str, str]:
    return {"n": root.nsmap[None]}


def test_clairmeta_check_passes_with_no_errors(dcp) -> None:
    from clairmeta import DCP

    _src, res, _ = dcp
    d = DCP(res.path)
    ok, report = d.check()  # ClairMeta's default check profile (SMPTE package)
    assert ok, report.pretty_str()
    assert report.errors_by_criticality("ERROR") == []
    assert report.errors_by_criticality("WARNING") == []
    assert d.schema == "SMPTE"
    assets = d.metadata["cpl_list"][0]["Info"]["CompositionPlaylist"]["ReelList"][0]["Assets"]
    assert set(assets) == {"Picture", "Sound"}
    if shutil.which("asdcp-info"):  # ClairMeta probes MXF track files only through asdcplib
        assert all("ProbeError" not in a for a in assets.values())


def test_cpl_pkl_assetmap_reference_each_other(dcp) -> None:
    _src, res, _ = dcp
    root = Path(res.path)
    am = etree.parse(str(root / "ASSETMAP.xml")).getroot()
    ids = {a.findtext("n:Id", namespaces=_ns(am))[9:]:
           a.findtext("n:ChunkList/n:Chunk/n:Path", namespaces=_ns(am))
           for a in am.findall("n:AssetList/n:Asset", namespaces=_ns(am))}
    assert ids[res.pkl_id].startswith("pkl_")
    assert (root / "VOLINDEX.xml").is_file()
    pkl = etree.parse(str(root / ids[res.pkl_id])).getroot()
    listed = {}
    for a in pkl.findall("n:AssetList/n:Asset", namespaces=_ns(pkl)):
        aid = a.findtext("n:Id", namespaces=_ns(pkl))[9:]
        f = root / ids[aid]
        digest = base64.b64encode(hashlib.sha1(f.read_bytes()).digest()).decode()
        assert a.findtext("n:Hash", namespaces=_ns(pkl)) == digest, f.name
        assert int(a.findtext("n:Size", namespaces=_ns(pkl))) == f.stat().st_size
        listed[aid] = digest
    assert set(listed) == {res.cpl_id, res.picture_id, res.sound_id}
    cpl = etree.parse(str(root / ids[res.cpl_id])).getroot()
    for tag, aid in (("MainPicture", res.picture_id), ("MainSound", res.sound_id)):
        el = cpl.find(f".//n:{tag}", namespaces=_ns(cpl))
        assert el.findtext("n:Id", namespaces=_ns(cpl))[9:] == aid
        assert el.findtext("n:Hash", namespaces=_ns(cpl)) == listed[aid]
        assert el.findtext("n:Duration", namespaces=_ns(cpl)) == "48"


def _codestream_params(cs: bytes) -> dict[str, int]:
    assert cs[:4] == b"\xff\x4f\xff\x51"  # SOC, SIZ
    rsiz, xs, ys = int.from_bytes(cs[6:8], "big"), int.from_bytes(cs[8:12], "big"), \
        int.from_bytes(cs[12:16], "big")
    csiz = int.from_bytes(cs[40:42], "big")
    depth = [(cs[42 + 3 * i] & 0x7F) + 1 for i in range(csiz)]
    cod = cs.index(b"\xff\x52")
    return {"rsiz": rsiz, "w": xs, "h": ys, "csiz": csiz, "depth": min(depth),
            "prog": cs[cod + 5], "levels": cs[cod + 9]}


def test_picture_is_dci_jpeg2000_and_decodes_back_to_the_source(dcp, tmp_path: Path) -> None:
    src, res, seen = dcp
    mxf = next(Path(res.path).glob("j2c_*.mxf"))
    frames, _ = read_track(mxf)
    assert len(frames) == 48 and res.frames == 48
    p = _codestream_params(frames[12])
    assert p == {"rsiz": 3, "w": 1998, "h": 1080, "csiz": 3, "depth": 12, "prog": 4,
                 "levels": 5}  # cinema2k profile, CPRL, 5 decompositions, 12 bit
    assert max(len(f) for f in frames) <= 250_000_000 // 8 // 24
    (tmp_path / "f.j2c").write_bytes(frames[12])
    xyz = subprocess.run([FF, "-v", "error", "-i", str(tmp_path / "f.j2c"), "-f", "rawvideo",
                          "-pix_fmt", "xyz12le", "-"], capture_output=True, check=True).stdout
    back = pic.xyz12_to_rgb8(np.frombuffer(xyz, "<u2").reshape(1080, 1998, 3))
    ref = subprocess.run([FF, "-v", "error", "-i", str(src), "-vf",
                          "select=eq(n\\,12)," + pic._vf(1998, 1080).replace("rgb48le", "rgb24"),
                          "-frames:v", "1", "-f", "rawvideo", "-"], capture_output=True,
                         check=True).stdout
    ref = np.frombuffer(ref, np.uint8).reshape(1080, 1998, 3)
    assert np.abs(back.astype(int) - ref.astype(int)).mean() < 4.0
    assert back[:, :20].max() < 8  # pillarbox bars are black (16:9 inside 1.85:1)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)


def test_sound_is_24bit_48k_stereo_frame_aligned(dcp) -> None:
    _src, res, _ = dcp
    frames, _ = read_track(next(Path(res.path).glob("pcm_*.mxf")))
    assert len(frames) == 48
    assert {len(f) for f in frames} == {2000 * 2 * 3}
    pcm = np.frombuffer(b"".join(frames), np.uint8).reshape(-1, 3)
    s = (pcm[:, 0].astype(np.int32) | pcm[:, 1].astype(np.int32) << 8
         | pcm[:, 2].astype(np.int32) << 16)
    s = np.where(s >= 1 << 23, s - (1 << 24), s).reshape(-1, 2)
    assert np.abs(s[:, 0]).max() > 1 << 19  # the 440 Hz tone (-18 dBFS) is there
    assert np.abs(s[:, 0] - s[:, 1]).max() == 0  # the same tone in L and R


def test_provenance_report_lists_every_file_hash(dcp) -> None:
    src, res, _ = dcp
    data = json.loads(Path(res.provenance_json).read_text())
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
               for p in Path(res.path).iterdir()}
    assert {f["path"]: f["sha256"] for f in data["files"]} == on_disk
    assert data["master"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    c2pa = data["master"]["c2pa"]
    assert c2pa["has_manifest"] and "c2pa.edited" in c2pa["actions"], c2pa
    assert c2pa["valid_apart_from_trust"]
    assert "DCP files" in Path(res.provenance_html).read_text()


def test_five_one_has_six_channels(tmp_path: Path) -> None:
    src = _source(tmp_path / "m.mov", seconds=0.5, channels=6)
    res = export_dcp(src, src, tmp_path / "D51", DcpOptions(title="T", audio="5.1"))
    frames, _ = read_track(next(Path(res.path).glob("pcm_*.mxf")))
    assert len(frames) == 12 and {len(f) for f in frames} == {2000 * 6 * 3}


def test_non_24fps_is_refused_unless_conversion_is_asked(tmp_path: Path) -> None:
    src = _source(tmp_path / "m25.mov", fps=25, seconds=1.0)
    with pytest.raises(DcpError) as err:
        export_dcp(src, src, tmp_path / "D", DcpOptions(title="T"))
    assert "25 fps" in str(err.value) and "convert_fps" in str(err.value)
    assert not (tmp_path / "D").exists()
    res = export_dcp(src, src, tmp_path / "D", DcpOptions(title="T", container="scope",
                                                          convert_fps=True))
    assert res.converted_fps and "25 fps to 24 fps" in res.notes[0]
    assert res.frames == 24 and res.size == (2048, 858)


def test_interrupted_export_leaves_nothing_complete_looking(tmp_path: Path) -> None:
    src = _source(tmp_path / "m.mov", seconds=1.0)

    def boom(_f: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_dcp(src, src, tmp_path / "D", DcpOptions(title="T"), progress=boom)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mov"]


def test_subtitles_go_inside_the_dcp(tmp_path: Path) -> None:
    # was test_subtitles_are_refused_clearly: the ST 429-5 track file is written now (issue
    # 15); tests/test_dcp_subtitles.py checks it, bad subtitle input is refused there
    src = _source(tmp_path / "m.mov", seconds=0.5)
    (tmp_path / "en.srt").write_text("1\n00:00:00,000 --> 00:00:00,400\nHi\n")
    res = export_dcp(src, src, tmp_path / "D", DcpOptions(title="T"),
                     subtitles={"en": tmp_path / "en.srt"})
    assert (Path(res.path) / f"sub_{res.subtitle_id}.mxf").is_file()
    assert "MainSubtitle" in next(Path(res.path).glob("cpl_*.xml")).read_text()
