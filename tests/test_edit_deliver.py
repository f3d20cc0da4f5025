"""Captions (SRT/WebVTT), MP4 and ProRes masters, OpenTimelineIO export, edit CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
import srt

from studio_kit.cli import main
from studio_kit.edit.captions import Cue, layout, write_captions
from studio_kit.edit.mux import iso639_2, mux_master, prores_master
from studio_kit.edit.probe import probe
from studio_kit.edit.synth import make_clip
from studio_kit.edit.timeline import timeline_from_storyboard
from studio_kit.errors import StudioError
from studio_kit.registry import EXPORTERS
from studio_kit.video_encoding import ffmpeg_exe

CUES = [
    Cue(start_s=0.25, end_s=1.5, speaker="Mara", text="That lamp has been dark for ten "
        "years, and nobody has climbed the stair since the storm took the keeper."),
    Cue(start_s=1.75, end_s=2.5, speaker="Theo", text="Mara? Are you up there?"),
    Cue(start_s=0.25, end_s=1.5, speaker="Mara", language="fr",
        text="Cette lampe est éteinte depuis dix ans."),
]


@pytest.fixture(scope="module")
def media(artifacts_dir: Path) -> dict[str, Path]:
    d = artifacts_dir / "edit" / "deliver"
    d.mkdir(parents=True, exist_ok=True)
    out = {"video": make_clip(d / "picture.mp4", seconds=3, width=160, height=90)}
    for name, hz, secs in (("mix", 440, 2.5), ("fr", 660, 3.5)):  # short and long on purpose
        out[name] = d / f"{name}.wav"
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"sine=frequency={hz}:sample_rate=48000:duration={secs}",
                        str(out[name])], check=True)
    return out


def test_caption_layout_wraps_and_splits():
    caps = layout(CUES[:2])
    assert all(len(line) <= 42 for c in caps for line in c.lines)
    assert all(1 <= len(c.lines) <= 2 for c in caps)
    assert len(caps) == 3  # the long cue became two captions
    assert caps[0].start_s == 0.25 and caps[1].end_s == 1.5  # the split shares the cue time
    assert caps[0].lines[0].startswith("MARA: ")


def test_srt_and_vtt_parse_back_with_cue_times(artifacts_dir):
    files = write_captions(CUES, artifacts_dir / "edit" / "deliver" / "captions", "ep01")
    assert set(files) == {"en", "fr"}
    subs = list(srt.parse(Path(files["en"].srt).read_text()))
    assert subs[0].start.total_seconds() == 0.25
    assert subs[1].end.total_seconds() == 1.5
    assert subs[-1].start.total_seconds() == 1.75 and subs[-1].end.total_seconds() == 2.5
    assert "THEO: Mara? Are you up there?" in subs[-1].content
    # WebVTT read back by ffmpeg's own demuxer (through PyAV)
    with av.open(files["en"].vtt) as c:
        pkts = [(p.pts, p.duration, bytes(p).decode()) for p in c.demux() if p.size]
    assert [(p[0], p[0] + p[1]) for p in pkts][-1] == (1750, 2500)
    assert pkts[0][0] == 250 and "<v Mara>" in pkts[0][2]
    assert Path(files["fr"].vtt).read_text().startswith("WEBVTT")


#: what a hostile or broken dialogue line can carry (issue 13 point 10)
_HOSTILE = ("\x00", "\u202e", "\u202d", "\u202a", "\u202b", "\u202c", "\u2066", "\u2067",
            "\u2068", "\u2069", "\x1b", "\x07", "\x08", "\x0b", "\x7f", "\x85", "\x9b",
            "\ufeff")


def test_captions_strip_control_and_bidi_override_characters(media, artifacts_dir):
    """NUL, right-to-left overrides and other control characters in dialogue never reach
    the SRT, the WebVTT or the MP4's mov_text tracks; the visible words stay, in order."""
    d = artifacts_dir / "edit" / "deliver" / "hostile"
    cues = [Cue(start_s=0.25, end_s=1.25, speaker="Ma\u202era\x00",
                text="Stay\x00 where \u202eyou are\u202c,\x1b[2J now\x07!\u2066 \u2067ok\u2069\x7f"),
            Cue(start_s=1.5, end_s=2.5, speaker="Theo", text="\u202e\x00\u2069"),  # nothing left
            Cue(start_s=1.5, end_s=2.5, speaker="Élodie", language="he",
                text="\u202bשלום\u200f, Mara\u202c\x00")]
    files = write_captions(cues, d, "ep01")
    texts = {f"{lang}.{kind}": Path(getattr(f, kind)).read_text(encoding="utf-8")
             for lang, f in files.items() for kind in ("srt", "vtt")}
    for name, text in texts.items():
        bad = [hex(ord(ch)) for ch in _HOSTILE if ch in text]
        assert not bad, (name, bad)
    en = list(srt.parse(texts["en.srt"]))
    assert len(en) == 1  # the cue that was only control characters is dropped
    assert " ".join(en[0].content.split()) == "MARA: Stay where you are,[2J now! ok"
    assert "<v Mara>" in texts["en.vtt"]
    assert "\u200f" in texts["he.srt"]  # a right-to-left mark (not an override) is kept
    master = mux_master(media["video"], d / "master.mp4", audio=media["mix"],
                        subtitles={k: v.srt for k, v in files.items()})
    with av.open(master.path) as c:  # a mov_text sample: 16-bit text length, text, boxes
        samples = [bytes(pk) for pk in c.demux(subtitles=0) if pk.size > 2]
    shown = [b[2:2 + int.from_bytes(b[:2], "big")].decode("utf-8") for b in samples]
    assert any("Stay where you are" in t for t in shown)
    for t in shown:
        assert not [hex(ord(ch)) for ch in _HOSTILE if ch in t], t


