"""Loading a series: every problem is reported at once, located to file, line and field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio_kit.errors import StudioError, ValidationFailed
from studio_kit.project.series_folder import Project

ROOT = Path(__file__).resolve().parents[1]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_unknown_scene_is_located(sample_dir):
    sb = sample_dir / "episodes/01/storyboard.yaml"
    _edit(sb, "scene: cliff_path", "scene: cliff_paht")
    with pytest.raises(ValidationFailed) as info:
        Project.load(sample_dir)
    err = info.value
    text = str(err)
    assert "cliff_paht" in text and "storyboard.yaml" in text
    assert f":{_line_of(sb, 'cliff_paht')}" in text
    assert "known scenes" in text  # the hint lists what would be valid


def test_all_problems_reported_together(sample_dir):
    _edit(sample_dir / "episodes/01/storyboard.yaml", "character: mara", "character: marra")
    _edit(sample_dir / "scenes/lamp_room.yaml", "interior: true", "interior: maybe")
    with pytest.raises(ValidationFailed) as info:
        Project.load(sample_dir)
    files = {p.file for p in info.value.problems}
    assert any(f.endswith("storyboard.yaml") for f in files)
    assert any(f.endswith("lamp_room.yaml") for f in files)


def test_bad_enum_value_names_choices(sample_dir):
    sb = sample_dir / "episodes/01/storyboard.yaml"
    _edit(sb, "angle: extreme_wide", "angle: ultra_wide")
    with pytest.raises(ValidationFailed) as info:
        Project.load(sample_dir)
    text = str(info.value)
    assert "ultra_wide" in text or "angle" in text
    assert "extreme_wide" in text  # the allowed values are listed
    assert info.value.problems[0].line == _line_of(sb, "ultra_wide")


def test_yaml_syntax_error_is_located(sample_dir):
    path = sample_dir / "characters/theo.yaml"
    path.write_text(path.read_text() + "\n  bad: [unclosed\n")
    with pytest.raises(StudioError) as info:
        Project.load(sample_dir)
    assert "theo.yaml" in str(info.value)
    assert info.value.line is not None


def test_missing_reference_image(sample_dir):
    path = sample_dir / "characters/mara.yaml"
    text = path.read_text()
    if "reference_images:" in text and "reference_images: []" not in text:
        _edit(path, "reference_images:", "reference_images:\n- refs/missing.png\n#")
    else:
        path.write_text(text.replace("reference_images: []", "") +
                        "\nreference_images: [refs/missing.png]\n")
    with pytest.raises(ValidationFailed, match="missing.png"):
        Project.load(sample_dir)


def test_resolve_shot_gives_outfits_and_marks(sample_project):
    sb = sample_project.storyboard("01")
    shot = next(s for s in sb.shots if s.characters)
    spec = sample_project.resolve_shot("01", shot.id)
    assert spec.scene.id == shot.scene
    assert [c.character.id for c in spec.characters] == shot.character_ids
    assert all(c.garments for c in spec.characters)
    assert spec.bible_version


def test_save_round_trip_is_stable(sample_project):
    sb = sample_project.storyboard("01")
    before = sample_project.episode("01").storyboard_path.read_text()
    sample_project.save_storyboard(sb)
    again = Project.load(sample_project.root).storyboard("01")
    assert again == sb
    sample_project.save_storyboard(again)
    assert sample_project.episode("01").storyboard_path.read_text() == \
        Project.load(sample_project.root).episode("01").storyboard_path.read_text()
    assert before  # the hand-written file was accepted as is


def test_unknown_episode_lists_known(sample_project):
    with pytest.raises(StudioError, match="01"):
        sample_project.episode("07")


def _studio(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "studio_kit.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_validate_ok_and_error_without_traceback(sample_dir):
    ok = _studio("validate", str(sample_dir))
    assert ok.returncode == 0, ok.stderr
    assert "3 characters" in ok.stderr + ok.stdout
    _edit(sample_dir / "episodes/01/storyboard.yaml", "duration_s: 4.0", "duration_s: -4")
    bad = _studio("validate", str(sample_dir))
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert "duration_s" in bad.stderr and "storyboard.yaml" in bad.stderr


def test_cli_new_creates_a_valid_series(tmp_path):
    res = _studio("new", str(tmp_path / "s"), "--title", "Night Shift")
    assert res.returncode == 0, res.stderr
    assert Project.load(tmp_path / "s").series.title == "Night Shift"
    again = _studio("new", str(tmp_path / "s"))
    assert again.returncode == 2 and "not empty" in again.stderr


def test_cli_status(sample_dir):
    res = _studio("status", str(sample_dir))
    assert res.returncode == 0, res.stderr
    assert "The Lighthouse at Kerbrat" in res.stdout
    assert "storyboard" in res.stdout and "│ 01" in res.stdout


def test_json_schema_is_current_and_validates_sample(tmp_path):
    from studio_kit.project.schema import DOCUMENTS, json_schema, stale

    assert stale(ROOT / "schema") == [], "run 'studio schema --out schema'"
    for kind in DOCUMENTS:
        schema = json_schema(kind)
        assert schema["$id"].endswith(f"{kind}.schema.json")
        assert schema["additionalProperties"] is False
    res = _studio("schema", "--out", str(tmp_path), "--check")
    assert res.returncode == 2 and "out of date" in res.stderr
