"""Editor round trip: OTIO / EDL / FCP XML export through OTIO's adapters, edited import."""

from __future__ import annotations

import shutil
from pathlib import Path

import opentimelineio as otio
import pytest

from studio_kit.errors import StudioError
from studio_kit.exporters.interchange import export_timeline, merge_timeline
from studio_kit.project.series_folder import Project

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "lighthouse"


@pytest.fixture()
def proj(tmp_path: Path) -> Project:
    shutil.copytree(SAMPLE, tmp_path / "lh")
    return Project.load(tmp_path / "lh")


@pytest.mark.parametrize("suffix,adapter", [(".otio", "otio_json"), (".edl", "cmx_3600"),
                                            (".xml", "fcp_xml"), (".fcpxml", "fcpx_xml")])
def test_export_loads_in_otio_adapters(proj: Project, tmp_path: Path, suffix: str,
                                       adapter: str) -> None:
    sb = proj.storyboard("01")
    out = export_timeline(sb, tmp_path / f"ep{suffix}")
    tl = otio.adapters.read_from_file(str(out), adapter_name=adapter)
    names = [c.name for c in tl.find_clips()]
    assert names == [s.id for s in sb.shots]


def _edited(proj: Project, tmp_path: Path, suffix: str) -> tuple[Path, list[str]]:
    sb = proj.storyboard("01")
    ids = [s.id for s in sb.shots]
    out = export_timeline(sb, tmp_path / "ep.otio")
    tl = otio.adapters.read_from_file(str(out))
    track = tl.video_tracks()[0]
    for t in [i for i in track if isinstance(i, otio.schema.Transition)]:
        track.remove(t)
    clips = list(track)
    track[:] = []
    # reorder: swap the first two, remove the last, trim the first kept clip by 12 frames
    new = [clips[1], clips[0], *clips[2:-1]]
    sr = new[0].source_range
    new[0].source_range = otio.opentime.TimeRange(
        sr.start_time + otio.opentime.RationalTime(12, 24),
        sr.duration - otio.opentime.RationalTime(24, 24))
    for c in new:
        track.append(c)
    path = tmp_path / f"edited{suffix}"
    otio.adapters.write_to_file(tl, str(path))
    return path, [ids[1], ids[0], *ids[2:-1]]


@pytest.mark.parametrize("suffix", [".edl", ".xml", ".otio", ".fcpxml"])
def test_edited_timeline_merges(proj: Project, tmp_path: Path, suffix: str) -> None:
    path, order = _edited(proj, tmp_path, suffix)
    sb = proj.storyboard("01")
    before = sb.model_copy(deep=True)
    rep = merge_timeline(sb, path)
    assert [s.id for s in rep.storyboard.shots] == order
    first = rep.storyboard.shots[0]
    assert first.trim_in_s == pytest.approx(0.5)
    assert first.trim_out_s == pytest.approx(0.5)
    assert any(c.startswith("remove shot") for c in rep.changes)
    # what the editor cannot express is kept
    old = {s.id: s for s in before.shots}
    for s in rep.storyboard.shots:
        assert s.action == old[s.id].action and s.camera == old[s.id].camera
    assert sb == before  # the loaded storyboard was not edited in place
    proj.save_storyboard(rep.storyboard)
    again = Project.load(proj.root).storyboard("01")
    assert [s.id for s in again.shots] == order


def _edl(events: list[tuple[str, str, str]]) -> str:
    lines = ["TITLE: edited", "FCM: NON-DROP FRAME", ""]
    rec = 3600 * 24
    for n, (name, src_in, src_out) in enumerate(events, 1):
        a = otio.opentime.from_timecode(src_in, 24)
        b = otio.opentime.from_timecode(src_out, 24)
        r0 = otio.opentime.to_timecode(otio.opentime.RationalTime(rec, 24), 24)
        rec += int((b - a).value)
        r1 = otio.opentime.to_timecode(otio.opentime.RationalTime(rec, 24), 24)
        lines += [f"{n:03d}  AX       V     C        {src_in} {src_out} {r0} {r1}",
                  f"* FROM CLIP NAME: {name}", ""]
    return "\n".join(lines)


