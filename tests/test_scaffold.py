"""One scaffold for new series: `studio new`, the Project Builder and `import-script --new`."""

from __future__ import annotations

import pytest

from studio_kit.errors import StudioError
from studio_kit.models import Appearance, GarmentKind, KeyLight, Series, TimeOfDay
from studio_kit.project.scaffold import (
    SERIES_DIRS,
    create_series_folder,
    new_character,
    new_scene,
    require_empty_folder,
)
from studio_kit.project.series_folder import Project
from studio_kit.screenplay import import_script
from studio_kit.surfaces.builder import build_project


def test_require_empty_folder(tmp_path) -> None:
    require_empty_folder(tmp_path / "missing")
    require_empty_folder(tmp_path)
    (tmp_path / "script.fountain").write_text("x")
    require_empty_folder(tmp_path, ignore={"script.fountain"})
    with pytest.raises(StudioError, match="not empty") as err:
        require_empty_folder(tmp_path)
    assert err.value.hint and str(tmp_path) in str(err.value)
    with pytest.raises(StudioError, match="not a folder"):
        require_empty_folder(tmp_path / "script.fountain")


def test_series_folder_with_a_character_and_a_scene(tmp_path) -> None:
    ch = new_character("ana", "Ana Lima", aliases=["ANA"], description="",
                       appearance=Appearance(skin="#e0ac69"), clothes=["#1f3a5f", "#7a2e2e"],
                       outfit="everyday", voice="f2", language="pt", pitch=60, rate=170)
    outfit = ch.wardrobe.outfits["default"]
    assert [(g.kind, g.colours) for g in outfit.garments] == [
        (GarmentKind.top, ["#1f3a5f"]), (GarmentKind.trousers, ["#7a2e2e"])]
    assert ch.voice.engine == "espeak" and ch.voice.voice == "f2" and ch.voice.language == "pt"
    sc = new_scene("cafe", "CAFE", interior=True, time_of_day=TimeOfDay.night,
                   key=KeyLight.back_right, fill_ratio=8.0, colour_temperature_k=3200,
                   palette=["#8a7f72", "#4b4036"], ambience=["room_tone"])
    assert sc.lighting.colour_temperature_k == 3200 and sc.set_layout == []
    path = create_series_folder(tmp_path / "s", Series(title="S"), characters=[ch],
                                scenes=[sc])
    assert path.name == "series.yaml"
    assert all((tmp_path / "s" / d).is_dir() for d in SERIES_DIRS)
    p = Project.load(tmp_path / "s")
    assert p.characters["ana"] == ch and p.scenes["cafe"] == sc


def test_all_three_creators_make_the_same_layout(tmp_path, sample_dir) -> None:
    from studio_kit.cli import main

    assert main(["new", str(tmp_path / "cli"), "--title", "C"]) == 0
    build_project(tmp_path / "built", {"title": "B", "use_llm": False})
    (tmp_path / "imported").mkdir()
    import_script(tmp_path / "imported", sample_dir / "episodes/01/script.fountain", "01",
                  create=True)
    for name in ("cli", "built", "imported"):
        root = tmp_path / name
        assert {p.name for p in root.iterdir() if p.is_dir()} >= set(SERIES_DIRS), name
        Project.load(root)
    # every creator refuses a folder with something in it, and leaves it alone
    for name in ("cli", "built", "imported"):
        (tmp_path / f"busy-{name}").mkdir()
        (tmp_path / f"busy-{name}" / "notes.txt").write_text("mine")
    assert main(["new", str(tmp_path / "busy-cli")]) == 2  # a StudioError, printed
    with pytest.raises(StudioError, match="not empty"):
        build_project(tmp_path / "busy-built", {"title": "B", "use_llm": False})
    with pytest.raises(StudioError, match="not empty"):
        import_script(tmp_path / "busy-imported", sample_dir / "episodes/01/script.fountain",
                      "01", create=True)
    for name in ("cli", "built", "imported"):
        assert [p.name for p in (tmp_path / f"busy-{name}").iterdir()] == ["notes.txt"]
