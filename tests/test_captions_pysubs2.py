"""SRT and WebVTT written through pysubs2 (studio_kit/edit/captions.py): the SRT is
byte-identical to the srt library's, text that pysubs2 would read as SubStation codes
survives, WebVTT cues are in time order, and read_srt round-trips."""

from __future__ import annotations

import random
from datetime import timedelta

import av
import pysubs2
import srt

from studio_kit.distribution.deliver import sidecar
from studio_kit.edit.captions import Caption, Cue, layout, read_srt, to_srt, to_vtt

WORDS = ["lamp", "stair", "Mara?", "l'été", "שלום", "a<b", "R&D", "{x}", "42", "—", "\u200f,",
         "C:\\new", "{\\p1}", "\\h", "\\N"]


def _random_captions(rng: random.Random) -> list[Caption]:
    cues, t = [], rng.random() * 5
    for _ in range(rng.randint(0, 6)):
        d = rng.random() * 4 + 0.01
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 25)))
        cues.append(Cue(start_s=t, end_s=t + d, text=text,
                        speaker=rng.choice([None, "Mara", "Theo"])))
        t = max(0.0, t + rng.random() * 3 - 0.5)
    return layout(cues, speaker_labels=rng.random() < 0.5)


def _srt_library(captions: list[Caption]) -> str:
    """What the studio wrote before pysubs2 (srt.compose)."""
    return srt.compose([srt.Subtitle(index=n, start=timedelta(seconds=c.start_s),
                                     end=timedelta(seconds=c.end_s), content="\n".join(c.lines))
                        for n, c in enumerate(captions, start=1)])


def test_srt_is_byte_identical_to_the_srt_library():
    rng = random.Random(7)
    for _ in range(400):
        caps = _random_captions(rng)
        assert to_srt(caps) == _srt_library(caps)
    # unsorted, overlapping, empty and zero-length cues: sorted and skipped the same way
    odd = [Caption(start_s=3.0, end_s=4.0, lines=["b"]), Caption(start_s=1.0, end_s=2.0,
           lines=["a"]), Caption(start_s=2.0, end_s=2.0, lines=["zero"]),
           Caption(start_s=5.0, end_s=6.0, lines=[" "]), Caption(start_s=0.1234567,
           end_s=0.9999999, lines=["x", "y"])]
    assert to_srt(odd) == _srt_library(odd)
    assert to_srt([]) == "" == _srt_library([])


def test_codes_pysubs2_would_interpret_survive_both_formats():
    lines = ["C:\\new \\h and {\\p1} {x}", "The code is", "1234"]
    caps = [Caption(start_s=0.5, end_s=1.5, lines=lines),
            Caption(start_s=2.0, end_s=3.0, lines=["The code is", "1999"])]
    back = read_srt(to_srt(caps))
    assert [c.lines for c in back] == [lines, ["The code is", "1999"]]
    assert [(c.start_s, c.end_s) for c in back] == [(0.5, 1.5), (2.0, 3.0)]
    vtt = to_vtt(caps, "en")
    parsed = pysubs2.SSAFile.from_string(vtt, format_="vtt", keep_html_tags=True)
    assert [(e.start, e.end) for e in parsed] == [(500, 1500), (2000, 3000)]
    assert "C:\\new \\h and {\\p1} {x}\nThe code is\n1234" in vtt and "1999" in vtt
    assert lines[0] in to_srt(caps)  # the same characters, nothing invisible added


def test_vtt_header_voice_spans_escaping_and_time_order(tmp_path):
    caps = [Caption(start_s=0.25, end_s=2.0, lines=["R&D <now>"], speaker="Mara"),
            Caption(start_s=2.5, end_s=3.0, lines=["second"]),
            Caption(start_s=1.0, end_s=1.75, lines=["overlaps the first"])]
    vtt = to_vtt(caps, "fr")
    assert vtt.startswith("WEBVTT\nLanguage: fr\n\n1\n00:00:00.250 --> 00:00:02.000\n")
    assert "<v Mara>R&amp;D &lt;now&gt;</v>" in vtt
    assert to_vtt(caps, None).startswith("WEBVTT\n\n1\n")
    path = tmp_path / "c.vtt"
    path.write_text(vtt, encoding="utf-8")
    with av.open(str(path)) as c:  # ffmpeg's WebVTT demuxer
        pts = [p.pts for p in c.demux() if p.size]
    assert pts == sorted(pts) == [250, 1000, 2500]


def test_sidecar_cuts_at_the_limit_in_both_formats():
    caps = [Caption(start_s=0.5, end_s=1.5, lines=["one"]),
            Caption(start_s=1.8, end_s=3.0, lines=["two"]),
            Caption(start_s=3.5, end_s=4.0, lines=["three"])]
    text = to_srt(caps)
    cut = read_srt(sidecar(text, "srt", "en", 2.0))
    assert [(c.start_s, c.end_s, c.lines) for c in cut] == [(0.5, 1.5, ["one"]),
                                                           (1.8, 2.0, ["two"])]
    vtt = sidecar(text, "vtt", "en", 2.0)
    assert vtt.startswith("WEBVTT\nLanguage: en") and "three" not in vtt
    assert "00:00:01.800 --> 00:00:02.000" in vtt