def test_hand_written_edl(proj: Project, tmp_path: Path) -> None:
    sb = proj.storyboard("01")
    a, b = sb.shots[0].id, sb.shots[1].id
    p = tmp_path / "hand.edl"
    p.write_text(_edl([(b, "00:00:00:00", "00:00:01:00"), (a, "00:00:00:06", "00:00:02:00")]))
    rep = merge_timeline(sb, p)
    assert [s.id for s in rep.storyboard.shots] == [b, a]
    assert rep.storyboard.shots[1].trim_in_s == pytest.approx(0.25)


@pytest.mark.parametrize("case", ["other_project", "unknown_clip", "beyond_take", "corrupt",
                                  "used_twice"])
def test_bad_input_names_file_and_writes_nothing(proj: Project, tmp_path: Path,
                                                 case: str) -> None:
    sb = proj.storyboard("01")
    a = sb.shots[0].id
    p = tmp_path / "bad.edl"
    if case == "other_project":
        p.write_text(_edl([("castle_01", "00:00:00:00", "00:00:01:00")]))
    elif case == "unknown_clip":
        p.write_text(_edl([(a, "00:00:00:00", "00:00:01:00"),
                           ("nobody_99", "00:00:00:00", "00:00:01:00")]))
    elif case == "beyond_take":
        p.write_text(_edl([(a, "00:00:00:00", "00:10:00:00")]))
    elif case == "used_twice":
        p.write_text(_edl([(a, "00:00:00:00", "00:00:01:00"),
                           (a, "00:00:01:00", "00:00:02:00")]))
    else:
        p = tmp_path / "bad.xml"
        p.write_text("<xmeml><sequence><broken")
    yaml_path = proj.root / "episodes" / "01" / "storyboard.yaml"
    before = yaml_path.read_bytes()
    with pytest.raises(StudioError) as err:
        merge_timeline(sb, p)
    msg = str(err.value)
    assert p.name in msg and "hint" in msg.lower()
    assert yaml_path.read_bytes() == before


def _otio_edit(proj: Project, tmp_path: Path, case: str) -> Path:
    sb = proj.storyboard("01")
    tl = otio.adapters.read_from_file(str(export_timeline(sb, tmp_path / "ep.otio")))
    track = tl.video_tracks()[0]
    if case == "negative_trim":
        c = next(iter(track.find_clips()))
        c.source_range = otio.opentime.TimeRange(otio.opentime.RationalTime(-12, 24),
                                                 c.source_range.duration)
    else:  # a dissolve longer than its shots
        for t in [i for i in track if isinstance(i, otio.schema.Transition)]:
            track.remove(t)
        track.insert(1, otio.schema.Transition(
            in_offset=otio.opentime.RationalTime(0, 24),
            out_offset=otio.opentime.RationalTime(24 * 5, 24),
            metadata={"studio": {"kind": "dissolve"}}))
    out = tmp_path / "bad.otio"
    otio.adapters.write_to_file(tl, str(out))
    return out


@pytest.mark.parametrize("case", ["negative_trim", "long_transition"])
def test_bad_otio_edits(proj: Project, tmp_path: Path, case: str) -> None:
    p = _otio_edit(proj, tmp_path, case)
    with pytest.raises(StudioError) as err:
        merge_timeline(proj.storyboard("01"), p)
    assert "bad.otio" in str(err.value)


def test_cli_dry_run_then_write(proj: Project, tmp_path: Path,
                                capfd: pytest.CaptureFixture[str]) -> None:
    from studio_kit.cli import main

    path, order = _edited(proj, tmp_path, ".edl")
    yaml_path = proj.root / "episodes" / "01" / "storyboard.yaml"
    before = yaml_path.read_bytes()
    assert main(["import-timeline", str(proj.root), "01", str(path), "--dry-run"]) == 0
    out = capfd.readouterr().err
    assert "remove shot" in out and "reorder" in out and yaml_path.read_bytes() == before
    assert main(["import-timeline", str(proj.root), "01", str(path)]) == 0
    assert [s.id for s in Project.load(proj.root).storyboard("01").shots] == order
    after = yaml_path.read_bytes()
    bad = tmp_path / "x.edl"
    bad.write_text(_edl([("castle_01", "00:00:00:00", "00:00:01:00")]))
    assert main(["import-timeline", str(proj.root), "01", str(bad)]) == 2
    assert "x.edl" in capfd.readouterr().err and yaml_path.read_bytes() == after
    out_edl = tmp_path / "cli.edl"
    assert main(["export-timeline", str(proj.root), "01", "-o", str(out_edl)]) == 0
    assert otio.adapters.read_from_file(str(out_edl)).find_clips()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from test_pipeline_episode import small_sample

    from studio_kit.pipeline import RenderOptions, render_episode

    root = small_sample(tmp_path_factory.mktemp("rt") / "lighthouse")
    render_episode(root, "01", options=RenderOptions(engine="local", width=64, height=36,
                                                     sign=False, prores=False),
                   out_dir=root / "out")
    return root


