"""The OTIO export matches the master (issue 12 point 6): built from what the render made.

One small render (the trimmed sample: 3 shots, a fade and a dissolve, title/act/hook cards,
a French dub) at 64x36; ``studio export-otio`` then writes the cut, which is read back with
``opentimelineio.adapters.read_from_file`` and compared with the master MP4 as probed.
The same render checks the delivered AAC's true peak (issue 19).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import opentimelineio as otio
import pytest
from test_pipeline_episode import small_sample

from studio_kit.cli import main
from studio_kit.edit.probe import probe
from studio_kit.edit.timeline import Timeline, timeline_from_storyboard
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.project.series_folder import Project

OPTS = RenderOptions(engine="local", width=64, height=36, sign=False, prores=False)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = small_sample(tmp_path_factory.mktemp("otio") / "lighthouse")
    result = render_episode(root, "01", options=OPTS, out_dir=root / "out")
    return root, result


@pytest.fixture(scope="module")
def cut(rendered, tmp_path_factory):
    root, _ = rendered
    out = tmp_path_factory.mktemp("cut") / "cut.otio"
    assert main(["export-otio", str(root), "01", "-o", str(out)]) == 0  # finds out/episode-01
    return otio.adapters.read_from_file(str(out))


def _master_seconds(result) -> tuple[int, float]:
    v = probe(result.master).video
    return v.frames, v.frames / v.fps


def test_otio_duration_is_the_masters(rendered, cut) -> None:
    root, result = rendered
    frames, seconds = _master_seconds(result)
    assert abs(cut.duration().to_seconds() - seconds) <= 1 / 24 + 1e-9
    assert cut.tracks[0].duration().to_frames() == frames  # the picture track, exactly
    # the storyboard's nominal durations give another length: the export did not use them
    project = Project.load(root)
    planned = timeline_from_storyboard(project.storyboard("01"), fps=24)
    assert abs(planned.duration_s - seconds) > 1.0


def test_otio_has_the_renders_sound_tracks(rendered, cut) -> None:
    _, result = rendered
    frames, _ = _master_seconds(result)
    audio = [t for t in cut.tracks if t.kind == otio.schema.TrackKind.Audio]
    roles = [(t.find_clips()[0].metadata["studio"]["role"], t.enabled) for t in audio]
    assert roles[0] == ("mix", True)  # the main mix plays; stems and dubs are there, muted
    assert [r for r, _ in roles].count("stem") == 5 and ("dub", False) in roles
    names = " ".join(t.name for t in audio)
    for part in ("dialogue", "music", "effects", "ambience", "M&E", "dub (fr)"):
        assert part in names, names
    mix = audio[0].find_clips()[0].media_reference
    assert Path(result.mix).resolve().as_uri() == mix.target_url
    for t in audio:
        assert t.duration().to_frames() == frames  # every sound track runs the whole cut
        url = t.find_clips()[0].media_reference.target_url
        assert Path(url.removeprefix("file://")).is_file(), url


def test_otio_transitions_and_clips_follow_the_assembled_timeline(rendered, cut) -> None:
    _, result = rendered
    assert result.timeline and Path(result.timeline).is_file()
    tl = Timeline.model_validate_json(Path(result.timeline).read_text())
    video = cut.tracks[0]
    transitions = [t for t in video if isinstance(t, otio.schema.Transition)]
    wanted = [(i.transition.kind.value, i.transition.frames) for i in tl.items[:-1]
              if i.transition.overlaps]
    assert {k for k, _ in wanted} >= {"fade", "dissolve"}
    assert [(t.name, (t.in_offset + t.out_offset).to_frames()) for t in transitions] == wanted
    clips = list(video.find_clips())
    assert [c.metadata["studio"]["id"] for c in clips] == [i.id for i in tl.items]
    for clip, item in zip(clips, tl.items, strict=True):
        in_t, out_t = video.neighbors_of(clip)
        handles = sum(int(t.out_offset.value if t is in_t else t.in_offset.value)
                      for t in (in_t, out_t) if isinstance(t, otio.schema.Transition))
        assert clip.source_range.duration.to_frames() + handles == item.frames
        if item.kind.value == "shot":  # the graded clip the master was cut from
            ref = clip.media_reference
            assert isinstance(ref, otio.schema.ExternalReference)
            assert Path(ref.target_url.removeprefix("file://")).is_file()
            # dialogue lengthened the shots past the storyboard's 1.0 s
            assert item.frames > 24
        else:
            assert clip.metadata["studio"]["text"]


def test_export_of_a_render_without_a_timeline_is_a_clear_error(rendered, tmp_path,
                                                                capsys) -> None:
    root, result = rendered
    old = json.loads((Path(result.out_dir) / "render.json").read_text())
    old.pop("timeline")
    record = tmp_path / "render.json"
    record.write_text(json.dumps(old))
    assert main(["export-otio", str(root), "01", "-o", str(tmp_path / "c.otio"),
                 "--render", str(record)]) == 2
    err = capsys.readouterr()
    assert "timeline" in (err.out + err.err) and "hint" in (err.out + err.err)


def test_export_still_plans_from_the_storyboard_before_a_render(rendered, tmp_path) -> None:
    root, _ = rendered
    fresh = tmp_path / "lighthouse"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".studio", "out"))
    out = tmp_path / "planned.otio"
    assert main(["export-otio", str(fresh), "01", "-o", str(out)]) == 0
    back = otio.adapters.read_from_file(str(out))
    assert not [t for t in back.tracks if t.kind == otio.schema.TrackKind.Audio]


def test_rendered_master_aac_true_peak_holds_the_ceiling(rendered) -> None:
    """Issue 19: every AAC track of the delivered master, measured by ffmpeg's ebur128,
    is at or below the series' ceiling minus the margin docs/audio.md states."""
    from test_edit_deliver import _ebur128_true_peak

    from studio_kit.audio.mix import AAC_MARGIN_DB

    root, result = rendered
    ceiling = Project.load(root).series.loudness.peak
    for n in range(2):  # main mix and French dub
        assert _ebur128_true_peak(Path(result.master), n) <= ceiling - AAC_MARGIN_DB
    summary = json.loads((Path(result.out_dir) / "episode-01.qc.json").read_text())
    assert all(a["true_peak_dbtp"] <= ceiling - AAC_MARGIN_DB for a in summary["audio"])


def test_export_after_the_project_moved(rendered, tmp_path) -> None:
    """render.json names absolute paths; a moved series folder still exports its cut
    (timeline, mix and master found in the episode folder, shots in the vault)."""
    root, result = rendered
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    shutil.rmtree(moved / "out" / "episode-01" / "audio" / "dubs")  # (a missing dub is skipped)
    out = tmp_path / "moved.otio"
    record = moved / "out" / "episode-01"
    assert main(["export-otio", str(moved), "01", "-o", str(out), "--render", str(record)]) == 0
    back = otio.adapters.read_from_file(str(out))
    frames, _ = _master_seconds(result)
    assert back.duration().to_frames() == frames
    urls = [c.media_reference.target_url for c in back.find_clips()
            if isinstance(c.media_reference, otio.schema.ExternalReference)]
    outside = [u for u in urls if not u.startswith(moved.resolve().as_uri())]
    assert urls and not outside, outside
    assert not any("dub" in t.name for t in back.tracks)