def test_shot_cue_uses_the_assembled_shot_start():
    from studio_kit.edit.captions import shot_cue
    from studio_kit.edit.timeline import ItemKind, ShotTime

    t = ShotTime(id="s2", kind=ItemKind.shot, start_s=4.5, end_s=7.0, start_frame=108,
                 end_frame=168, source_in_s=0.5, audio_start_s=4.5, audio_end_s=7.0)
    cue = shot_cue(t, 1.0, 2.0, "Stay where you are.", speaker="Mara", language="en")
    assert (cue.start_s, cue.end_s) == (5.0, 6.0)


def test_cue_must_end_after_it_starts():
    with pytest.raises(ValueError, match="before it starts"):
        Cue(start_s=2, end_s=1, text="x")


def test_mp4_master_has_audio_dubs_and_subtitles(media, artifacts_dir):
    d = artifacts_dir / "edit" / "deliver"
    files = write_captions(CUES, d / "captions", "ep01")
    info = mux_master(media["video"], d / "master.mp4", audio=media["mix"],
                      dubs={"fr": media["fr"]},
                      subtitles={k: v.srt for k, v in files.items()}, title="Ep 1")
    assert info.audio_languages == ["eng", "fra"]
    assert info.subtitle_languages == ["eng", "fra"]
    p = probe(info.path)
    v = p.video
    assert v.frames == 72 and v.codec == "h264"
    for a in p.of_type("audio"):
        assert a.codec == "aac"
        # padded (mix) or trimmed (dub) to the picture: ends within a frame of it
        assert abs((a.start_s + a.duration_s) - 3.0) < 1 / 24 + 0.03, a
    s = p.of_type("subtitle")
    assert [x.codec for x in s] == ["mov_text", "mov_text"]
    # picture is stream-copied into the master
    with av.open(str(media["video"])) as a, av.open(info.path) as b:
        assert [bytes(x) for x in a.demux(video=0) if x.size] == \
            [bytes(x) for x in b.demux(video=0) if x.size]


def _ebur128_true_peak(path: Path, stream: int) -> float:
    """The delivered track's true peak as ffmpeg's ebur128 summary prints it (dBFS)."""
    import re

    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-map",
                           f"0:a:{stream}", "-af", "ebur128=peak=true", "-f", "null", "-"],
                          capture_output=True, text=True, check=True)
    summary = done.stderr[done.stderr.rindex("Summary:"):]
    return float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+) dBFS", summary).group(1))


