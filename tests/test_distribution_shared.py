"""The pieces deliver, cut-downs and the hub share (``distribution.deliver``): the render
record's timeline, the platform loudness gain, the caption SRT of a language; and the
hub's preview stills decoded by the reframe's decoder."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from bench.distribution_bench import clip_timeline, moving_face_clip
from studio_kit.distribution import hub
from studio_kit.distribution.deliver import (
    caption_srt,
    caption_srts,
    episode_timeline,
    platform_gain_db,
    timeline_file,
)
from studio_kit.distribution.platforms import platform
from studio_kit.errors import StudioError

SRT = "1\n00:00:00,000 --> 00:00:01,000\nHello.\n"


def test_timeline_missing_or_gone_is_a_studio_error(tmp_path: Path) -> None:
    master = tmp_path / "ep.mp4"
    for render in ({}, {"timeline": ""}, {"timeline": str(tmp_path / "gone.json")}):
        with pytest.raises(StudioError, match="the render record has no timeline") as e:
            episode_timeline(render, master)
        assert e.value.file == str(master)
        assert "re-render the episode" in (e.value.hint or "")


def test_episode_timeline_reads_the_record_file(tmp_path: Path) -> None:
    tl = clip_timeline(48, 640, 360)
    f = tmp_path / "timeline.json"
    f.write_text(tl.model_dump_json(), encoding="utf-8")
    render = {"timeline": str(f)}
    assert timeline_file(render, tmp_path / "ep.mp4") == f
    back = episode_timeline(render, tmp_path / "ep.mp4")
    assert back == tl and back.total_frames == 48


def test_platform_gain_is_target_minus_measured() -> None:
    spec = platform("youtube")
    assert platform_gain_db(spec, {}) == 0.0
    assert platform_gain_db(spec, {"loudness": {}}) == 0.0
    assert platform_gain_db(spec, {"loudness": {"integrated_lufs": -20.004}}) == round(
        spec.loudness_lufs + 20.004, 2)
    assert platform_gain_db(spec, {"loudness": {"integrated_lufs": "-9"}}) == round(
        spec.loudness_lufs + 9, 2)


def test_caption_srts_lists_only_languages_with_a_file(tmp_path: Path) -> None:
    fr = tmp_path / "fr.srt"
    en = tmp_path / "en.srt"
    fr.write_text(SRT, encoding="utf-8")
    en.write_text(SRT, encoding="utf-8")
    render = {"captions": {"fr": {"srt": str(fr)}, "en": {"srt": str(en)},
                           "de": {"srt": str(tmp_path / "de.srt")}, "es": {}}}
    assert caption_srts(render) == {"en": en, "fr": fr}
    assert list(caption_srts(render)) == ["en", "fr"]
    assert caption_srts({}) == {}
    assert caption_srt(render, "fr", tmp_path / "ep.mp4") == fr
    with pytest.raises(StudioError, match="no 'de' captions to burn in") as e:
        caption_srt(render, "de", tmp_path / "ep.mp4")
    assert e.value.hint == "languages: de, en, es, fr (set series.languages and re-render)"
    assert e.value.problems[0].field == "burn_captions"


def test_hub_decodes_preview_frames_as_full_size_rgb(tmp_path: Path) -> None:
    clip = tmp_path / "walk.mp4"
    moving_face_clip(clip, seconds=1.0, width=320, height=180, audio=False)
    with av.open(str(clip)) as c:
        every = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    got = hub.decode_frames(clip, {0, 7, 23})
    assert sorted(got) == [0, 7, 23]
    for n, rgb in got.items():
        assert rgb.shape == (180, 320, 3) and rgb.dtype == np.uint8
        assert np.array_equal(rgb, every[n])
    assert hub.decode_frames(clip, set()) == {}
