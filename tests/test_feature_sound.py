"""The feature's streamed sound step (studio_kit.feature.sound) on synthetic stems: bounded
memory, the streaming loudness meter against pyloudnorm, seams and act crossfades that do
not depend on the block size, the delivered AAC on target, the cache."""

from __future__ import annotations

import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pyloudnorm as pyln
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from studio_kit.audio import SAMPLE_RATE
from studio_kit.feature import sound as fs
from studio_kit.feature.assemble import EpisodeSource, _Cut
from studio_kit.models.feature import Feature
from studio_kit.video_encoding import ffmpeg_exe

EP_S = 12.0
FPS = 24.0


def _episode(folder: Path, seed: int) -> EpisodeSource:
    """Stems like a render's: speech-like bursts, clicks, a noise bed (24-bit WAVs)."""
    rng = np.random.default_rng(seed)
    n = int(EP_S * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    words = (np.sin(2 * np.pi * 1.7 * t) > 0.2) & (np.sin(2 * np.pi * 0.23 * t + seed) > -0.3)
    voice = np.sin(2 * np.pi * (180 + 40 * seed) * t) * 0.5 + 0.2 * rng.standard_normal(n)
    dialogue = (voice * words * 0.3)[:, None] * [1.0, 0.9]
    effects = np.zeros((n, 2))
    effects[rng.integers(0, n - 500, 20)] = 0.8
    ambience = 0.01 * rng.standard_normal((n, 2))
    stems = folder / "stems"
    stems.mkdir(parents=True)
    for name, x in (("dialogue", dialogue), ("effects", effects), ("ambience", ambience)):
        sf.write(stems / f"{name}.wav", x.astype(np.float32), SAMPLE_RATE, subtype="PCM_24")
    return EpisodeSource(series_dir=str(folder), episode=f"{seed:02d}", render_json="",
                         master=str(folder / "master.mp4"), mix=str(folder / "mix.m4a"),
                         duration_s=EP_S, width=64, height=36, fps=FPS, key=f"k{seed}")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> list[EpisodeSource]:
    base = tmp_path_factory.mktemp("sound")
    return [_episode(base / f"ep{i}", i + 1) for i in range(2)]


def _timeline(repeats: int):
    """seq and arc as assemble_feature builds them: a title card, then the two episodes
    again and again (every other repeat cut to its middle), two acts."""
    frames = int(EP_S * FPS)
    seq = [(Path("title.mp4"), 2.0, "Title", [], 1, None)]
    for k in range(repeats):
        act = 1 if k < repeats // 2 else 2
        for i in range(2):
            a, b = (0, frames) if k % 2 == 0 else (48, frames - 24)
            seq.append((Path(f"ep{i}.mp4"), (b - a) / FPS, None,
                        [_Cut(source=i, a=a, b=b)], act, None))
    seq.append((Path("credits.mp4"), 4.0, "End credits", [], 2, None))
    arc, t = [], 0.0
    for _p, d, _t, _c, act, _m in seq:
        if arc and arc[-1][0] == f"act-{act}":
            arc[-1] = (arc[-1][0], arc[-1][1], arc[-1][2], t + d)
        else:
            arc.append((f"act-{act}", "tense" if act == 1 else "joy", t, t + d))
        t += d
    return seq, arc, t


def _feature() -> Feature:
    return Feature.model_validate({"id": "syn", "title": "Syn", "format": "anthology",
                                   "sources": [{"series": "s", "episode": "01"}]})


def _decode(path: Path) -> np.ndarray:
    raw = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f", "f32le",
                          "-ac", "2", "-ar", str(SAMPLE_RATE), "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32).reshape(-1, 2).astype(np.float64)


def test_streaming_meter_matches_pyloudnorm():
    rng = np.random.default_rng(3)
    n = int(9.37 * SAMPLE_RATE)
    x = rng.standard_normal((n, 2)) * np.linspace(0.001, 0.3, n)[:, None]
    x[n // 3: n // 2] = 0.0  # silence the gates must drop
    meter = fs.LoudnessMeter()
    pos = 0
    for size in rng.integers(1, 40_000, 10_000):  # uneven chunks, sub-block boundaries cut
        if pos >= n:
            break
        meter.add(x[pos: pos + size])
        pos += size
    ref = pyln.Meter(SAMPLE_RATE).integrated_loudness(x)
    assert meter.integrated() == pytest.approx(ref, abs=0.01)


def test_seams_and_act_crossfades_do_not_depend_on_the_block(sources, tmp_path):
    seq, arc, total = _timeline(2)
    stems = [fs.stems_of(s.mix, s.master) for s in sources]
    limits = [int(EP_S * SAMPLE_RATE)] * 2
    tl = fs._Timeline(seq, FPS, stems, limits, tmp_path)
    n = tl.n
    whole = tl.layer("dialogue", 0, n)
    # the in-memory join this replaces: butt-joined parts, equal-power blend at each seam
    parts = [tl.raw("dialogue", it.start, it.start + it.n) for it in tl.items]
    ref = np.concatenate(parts)
    fade = int(fs.CROSSFADE_S * SAMPLE_RATE)
    pos = 0
    for p in parts[:-1]:
        pos += len(p)
        k = min(fade // 2, pos, len(ref) - pos)
        w = np.linspace(0, 1, k)[:, None]
        ref[pos - k:pos] = ref[pos - k:pos] * np.sqrt(1 - w) + ref[pos:pos + k] * np.sqrt(w)
    assert np.abs(whole - ref).max() < 1e-5
    assert tl.seams, "the cuts are crossfaded"
    # any block partition gives the same samples (seams that straddle a block edge too)
    edges = [0, 1234, 50_000, tl.seams[0][0] - 100, tl.seams[1][0] + 7, 700_001, n]
    edges = sorted(set(e for e in edges if 0 <= e <= n))
    spans = list(zip(edges[:-1], edges[1:], strict=True))
    pieced = np.concatenate([tl.layer("dialogue", a, b) for a, b in spans])
    assert np.array_equal(pieced, whole)
    score = fs._Score(arc, n, seed=7)
    music = score.block(0, n)
    pieced = np.concatenate([score.block(a, b) for a, b in spans])
    assert np.allclose(pieced, music, atol=1e-6)
    # at the act change both acts' music sound (a crossfade), each loop on its own grid
    change = int(round(score.cues[1].start_s * SAMPLE_RATE))
    lo, hi = score.spans[1][0], score.spans[0][1]
    assert hi - lo == int(round(fs.MUSIC_CROSSFADE_S * SAMPLE_RATE))
    a_loop, b_loop = score._loop(0), score._loop(1)
    mid = np.arange(lo + 2000, hi - 2000)
    a = a_loop[np.mod(mid - int(round(score.cues[0].start_s * SAMPLE_RATE)), len(a_loop))]
    b = b_loop[np.mod(mid - change, len(b_loop))]
    coef, *_ = np.linalg.lstsq(np.c_[a[:, 0], b[:, 0]], music[mid, 0], rcond=None)
    assert coef.min() > 0.05, coef
    tl.close()


def test_sound_on_target_cached_and_reused(sources, tmp_path):
    seq, arc, total = _timeline(4)
    f = _feature()
    enc, reu, fracs = [], [], []
    path, loud = fs.feature_sound(f, sources, seq, arc, FPS, tmp_path, enc, reu,
                                  progress=fracs.append)
    assert enc == [path.name] and not reu
    assert fracs[-1] == 1.0 and fracs == sorted(fracs)
    x = _decode(path)
    assert len(x) == pytest.approx(total * SAMPLE_RATE, abs=SAMPLE_RATE * 0.05)
    lufs = pyln.Meter(SAMPLE_RATE).integrated_loudness(x)
    assert lufs == pytest.approx(f.loudness.lufs, abs=0.5)
    assert loud["integrated_lufs"] == pytest.approx(f.loudness.lufs, abs=0.3)
    tp = 20 * np.log10(np.abs(resample_poly(x, 4, 1, axis=0)).max())
    assert tp <= -1.0
    # nothing it depends on changed: reused, not made again
    enc2, reu2 = [], []
    again, loud2 = fs.feature_sound(f, sources, seq, arc, FPS, tmp_path, enc2, reu2)
    assert again == path and reu2 == [path.name] and not enc2 and loud2 == loud
    # one stem changes: made again
    stem = Path(sources[1].mix).parent / "stems" / "effects.wav"
    backup = stem.read_bytes()
    try:
        y, sr = sf.read(stem)
        y[100] = 0.5
        sf.write(stem, y, sr, subtype="PCM_24")
        enc3: list[str] = []
        third, _l = fs.feature_sound(f, sources, seq, arc, FPS, tmp_path, enc3, [])
    finally:
        stem.write_bytes(backup)
    assert enc3 == [third.name] and third != path


def _peak(sources, seq, arc, folder: Path) -> int:
    folder.mkdir()
    tracemalloc.start()
    try:
        fs.feature_sound(_feature(), sources, seq, arc, FPS, folder, [], [])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_running_time(sources, tmp_path):
    short = _timeline(4)
    long = _timeline(8)
    assert long[2] > 1.9 * short[2]
    _peak(sources, *short[:2], tmp_path / "warmup")  # imports, lazily built tables
    p1 = _peak(sources, *short[:2], tmp_path / "short")
    p2 = _peak(sources, *long[:2], tmp_path / "long")
    # the in-memory step held ~10 full-length stereo arrays: 2x the length was ~2x the peak
    assert p2 <= 1.3 * p1, (p1, p2)


def test_an_old_render_without_stems_is_mixed_from_its_mix(sources, tmp_path):
    """No stems beside the mix (an older render): its AAC mix is decoded once and used."""
    src = sources[0]
    folder = tmp_path / "old"
    folder.mkdir()
    wav = folder / "mix.wav"
    sf.write(wav, sf.read(Path(src.mix).parent / "stems" / "dialogue.wav")[0], SAMPLE_RATE)
    m4a = folder / "mix.m4a"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(wav), "-c:a", "aac",
                    str(m4a)], check=True)
    old = src.model_copy(update={"mix": str(m4a)})
    assert fs.stems_of(old.mix, old.master) == {"mix": str(m4a)}
    frames = int(EP_S * FPS)
    seq = [(Path("a.mp4"), EP_S, None, [_Cut(source=0, a=0, b=frames)], 1, None),
           (Path("b.mp4"), 6.0, None, [_Cut(source=0, a=48, b=48 + 144)], 1, None)]
    arc = [("act-1", None, 0.0, EP_S + 6.0)]
    path, loud = fs.feature_sound(_feature(), [old], seq, arc, FPS, tmp_path, [], [])
    x = _decode(path)
    assert pyln.Meter(SAMPLE_RATE).integrated_loudness(x) == pytest.approx(
        _feature().loudness.lufs, abs=0.5)
    # the dialogue is where the mix had it (the start of the first cut)
    ref = sf.read(wav)[0]
    k = int(2 * SAMPLE_RATE)
    seg = x[2048: 2048 + k, 0]
    assert np.corrcoef(seg, ref[2048: 2048 + k, 0])[0, 1] > 0.5