def test_export_points_at_the_renders_takes(rendered: Path, tmp_path: Path) -> None:
    from studio_kit.cli import main

    out = tmp_path / "cut.xml"
    assert main(["export-timeline", str(rendered), "01", "-o", str(out)]) == 0
    tl = otio.adapters.read_from_file(str(out))
    clips = list(tl.find_clips())
    ids = [s.id for s in Project.load(rendered).storyboard("01").shots]
    assert [c.name for c in clips] == ids
    for c in clips:
        assert isinstance(c.media_reference, otio.schema.ExternalReference), c.name
        from urllib.parse import unquote, urlparse

        url = c.media_reference.target_url
        assert Path(unquote(urlparse(url).path)).is_file(), url


# -- the round trip on a rendered episode: real takes, real source ranges -------------------
HAND_NOTE = "# hand note: keep the storm sound under the cafe\n"
ADAPTERS = {"edl": "cmx_3600", "fcp7": "fcp_xml", "fcpx": "fcpx_xml"}
SUFFIX = {"edl": ".edl", "fcp7": ".xml", "fcpx": ".fcpxml"}


def _copy_rendered(rendered: Path, dest: Path) -> Project:
    shutil.copytree(rendered, dest)
    sb_path = dest / "episodes" / "01" / "storyboard.yaml"
    sb_path.write_text(HAND_NOTE + sb_path.read_text())
    return Project.load(dest)


