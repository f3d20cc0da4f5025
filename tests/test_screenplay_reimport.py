"""Re-import keeps shot ids and manual storyboard edits; only changed passages change."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_kit.errors import StudioError
from studio_kit.models import CameraAngle, Shot, ShotSource
from studio_kit.project.series_folder import Project
from studio_kit.screenplay import import_script

SCRIPT = """Title: Re-import test

# ACT ONE

INT. LIGHTHOUSE - LAMP ROOM - NIGHT

MARA trims the wick. THEO watches.

MARA
It's late.

THEO
It's always late up here.

MARA
(smiling)
Then go to bed.

EXT. CLIFF PATH - NIGHT

Wind. THEO walks away.

THEO
Goodnight, Mara.

CUT TO:

INT. HARBOUR CAFE - MORNING

ÉLODIE
[[lang: fr]]
Un café, s'il vous plaît.
"""


def _import(root: Path, text: str, ep: str = "03"):
    path = root / "episodes" / ep / "script.fountain"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return import_script(root, path, ep)


def _board(root: Path, ep: str = "03"):
    return Project.load(root).storyboard(ep)


def test_reimport_unchanged_is_a_no_op(sample_dir: Path):
    first = _import(sample_dir, SCRIPT)
    assert first.counts()["scenes_created"] == 0  # lamp room, cliff path, cafe exist
    assert first.counts()["characters_matched"] == 3
    before = (sample_dir / "episodes/03/storyboard.yaml").read_text()
    again = _import(sample_dir, SCRIPT)
    assert again.counts()["shots_created"] == again.counts()["shots_updated"] == 0
    assert len(again.shots_unchanged) == first.total_shots
    assert (sample_dir / "episodes/03/storyboard.yaml").read_text() == before


def test_edit_one_line_changes_only_that_shot_and_keeps_manual_edits(sample_dir: Path):
    _import(sample_dir, SCRIPT)
    project = Project.load(sample_dir)
    sb = project.storyboard("03")
    ids = [s.id for s in sb.shots]
    by_text = {s.dialogue[0].text: s for s in sb.shots if s.dialogue}
    late = by_text["It's late."]
    always = by_text["It's always late up here."]
    # manual storyboard edits: a camera change, a note, an engine preference
    late.camera.angle = CameraAngle.extreme_close_up
    late.notes = "push in slowly"
    always.engine = "premium-engine"
    always.seed = 7
    project.save_storyboard(sb)

    edited = SCRIPT.replace("Then go to bed.", "Then go to bed, Theo.")
    report = _import(sample_dir, edited)
    after = _board(sample_dir)
    assert [s.id for s in after.shots] == ids  # ids stable
    bed = next(s for s in after.shots if s.dialogue and "bed" in s.dialogue[0].text)
    assert report.shots_updated == [bed.id] and not report.shots_created
    assert bed.dialogue[0].text == "Then go to bed, Theo."
    assert bed.duration_s > sb.shot(bed.id).duration_s  # more words, longer
    kept = after.shot(late.id)
    assert kept.camera.angle == CameraAngle.extreme_close_up and kept.notes == "push in slowly"
    assert after.shot(always.id).engine == "premium-engine" and after.shot(always.id).seed == 7
    assert not report.conflicts


def test_insert_and_remove_passages(sample_dir: Path):
    _import(sample_dir, SCRIPT)
    sb = _board(sample_dir)
    old_ids = {s.id for s in sb.shots}
    edited = SCRIPT.replace("THEO\nGoodnight, Mara.\n", "THEO\nGoodnight, Mara.\n\n"
                            "MARA (O.S.)\nTake the torch!\n")
    edited = edited.replace("THEO\nIt's always late up here.\n\n", "")
    report = _import(sample_dir, edited)
    after = _board(sample_dir)
    assert len(report.shots_created) == 1 and len(report.shots_removed) == 1
    assert report.shots_created[0] not in old_ids
    assert report.shots_removed[0] in old_ids and report.shots_removed[0] not in \
        {s.id for s in after.shots}
    assert {s.id for s in after.shots} - set(report.shots_created) <= old_ids
    torch = after.shot(report.shots_created[0])
    assert torch.dialogue[0].text == "Take the torch!" and torch.scene == "cliff_path"


def test_script_change_wins_over_manual_edit_of_same_field(sample_dir: Path):
    _import(sample_dir, SCRIPT)
    project = Project.load(sample_dir)
    sb = project.storyboard("03")
    shot = next(s for s in sb.shots if s.dialogue and s.dialogue[0].text == "It's late.")
    shot.dialogue[0].text = "It is late."  # hand edit of the line
    shot.camera.angle = CameraAngle.low_angle  # hand edit elsewhere
    project.save_storyboard(sb)
    report = _import(sample_dir, SCRIPT.replace("It's late.", "It's so late."))
    after = _board(sample_dir).shot(shot.id)
    assert after.dialogue[0].text == "It's so late."
    assert after.camera.angle == CameraAngle.low_angle
    assert (shot.id, "dialogue") in report.conflicts


def test_hand_added_shot_is_kept_in_place(sample_dir: Path):
    _import(sample_dir, SCRIPT)
    project = Project.load(sample_dir)
    sb = project.storyboard("03")
    first = sb.acts[0].shots[0]
    sb.acts[0].shots.insert(1, Shot(id="insert-lens", scene="lamp_room", action="The lens."))
    project.save_storyboard(sb)
    report = _import(sample_dir, SCRIPT.replace("Wind.", "Wind and rain."))
    after = _board(sample_dir)
    assert report.shots_manual_kept == ["insert-lens"]
    assert [s.id for s in after.acts[0].shots[:2]] == [first.id, "insert-lens"]


def test_hand_written_storyboard_is_not_overwritten(sample_dir: Path):
    path = sample_dir / "episodes/01/storyboard.yaml"
    before = path.read_bytes()
    with pytest.raises(StudioError) as err:
        import_script(sample_dir, sample_dir / "episodes/01/script.fountain", "01")
    assert "by hand" in str(err.value) and err.value.hint
    assert path.read_bytes() == before


def test_source_hashes_are_recorded(sample_dir: Path):
    _import(sample_dir, SCRIPT)
    for shot in _board(sample_dir).shots:
        assert isinstance(shot.source, ShotSource)
        assert shot.source.key.startswith(shot.scene + ":")
        assert set(shot.source.field_hashes) >= {"action", "dialogue", "camera", "duration_s"}


def test_imported_files_get_normal_file_modes(tmp_path):
    """Scene and character files are written in one batch; they must not stay 0600."""
    from studio_kit.screenplay import import_script
    from studio_kit.store.yamlio import FILE_MODE

    script = tmp_path / "s.fountain"
    script.write_text("INT. KITCHEN - DAY\n\nAda pours tea.\n\nADA\nMorning.\n")
    import_script(tmp_path / "p", script, "01", create=True)
    written = [*(tmp_path / "p/scenes").glob("*.yaml"), *(tmp_path / "p/characters").glob("*.yaml")]
    assert written
    assert {p.stat().st_mode & 0o777 for p in written} == {FILE_MODE}
