"""ProRes master smart rendering: pieces named by their H.264 packets, reused across
renders; only pieces whose picture changed are re-encoded."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from studio_kit.edit.frames import run_ffmpeg
from studio_kit.edit.mux import ProresReport, prores_master
from studio_kit.edit.pieces import DirPieces
from studio_kit.edit.probe import probe
from studio_kit.edit.synth import make_clip


def _join(parts: list[Path], out: Path) -> Path:
    listing = out.with_suffix(".ffconcat")
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{p.resolve()}'\n"
                                                           for p in parts))
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)],
               what="join test clips")
    return out


def _frames(path: str | Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


@pytest.fixture(scope="module")
def pictures(artifacts_dir: Path) -> dict[str, Path]:
    d = artifacts_dir / "edit" / "prores_pieces"
    d.mkdir(parents=True, exist_ok=True)
    a = make_clip(d / "a.mp4", seconds=1, width=160, height=90)
    b = make_clip(d / "b.mp4", seconds=1, width=160, height=90, source="mandelbrot")
    c = make_clip(d / "c.mp4", seconds=1, width=160, height=90, source="smptebars")
    return {"before": _join([a, b, a], d / "before.mp4"),
            "after": _join([a, c, a], d / "after.mp4"), "dir": d}


def test_unchanged_pieces_are_reused_and_the_master_matches_a_full_encode(pictures):
    d = pictures["dir"]
    cache_dir = d / "pieces"
    cache_dir.mkdir(exist_ok=True)
    for f in cache_dir.iterdir():
        f.unlink()
    cache = DirPieces(cache_dir, ".mov")
    first = ProresReport()
    prores_master(pictures["before"], d / "before.mov", pieces=cache, report=first)
    assert first.pieces == 6 and first.encoded == 6 and first.reused == 0  # 0.5 s GOPs

    again = ProresReport()
    prores_master(pictures["before"], d / "before2.mov", pieces=cache, report=again)
    assert again.encoded == 0 and again.reused == 6

    edited = ProresReport()
    info = prores_master(pictures["after"], d / "after.mov", pieces=cache, report=edited)
    assert edited.encoded == 2 and edited.reused == 4 and edited.encoded_frames == 24
    v = probe(info.path).video
    assert v.codec == "prores" and v.profile == "HQ" and v.pix_fmt == "yuv422p10le"
    assert v.frames == 72

    full = prores_master(pictures["after"], d / "after-full.mov")  # no cache: all encoded
    smart, whole = _frames(info.path), _frames(full.path)
    assert len(smart) == len(whole) == 72
    assert all(np.array_equal(x, y) for x, y in zip(smart, whole, strict=True))
    src = [f.astype(np.int16) for f in _frames(pictures["after"])]
    # the smart master shows the edited picture, frame for frame (luma within coding noise)
    with av.open(str(info.path)) as c:
        luma = [f.reformat(format="yuv420p").to_ndarray()[:90].astype(np.int16)
                for f in c.decode(video=0)]
    assert all(np.abs(y - s[:90]).mean() < 3 for y, s in zip(luma, src, strict=True))