def _frames(seconds: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(round(seconds * 24), 24)


@pytest.mark.parametrize("fmt", ["edl", "fcp7", "fcpx"])
def test_round_trip_on_the_render(rendered: Path, tmp_path: Path, fmt: str,
                                  capfd: pytest.CaptureFixture[str]) -> None:
    """Export the rendered episode, edit it as an editor would in that format (swap the
    first two shots, trim the new first one at both ends, remove the last, make the cut
    between the two kept shots a 12-frame dissolve), import it back through the CLI."""
    from studio_kit.cli import main
    from studio_kit.exporters.interchange import take_media

    proj = _copy_rendered(rendered, tmp_path / "lh")
    sb = proj.storyboard("01")
    if fmt == "fcpx":  # FCPXML carries no transitions: the storyboard's (1 s dissolves)
        for s in sb.shots:  # stay, and would be longer than a trimmed 1 s shot
            s.transition = type(s.transition)()
        proj.save_storyboard(sb)
        sb = proj.storyboard("01")
    ids = [s.id for s in sb.shots]
    media = take_media(proj, "01")
    assert set(media) == set(ids) and all(m.path.is_file() for m in media.values())
    out = tmp_path / "cut"
    assert main(["export-timeline", str(proj.root), "01", "-o", str(out), "--format", fmt]
                ) == 0
    out = out.with_name("cut" + SUFFIX[fmt])
    tl = otio.adapters.read_from_file(str(out), adapter_name=ADAPTERS[fmt])
    clips = list(tl.find_clips())
    assert [c.name for c in clips] == ids
    for c in clips:  # real source ranges: the whole take, its decoded length
        assert c.source_range.duration.to_seconds() == pytest.approx(
            media[c.name].duration_s, abs=1 / 24)

    # the editor's changes, made on what the adapter read
    track = tl.video_tracks()[0]
    for t in [i for i in track if isinstance(i, otio.schema.Transition)]:
        track.remove(t)
    clips = list(track)
    track[:] = []
    first, second = clips[1], clips[0]
    trimmed = first
    sr = trimmed.source_range
    trimmed.source_range = otio.opentime.TimeRange(sr.start_time + _frames(0.25),
                                                   sr.duration - _frames(0.5))
    track.append(first)
    if fmt != "fcpx":  # the FCPXML adapter carries no transitions
        track.append(otio.schema.Transition(
            transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
            in_offset=_frames(0), out_offset=_frames(0.5)))
    track.append(second)
    edited = tmp_path / f"edited{SUFFIX[fmt]}"
    otio.adapters.write_to_file(tl, str(edited), adapter_name=ADAPTERS[fmt])

    sb_path = proj.root / "episodes" / "01" / "storyboard.yaml"
    assert main(["import-timeline", str(proj.root), "01", str(edited)]) == 0
    printed = capfd.readouterr()
    after = Project.load(proj.root).storyboard("01")
    assert [s.id for s in after.shots] == [ids[1], ids[0]]
    got = after.shot(ids[1])
    cut, kept = ids[1], ids[0]
    assert after.shot(cut).trim_in_s == pytest.approx(0.25, abs=1 / 24)
    assert after.shot(cut).trim_out_s == pytest.approx(0.25, abs=1 / 24)
    assert after.shot(kept).trim_in_s == 0 and after.shot(kept).trim_out_s == 0
    if fmt != "fcpx":
        assert got.transition.kind.value == "dissolve"
        assert got.transition.seconds == pytest.approx(0.5)
    else:
        assert got.transition == sb.shot(ids[1]).transition
        assert "remove shot" in printed.out + printed.err
    # what the editor cannot express is kept: prompts, camera, cast (bible links), scene
    for s in after.shots:
        old = sb.shot(s.id)
        assert (s.action, s.camera, s.characters, s.scene, s.dialogue) == (
            old.action, old.camera, old.characters, old.scene, old.dialogue)
    assert sb_path.read_text().startswith(HAND_NOTE)  # the hand edit survives


@pytest.mark.parametrize("fmt", ["edl", "fcp7"])
def test_round_trip_reports_ambiguous_clip_by_name(rendered: Path, tmp_path: Path,
                                                   fmt: str) -> None:
    """A clip renamed in the editor is found by its take's file and reported by its name;
    a clip named after one shot but linked to another shot's take is reported (FCP XML:
    EDL media links are not trusted, the CMX adapter writes a neighbour's on dissolves)."""
    from studio_kit.exporters.interchange import export_timeline, take_media

    proj = _copy_rendered(rendered, tmp_path / "lh")
    sb = proj.storyboard("01")
    media = take_media(proj, "01")
    out = export_timeline(sb, tmp_path / f"cut{SUFFIX[fmt]}", media)
    tl = otio.adapters.read_from_file(str(out), adapter_name=ADAPTERS[fmt])
    c0, c1 = list(tl.find_clips())[:2]
    renamed = tmp_path / f"renamed{SUFFIX[fmt]}"
    c0.name = "MARA CU take 3"
    if hasattr(c0.media_reference, "name"):
        c0.media_reference.name = "MARA CU take 3"
    otio.adapters.write_to_file(tl, str(renamed), adapter_name=ADAPTERS[fmt])
    rep = merge_timeline(sb, renamed, media)
    assert [s.id for s in rep.storyboard.shots] == [s.id for s in sb.shots]
    assert any("MARA CU take 3" in a and sb.shots[0].id in a for a in rep.ambiguous), \
        rep.ambiguous
    if fmt == "edl":  # an EDL's media links are not trusted: names decide
        return
    ids = [s.id for s in sb.shots]
    # the first clip renamed after the third shot (whose clip is removed): the name wins,
    # the take it is still linked to is reported
    track = tl.video_tracks()[0]
    for t in [i for i in track if isinstance(i, otio.schema.Transition)]:
        track.remove(t)  # cuts: a 1 s dissolve is longer than the shortened 1 s shot
    track.remove(list(track)[-1])
    c0.name = ids[2]
    if hasattr(c0.media_reference, "name"):
        c0.media_reference.name = ids[2]
    crossed = tmp_path / f"crossed{SUFFIX[fmt]}"
    otio.adapters.write_to_file(tl, str(crossed), adapter_name=ADAPTERS[fmt])
    rep = merge_timeline(sb, crossed, media)
    assert [s.id for s in rep.storyboard.shots] == [ids[2], ids[1]]
    assert any(a.startswith(f"clip {ids[2]!r} is named after shot {ids[2]} but linked to "
                            f"the take of shot {ids[0]}") for a in rep.ambiguous), rep.ambiguous