def test_delivered_aac_true_peak_holds_the_ceiling(media, artifacts_dir):
    """Issue 19: the ceiling holds on the decoded AAC, not only on the PCM mix. A loud,
    peaky mix mastered by ``audio.mix.master`` (the main track) and the same mix limited
    right at the ceiling (a dub: the encoder overshoots it, so it must be re-encoded lower)
    both come out of the MP4 at or below ceiling - AAC_MARGIN_DB."""
    from studio_kit.audio.mix import AAC_MARGIN_DB, master, true_peak_dbtp, write_wav
    from studio_kit.edit.mux import MuxReport
    from studio_kit.models import LoudnessTarget

    d = artifacts_dir / "edit" / "deliver" / "peak"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    t = np.arange(3 * 48000) / 48000
    x = 0.1 * np.sign(np.sin(2 * np.pi * 110 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    x += 0.9 * rng.standard_normal(len(t)) * (rng.random(len(t)) < 0.01)  # clicks
    mix = np.stack([x, np.roll(x, 7)], 1).astype(np.float32)
    target = LoudnessTarget()  # streaming: -14 LUFS, -1 dBTP
    curve, _ = master(mix, target)
    at_ceiling, _ = master(mix, target, headroom_db=0.0)
    main = write_wav(d / "main.wav", mix * curve[:, None])
    hot = write_wav(d / "hot.wav", mix * at_ceiling[:, None])
    assert true_peak_dbtp(mix * at_ceiling[:, None]) > target.peak - AAC_MARGIN_DB
    report = MuxReport()
    info = mux_master(media["video"], d / "master.mp4", audio=main, dubs={"fr": hot},
                      ceiling_dbtp=target.peak, report=report)
    limit = target.peak - AAC_MARGIN_DB
    for n in range(2):
        assert _ebur128_true_peak(Path(info.path), n) <= limit
    assert set(report.true_peak_dbtp) == {"en", "fr"}
    assert all(v <= limit for v in report.true_peak_dbtp.values())
    assert report.reencoded >= 1  # the hot dub overshot and was encoded again, lower


def test_prores_master_decodes_as_hq(media, artifacts_dir):
    info = prores_master(media["video"], artifacts_dir / "edit" / "deliver" / "master.mov",
                         audio=media["mix"], dubs={"fr": media["fr"]})
    p = probe(info.path)
    v = p.video
    assert v.codec == "prores" and v.profile == "HQ" and v.pix_fmt == "yuv422p10le"
    assert v.frames == 72
    assert [a.codec for a in p.of_type("audio")] == ["pcm_s24le", "pcm_s24le"]
    assert info.audio_languages == ["eng", "fra"]
    with av.open(info.path) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 72 and frames[10].std() > 20  # real picture, not black


def test_language_codes():
    assert iso639_2("en") == "eng" and iso639_2("pt-BR") == "por" and iso639_2("bre") == "bre"
    with pytest.raises(StudioError, match="ISO 639-2"):
        iso639_2("xx")


def test_otio_export_reads_back(sample_project, artifacts_dir):
    sb = sample_project.storyboard("01")
    tl = timeline_from_storyboard(sb, fps=24, series_title="The Lighthouse")
    out = EXPORTERS.get("otio")().export(tl, artifacts_dir / "edit" / "deliver" / "cut.otio")
    back = otio.adapters.read_from_file(str(out))
    track = back.tracks[0]
    clips = list(track.find_clips())
    assert len(clips) == len(tl.items)
    assert back.duration().to_frames() == tl.total_frames
    transitions = [t for t in track if isinstance(t, otio.schema.Transition)]
    assert len(transitions) == sum(1 for i in tl.items[:-1] if i.transition.overlaps)
    # each clip plus its transition handles covers exactly the item's frames
    for clip, item in zip(clips, tl.items, strict=True):
        assert clip.metadata["studio"]["id"] == item.id
        in_t, out_t = track.neighbors_of(clip)
        handles = sum(int(t.out_offset.value if t is in_t else t.in_offset.value)
                      for t in (in_t, out_t) if isinstance(t, otio.schema.Transition))
        assert clip.source_range.duration.to_frames() + handles == item.frames


def test_cli_probe_and_export(sample_dir, media, artifacts_dir, capsys):
    assert main(["probe", str(media["video"]), "--json"]) == 0
    assert '"frames": 72' in capsys.readouterr().out
    clips = artifacts_dir / "edit" / "deliver" / "clips"
    make_clip(clips / "s01-cliff-wide.mp4", seconds=1, width=160, height=90)
    out = artifacts_dir / "edit" / "deliver" / "cli.otio"
    assert main(["export-otio", str(sample_dir), "01", "-o", str(out),
                 "--clips", str(clips)]) == 0
    back = otio.adapters.read_from_file(str(out))
    first = next(iter(back.tracks[0].find_clips()))
    assert first.media_reference.target_url.endswith("s01-cliff-wide.mp4")
    assert main(["probe", str(clips / "missing.mp4")]) == 2
    assert np.isfinite(back.duration().to_seconds())
