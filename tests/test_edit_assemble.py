"""Smart-render assembly: transitions blend, untouched frames are stream-copied, record
times are exact, foreign clips are conformed, sound lines up with every cut."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from studio_kit.edit.assemble import assemble, keyframe_times
from studio_kit.edit.frames import read_frames, run_ffmpeg
from studio_kit.edit.probe import probe
from studio_kit.edit.synth import make_clip
from studio_kit.edit.timeline import (
    ItemKind,
    Timeline,
    TimelineItem,
    TransitionSpec,
    timeline_from_storyboard,
)
from studio_kit.errors import StudioError
from studio_kit.models import TransitionKind as K
from studio_kit.video_encoding import H264Params, h264_args

W, H, FPS = 160, 90, Fraction(24)
COLOURS = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 200),
           "grey": (128, 128, 128)}


@pytest.fixture(scope="module")
def clips(artifacts_dir: Path) -> dict[str, Path]:
    d = artifacts_dir / "edit" / "clips"
    out = {}
    for name, rgb in COLOURS.items():
        out[name] = make_clip(d / f"{name}.mp4", seconds=2, width=W, height=H,
                              source="color", colour="#{:02x}{:02x}{:02x}".format(*rgb))
    out["bars"] = make_clip(d / "bars.mp4", seconds=2, width=W, height=H, source="testsrc2")
    return out


def shot(name: str, clip: Path, frames: int = 48, kind: K = K.cut, n: int = 0) -> TimelineItem:
    return TimelineItem(kind=ItemKind.shot, id=name, clip=str(clip), frames=frames,
                        transition=TransitionSpec(kind=kind, frames=n))


def decode_rgb(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.reformat(format="rgb24", src_colorspace="ITU709",
                                    dst_colorspace="ITU709", src_color_range="MPEG",
                                    dst_color_range="JPEG").to_ndarray()
                         for f in c.decode(video=0)])


def mean_rgb(frame: np.ndarray) -> np.ndarray:
    return frame.reshape(-1, 3).mean(axis=0)


def packet_hashes(path: Path) -> list[str]:
    with av.open(str(path)) as c:
        return [hashlib.sha1(bytes(p)).hexdigest() for p in c.demux(video=0) if p.size]


def test_dissolve_middle_frame_is_a_blend(clips, artifacts_dir):
    tl = Timeline(episode="01", width=W, height=H, items=[
        shot("a", clips["red"], kind=K.dissolve, n=12), shot("b", clips["blue"])]).layout()
    res = assemble(tl, artifacts_dir / "edit" / "dissolve.mp4")
    assert res.frames == 48 + 48 - 12 == probe(res.path).video.frames
    frames = decode_rgb(Path(res.path))
    start_b = res.shot_times["b"].start_frame
    assert start_b == 36
    mid = mean_rgb(frames[start_b + 6])
    red, blue = np.array(COLOURS["red"]), np.array(COLOURS["blue"])
    lo, hi = np.minimum(red, blue), np.maximum(red, blue)
    differs = hi - lo > 100  # R and B; G is the same in both shots
    assert np.all(mid[differs] > lo[differs] + 40) and np.all(mid[differs] < hi[differs] - 40)
    assert np.allclose(mid, (red + blue) / 2, atol=20), mid
    assert np.allclose(mean_rgb(frames[0]), red, atol=6)
    assert np.allclose(mean_rgb(frames[-1]), blue, atol=6)
    # only the 12 overlapped frames were re-encoded
    assert res.rendered_frames == 12 and res.copied_frames == res.frames - 12


@pytest.mark.parametrize("kind,level", [(K.fade, 0), (K.dip_to_white, 255)])
def test_fade_and_dip_to_white(clips, artifacts_dir, kind, level):
    tl = Timeline(episode="01", width=W, height=H, items=[
        shot("a", clips["green"], kind=kind, n=13), shot("b", clips["blue"])]).layout()
    res = assemble(tl, artifacts_dir / "edit" / f"{kind.value}.mp4")
    frames = decode_rgb(Path(res.path))
    s = res.shot_times["b"].start_frame
    middle = mean_rgb(frames[s + 6])
    assert np.allclose(middle, level, atol=12), middle
    # on the way down the frame is darker/lighter than the shot, not yet the colour
    quarter = mean_rgb(frames[s + 3])
    assert np.abs(quarter - level).mean() < np.abs(np.array(COLOURS["green"]) - level).mean()


def test_wipe_splits_the_frame(clips, artifacts_dir):
    tl = Timeline(episode="01", width=W, height=H, items=[
        shot("a", clips["red"], kind=K.wipe, n=11), shot("b", clips["blue"])]).layout()
    res = assemble(tl, artifacts_dir / "edit" / "wipe.mp4")
    f = decode_rgb(Path(res.path))[res.shot_times["b"].start_frame + 5]  # t = 0.5
    left, right = mean_rgb(f[:, : W // 2 - 8]), mean_rgb(f[:, W // 2 + 8:])
    assert np.allclose(left, COLOURS["blue"], atol=10)
    assert np.allclose(right, COLOURS["red"], atol=10)


def test_hard_cut_timeline_is_pure_stream_copy(clips, artifacts_dir):
    tl = Timeline(episode="01", width=W, height=H, items=[
        shot("a", clips["bars"], frames=40, kind=K.cut),
        shot("b", clips["red"], kind=K.match_cut),
        shot("c", clips["bars"], frames=30, kind=K.j_cut, n=10),
        shot("d", clips["green"], kind=K.l_cut, n=6),
        shot("e", clips["blue"])]).layout()
    res = assemble(tl, artifacts_dir / "edit" / "hardcut.mp4")
    assert res.rendered_frames == 0 and all(s.kind == "copy" for s in res.segments)
    assert res.frames == 40 + 48 + 30 + 48 + 48
    # every output packet is byte-identical to the source packet it came from
    src = (packet_hashes(clips["bars"])[:40] + packet_hashes(clips["red"])
           + packet_hashes(clips["bars"])[:30] + packet_hashes(clips["green"])
           + packet_hashes(clips["blue"]))
    assert packet_hashes(Path(res.path)) == src
    times = res.shot_times
    # J-cut: d's sound starts 10 frames before its picture; L-cut: d's sound runs on 6
    assert times["d"].audio_start_s == pytest.approx(times["d"].start_s - 10 / 24)
    assert times["d"].audio_end_s == pytest.approx(times["d"].end_s + 6 / 24)


def test_body_waits_for_a_keyframe_and_foreign_clips_are_conformed(clips, artifacts_dir):
    d = artifacts_dir / "edit" / "clips"
    # GOP of 1 s: a 6-frame dissolve ends between keyframes
    sparse = d / "sparse.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s={W}x{H}:r=24", "-frames:v", "48",
                *h264_args(24, params=H264Params(keyint_s=1.0)), str(sparse)], what="clip")
    # foreign: other size, other encoder settings (no CABAC -> different PPS)
    foreign = d / "foreign.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "color=c=blue:s=176x100:r=24", "-frames:v", "48",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                str(foreign)], what="clip")
    assert probe(sparse).video.keyframe_indices == [0, 24]
    tl = Timeline(episode="01", width=W, height=H, items=[
        shot("a", clips["red"], kind=K.dissolve, n=6), shot("b", sparse, kind=K.cut),
        shot("c", foreign)]).layout()
    res = assemble(tl, artifacts_dir / "edit" / "keyframes.mp4")
    assert res.conformed == [str(foreign)]
    copy_b = next(s for s in res.segments if s.kind == "copy" and s.items == ["b"])
    assert copy_b.inpoint == 24  # body starts on the keyframe, frames 6..23 re-encoded
    assert res.rendered_frames == 6 + 18
    assert res.frames == 48 + 48 - 6 + 48 == probe(res.path).video.frames
    # the re-encoded plain frames still show shot b's picture
    out = decode_rgb(Path(res.path))
    src = decode_rgb(sparse)
    assert np.abs(out[42 + 10].astype(int) - src[10].astype(int)).mean() < 4
    assert keyframe_times(res.timeline, "b") == [0.0, 0.25]


def test_cards_cold_open_and_exact_durations(sample_project, clips, artifacts_dir):
    sb = sample_project.storyboard("01")
    names = list(COLOURS)
    mapping = {s.id: clips[names[n % 4]] for n, s in enumerate(sb.shots)}
    durations = {s.id: 1.0 for s in sb.shots}
    tl = timeline_from_storyboard(sb, mapping, durations=durations, fps=24, width=W, height=H,
                                  series_title=sample_project.series.title, title_card_s=1,
                                  act_card_s=0.5, hook_card_s=1)
    kinds = [i.kind for i in tl.items]
    cold = [s.id for a in sb.acts if a.kind.value == "cold_open" for s in a.shots]
    assert [i.id for i in tl.items[: len(cold)]] == cold
    assert kinds[len(cold)] == ItemKind.title_card and kinds[-1] == ItemKind.hook_card
    assert ItemKind.act_card in kinds
    res = assemble(tl, artifacts_dir / "edit" / "episode.mp4")
    overlaps = sum(i.transition.frames for i in res.timeline.items if i.transition.overlaps)
    expected = sum(i.frames for i in res.timeline.items) - overlaps
    assert res.frames == expected == probe(res.path).video.frames
    assert res.duration_s == pytest.approx(expected / 24)
    assert res.copied_frames > res.rendered_frames


def test_sound_and_picture_in_sync_at_every_cut(clips, artifacts_dir):
    """Place a tone at each reported shot start, mux, and find cuts and onsets again."""
    import soundfile as sf

    from studio_kit.edit.mux import mux_master

    order = ["red", "green", "blue", "grey", "red"]
    kinds = [K.cut, K.dissolve, K.cut, K.fade, K.cut]
    items = [shot(f"s{n}", clips[c], frames=36 + 4 * n, kind=k, n=8 if k.touches_picture else 0)
             for n, (c, k) in enumerate(zip(order, kinds, strict=True))]
    res = assemble(Timeline(episode="01", width=W, height=H, items=items).layout(),
                   artifacts_dir / "edit" / "sync.mp4")
    sr = 48000
    audio = np.zeros(int(res.duration_s * sr) + sr, np.float32)
    starts = [t.start_s for t in res.shot_times.values()]
    for s in starts[1:]:
        i = round(s * sr)
        audio[i:i + 2400] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(2400) / sr)
    wav = artifacts_dir / "edit" / "sync.wav"
    sf.write(wav, audio, sr)
    master = mux_master(res.path, artifacts_dir / "edit" / "sync_master.mp4", audio=wav)
    # picture: first frame where the new shot shows (cuts) / where the blend begins
    with av.open(master.path) as c:
        vstream = c.streams.video[0]
        pics = [(float(f.pts * vstream.time_base), f.to_ndarray(format="rgb24"))
                for f in c.decode(video=0)]
    with av.open(master.path) as c:
        chunks = [(float(f.pts * f.time_base), f.to_ndarray()[0]) for f in c.decode(audio=0)]
    t0 = chunks[0][0]
    pcm = np.concatenate([x for _, x in chunks])
    onsets = []
    loud = np.abs(pcm) > 0.25
    i = 0
    while i < len(loud):
        if loud[i]:
            onsets.append(t0 + i / sr)
            i += 4800
        i += 1
    # picture: time of the first frame that differs from the one before it, per edit
    changes = [tb for (_, a), (tb, b) in zip(pics, pics[1:], strict=False)
               if np.abs(a.astype(int) - b.astype(int)).mean() > 3]
    pic_starts: list[float] = []
    for t in changes:
        if not pic_starts or t - pic_starts[-1] > 0.5:  # a dissolve changes every frame
            pic_starts.append(t)
    assert len(onsets) == len(starts) - 1 == len(pic_starts)
    for a, p in zip(onsets, pic_starts, strict=True):
        assert abs(a - p) <= 1 / 24 + 1e-3, (a, p)


def test_missing_clip_is_a_studio_error(artifacts_dir):
    tl = Timeline(episode="01", width=W, height=H, items=[
        shot("a", artifacts_dir / "edit" / "nope.mp4")]).layout()
    with pytest.raises(StudioError, match="no picture file"):
        assemble(tl, artifacts_dir / "edit" / "nope_out.mp4")


def test_read_frames_is_frame_exact(clips):
    frames = list(read_frames(clips["bars"], 13, 17, FPS))
    assert len(frames) == 4 and frames[0].shape == (H * 3 // 2, W)
    all_frames = list(read_frames(clips["bars"], 0, 48, FPS))
    assert np.array_equal(frames[0], all_frames[13])


def test_short_shot_between_two_dissolves_is_fully_rendered(clips, artifacts_dir):
    tl = Timeline(episode="01", width=W, height=H, items=[
        shot("a", clips["red"], kind=K.dissolve, n=12),
        shot("b", clips["bars"], frames=20, kind=K.dissolve, n=12),
        shot("c", clips["blue"])]).layout()
    assert tl.items[0].transition.frames == 10  # clamped to half the short shot
    res = assemble(tl, artifacts_dir / "edit" / "short.mp4")
    assert not any(s.kind == "copy" and s.items == ["b"] for s in res.segments)
    assert res.frames == 48 + 20 + 48 - 20 == probe(res.path).video.frames
    assert res.shot_times["c"].start_frame == 48 - 10 + 20 - 10


def test_frame_encoder_takes_rgb_and_matches_the_clips(clips, artifacts_dir):
    from studio_kit.edit.frames import FrameEncoder

    out = artifacts_dir / "edit" / "rgb.mp4"
    with FrameEncoder(out, W, H, 24, input_pix_fmt="rgb24") as enc:
        for _ in range(12):
            enc.write(np.full((H, W, 3), COLOURS["red"], np.uint8))
    info = probe(out).video
    assert info.frames == 12
    assert info.extradata_hex == probe(clips["red"]).video.extradata_hex
    assert np.allclose(mean_rgb(decode_rgb(out)[5]), COLOURS["red"], atol=4)


def test_regions_are_reused_between_runs_by_content(clips, artifacts_dir, tmp_path):
    """With a kept piece cache, an edit of one shot re-encodes only the regions touching
    it; the result decodes to exactly what a fresh assembly of the edited timeline gives."""
    from studio_kit.edit.pieces import DirPieces

    d = artifacts_dir / "edit" / "regions"
    d.mkdir(parents=True, exist_ok=True)
    cache = DirPieces(tmp_path, ".mp4")

    def timeline(middle: Path) -> Timeline:
        return Timeline(episode="01", width=W, height=H, items=[
            shot("a", clips["red"], kind=K.dissolve, n=12),
            shot("b", middle, kind=K.cut),
            shot("c", clips["green"], kind=K.wipe, n=12),
            shot("d", clips["blue"])]).layout()

    first = assemble(timeline(clips["grey"]), d / "first.mp4", pieces=cache)
    assert (first.regions, first.regions_reused) == (2, 0)
    again = assemble(timeline(clips["grey"]), d / "again.mp4", pieces=cache)
    assert (again.regions, again.regions_reused) == (2, 2)
    assert packet_hashes(Path(again.path)) == packet_hashes(Path(first.path))
    # shot b changes: the dissolve a->b is re-encoded, the wipe c->d comes from the cache
    edited = assemble(timeline(clips["bars"]), d / "edited.mp4", pieces=cache)
    assert (edited.regions, edited.regions_reused) == (2, 1)
    fresh = assemble(timeline(clips["bars"]), d / "fresh.mp4", work_dir=tmp_path / "fresh")
    assert fresh.regions_reused == 0
    assert np.array_equal(decode_rgb(Path(edited.path)), decode_rgb(Path(fresh.path)))
