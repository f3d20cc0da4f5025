"""Library entry points given bad input raise a StudioError naming the file and a fix,
and keep the user's data (no bare KeyError / ValueError / sqlite / yaml errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_kit.errors import StudioError
from studio_kit.ledger import Ledger
from studio_kit.yamlio import load_yaml


def test_corrupt_ledger_is_a_studio_error_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / ".studio" / "ledger.sqlite"
    path.parent.mkdir()
    junk = b"not a database at all\n" * 100
    path.write_bytes(junk)
    with pytest.raises(StudioError) as info:
        Ledger(path)
    assert info.value.file == str(path) and "move it aside" in (info.value.hint or "")
    assert path.read_bytes() == junk  # nothing is lost


@pytest.mark.parametrize(("text", "want"), [
    (b"title: a\ntitle: b\n", "appears twice"),
    (b"acts:\n  - id: a\n    id: b\n", "appears twice"),
    (b"title: a\x01b\n", "control"),
    (b"title: [a\n", "malformed YAML"),
])
def test_yaml_mistakes_name_file_and_line(tmp_path: Path, text: bytes, want: str) -> None:
    path = tmp_path / "series.yaml"
    path.write_bytes(text)
    with pytest.raises(StudioError) as info:
        load_yaml(path)
    assert want in str(info.value) and info.value.file == str(path)
    assert info.value.line is not None and info.value.hint


def test_yaml_folder_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "scene.yaml").mkdir()
    with pytest.raises(StudioError, match="cannot read"):
        load_yaml(tmp_path / "scene.yaml")


def test_unknown_shot_lists_the_shots(sample_project) -> None:
    with pytest.raises(StudioError) as info:
        sample_project.resolve_shot("01", "s99")
    assert "s01-cliff-wide" in (info.value.hint or "")


def test_verify_missing_file(tmp_path: Path) -> None:
    from studio_kit.provenance import verify

    with pytest.raises(StudioError) as info:
        verify(tmp_path / "none.mp4")
    assert info.value.file == str(tmp_path / "none.mp4")


def test_compile_for_unknown_engine(sample_project) -> None:
    from studio_kit.prompts import compile_episode

    with pytest.raises(StudioError, match="warp"):
        compile_episode(sample_project, "01", engine="warp")


def test_render_options_zero_width_and_unknown_engine_fail_before_work(sample_dir) -> None:
    from studio_kit.pipeline import RenderOptions, render_episode

    with pytest.raises(StudioError, match="0x90"):
        render_episode(sample_dir, "01", options=RenderOptions(width=0, height=90),
                       out_dir=sample_dir / "out")
    with pytest.raises(StudioError, match="unknown engine 'warp'"):
        render_episode(sample_dir, "01", options=RenderOptions(engine="warp", width=160,
                                                               height=90),
                       out_dir=sample_dir / "out")
    ledger = sample_dir / ".studio" / "ledger.sqlite"
    if ledger.exists():  # no stage ran before the mistake was reported
        with Ledger(ledger) as led:
            assert led.query("SELECT COUNT(*) AS n FROM stage_results")[0]["n"] == 0
