"""Issue 19, import side: the imported board and bibles follow what the script says (time of
day, atmosphere, looks, voices, props, fades, lyrics, language) and every Fountain fixture of
screenplain's and nyousefi/Fountain's test suites imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_kit.errors import ScriptError
from studio_kit.models import (
    AtmosphereKind,
    GarmentKind,
    TimeOfDay,
    TransitionKind,
    VoiceAge,
    VoiceGender,
)
from studio_kit.project.series_folder import Project
from studio_kit.screenplay import import_script, parse_fountain
from studio_kit.screenplay.importer import (
    _SKIN,
    HAIR_SKIN_MIN_DISTANCE,
    colour_distance,
    placeholder_character,
)
from studio_kit.screenplay.parse import ActionPara, Heading, Speech

FIXTURES = Path(__file__).parent / "fixtures" / "fountain"
FIXTURE_FILES = sorted(p for p in FIXTURES.glob("*/*") if p.suffix in {".fountain", ".txt"}
                       and "LICENSE" not in p.name)


def _import(tmp_path: Path, text: str, name: str = "s.fountain"):
    script = tmp_path / name
    script.write_text(text, encoding="utf-8")
    root = tmp_path / "proj"
    report = import_script(root, script, "01", create=True)
    return report, Project.load(root)


# -- 1. headings -----------------------------------------------------------------------------
def test_headings_without_period_and_ie():
    s = parse_fountain("INT HOUSE DAY\n\nBob sits.\n\nI./E. CAR - NIGHT\n\nBob drives.\n")
    hs = s.headings
    assert [(h.location, h.time_of_day, h.interior) for h in hs] == [
        ("HOUSE", TimeOfDay.day, True), ("CAR", TimeOfDay.night, True)]


def test_consecutive_headings_are_not_a_character(tmp_path: Path):
    report, project = _import(tmp_path, "INT HOUSE DAY\nEXT GARDEN NIGHT\n\nBOB\nHello.\n")
    assert report.headings == 2 and set(project.characters) == {"bob"}
    assert {sc.name for sc in project.scenes.values()} == {"HOUSE", "GARDEN"}


def test_night_heading_sets_shot_and_new_scene_time(tmp_path: Path):
    _, project = _import(tmp_path, "EXT. PIER - DAY\n\nGulls.\n\nEXT. PIER - NIGHT\n\n"
                         "Lamps.\n\nEXT MOOR DUSK\n\nWind.\n")
    sb = project.storyboard("01")
    assert [s.time_of_day for s in sb.shots] == [TimeOfDay.day, TimeOfDay.night, TimeOfDay.dusk]
    assert project.scenes["moor"].time_of_day == TimeOfDay.dusk


# -- 2. atmosphere ---------------------------------------------------------------------------
def test_fog_in_action_and_storm_in_heading(tmp_path: Path):
    _, project = _import(tmp_path, "EXT. HARBOUR - NIGHT\n\nFog rolls in over the water.\n\n"
                         "MARA\nWho's there?\n\nEXT. CLIFF (STORM) - NIGHT\n\nWaves.\n\n"
                         "INT. KITCHEN - DAY\n\nA kettle.\n")
    sb = project.storyboard("01")
    fog = [s for s in sb.shots if s.scene == "harbour"]
    assert all(s.atmosphere is not None and s.atmosphere.kind == AtmosphereKind.fog
               for s in fog) and len(fog) == 2
    assert project.scenes["harbour"].atmosphere.kind == AtmosphereKind.fog
    cliff = project.scenes["cliff"].atmosphere
    assert cliff.kind == AtmosphereKind.rain and cliff.density > 0.8
    assert project.scenes["kitchen"].atmosphere.kind == AtmosphereKind.clear
    assert all(s.atmosphere is None for s in sb.shots if s.scene == "kitchen")


# -- 3. descriptions, looks, voices ----------------------------------------------------------
def test_costume_hair_gender_age_from_introduction(tmp_path: Path):
    _, project = _import(tmp_path, "EXT. PIER - DAY\n\nMARA (60s), a weathered woman in a "
                         "yellow oilskin and a red cap, grey hair. She coils rope. THEO, a "
                         "young man in a blue jacket, watches.\n\nMARA\nHold this.\n\nTHEO\n"
                         "Sure.\n")
    mara, theo = project.characters["mara"], project.characters["theo"]
    g = {x.kind: x for x in mara.outfit_for().garments}
    assert g[GarmentKind.coat].colours[0] == "#f2d21b" and "oilskin" in g[GarmentKind.coat].name
    assert g[GarmentKind.hat].colours[0] == "#c0392b"
    assert mara.appearance.hair_colour == "#808080"
    assert mara.voice.gender == VoiceGender.female and mara.voice.age == VoiceAge.older
    assert mara.voice.voice.startswith("f")
    assert theo.voice.gender == VoiceGender.male and theo.voice.age == VoiceAge.young
    assert {x.kind: x for x in theo.outfit_for().garments}[GarmentKind.jacket].colours == [
        "#2d5f8b"]


def test_hand_made_bible_is_never_overwritten(sample_dir: Path, tmp_path: Path):
    before = {cid: c.model_dump() for cid, c in Project.load(sample_dir).characters.items()}
    name = next(iter(Project.load(sample_dir).characters.values())).name.upper()
    script = tmp_path / "x.fountain"
    script.write_text(f"EXT. PIER - DAY\n\n{name}, an old man in a purple coat.\n\n"
                      f"{name}\nHello there.\n", encoding="utf-8")
    import_script(sample_dir, script, "05")
    after = {cid: c.model_dump() for cid, c in Project.load(sample_dir).characters.items()}
    assert after == before


def test_placeholder_hair_never_close_to_skin():
    for i in range(300):
        ch = placeholder_character(f"c{i}", f"PERSON {i}", f"PERSON {i}", "en", 1, "x")
        assert colour_distance(ch.appearance.hair_colour, ch.appearance.skin) >= \
            HAIR_SKIN_MIN_DISTANCE
        assert ch.appearance.hair_style.value != "bald"
    assert {ch.appearance.skin for ch in [placeholder_character(
        f"c{i}", f"P {i}", "P", "en", 1, "x") for i in range(100)]} <= set(_SKIN)


# -- 4. props ----------------------------------------------------------------------------------
def test_new_set_gets_props_from_first_description(tmp_path: Path):
    _, project = _import(tmp_path, "EXT. HEADLAND - DAY\n\nA white lighthouse above a rowing "
                         "boat; a table with nets.\n\nINT. ROOM - DAY\n\nEmpty.\n")
    props = [m.prop for m in project.scenes["headland"].set_layout]
    assert props == ["lighthouse", "boat", "table"]
    assert project.scenes["room"].set_layout == []


# -- 5. transitions --------------------------------------------------------------------------
def test_fade_out_at_end_is_kept_with_the_end_after_it(tmp_path: Path):
    _, project = _import(tmp_path, "INT. A - DAY\n\nBob waits.\n\nFADE OUT.\n\n> THE END <\n")
    last = project.storyboard("01").shots[-1]
    assert last.transition.kind == TransitionKind.fade and "THE END" in last.notes


def test_fade_to_black_kept_when_cut_follows(tmp_path: Path):
    _, project = _import(tmp_path, "INT. A - DAY\n\nBob waits.\n\nFADE TO BLACK.\n\nCUT TO:\n\n"
                         "INT. B - DAY\n\nAnn.\n")
    assert project.storyboard("01").shots[0].transition.kind == TransitionKind.fade


# -- 6. title ----------------------------------------------------------------------------------
def test_title_card_does_not_repeat_the_series_title(tmp_path: Path):
    _, project = _import(tmp_path, "Title: Big Fish\n\nINT. A - DAY\n\nBob.\n")
    assert project.series.title == "Big Fish" and project.storyboard("01").title == ""


# -- 7. shots ----------------------------------------------------------------------------------
def test_both_freeze_gets_the_characters_present(tmp_path: Path):
    _, project = _import(tmp_path, "INT. A - DAY\n\nMARA\nListen.\n\nTHEO\nWhat?\n\n"
                         "Both freeze.\n")
    shot = project.storyboard("01").shots[-1]
    assert shot.action == "Both freeze." and set(shot.character_ids) == {"mara", "theo"}


def test_shots_with_different_headings_and_actions_differ(tmp_path: Path):
    _, project = _import(tmp_path, "EXT. PIER - DAY\n\nGulls wheel.\n\nEXT. PIER - NIGHT\n\n"
                         "Fog rolls in.\n")
    a, b = project.storyboard("01").shots
    assert a.scene == b.scene
    da, db = (s.model_dump(exclude={"id", "source"}) for s in (a, b))
    assert da != db and da["action"] != db["action"] and da["time_of_day"] != db["time_of_day"]


# -- 8. language -----------------------------------------------------------------------------
def test_unmarked_french_line_gets_its_language_and_a_warning(tmp_path: Path):
    report, project = _import(tmp_path, "INT. CAFE - DAY\n\nMARA\nI will wait for you here "
                              "tonight.\n\nMARA\nJe ne sais pas ce que tu veux dire, mon ami.\n"
                              "\nMARA\nOkay.\n")
    lines = [d for s in project.storyboard("01").shots for d in s.dialogue]
    assert [d.language for d in lines] == [None, "fr", None]
    assert any("reads as fr" in w for w in report.warnings)


# -- 9. lyrics and elements ------------------------------------------------------------------
def test_lyrics_are_marked_not_spoken_with_tildes(tmp_path: Path):
    _, project = _import(tmp_path, "INT. A - NIGHT\n\nMARA\n~Row, row, row your boat\n"
                         "~gently down the stream\nThere.\n")
    lines = project.storyboard("01").shots[-1].dialogue
    assert [(d.text, d.lyric) for d in lines] == [
        ("Row, row, row your boat gently down the stream", True), ("There.", False)]


def test_forced_elements_notes_boneyard_centered():
    s = parse_fountain("!INT. NOT A HEADING\n\n@mcclane\nYippee.\n\n.FLASHBACK\n\n"
                       "/* gone */\n\n> CUT TO BLACK:\n\n>THE END<\n\n[[a note]]\n")
    kinds = [type(e).__name__ for e in s.elements]
    assert isinstance(s.elements[0], ActionPara) and s.elements[0].text == "INT. NOT A HEADING"
    assert isinstance(s.elements[1], Speech) and s.elements[1].name == "MCCLANE"
    assert isinstance(s.elements[2], Heading) and s.elements[2].secondary
    assert "TransitionPara" in kinds and any(
        isinstance(e, ActionPara) and e.centered and e.text == "THE END" for e in s.elements)


# -- 10. fixtures, folders ---------------------------------------------------------------------
def test_fixture_suites_are_here_with_licences():
    assert len(FIXTURE_FILES) >= 35
    assert (FIXTURES / "screenplain" / "LICENSE.txt").is_file()
    assert (FIXTURES / "nyousefi" / "LICENSE").is_file()


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_imports(tmp_path: Path, path: Path):
    root = tmp_path / "proj"
    report = import_script(root, path, "01", create=True)
    project = Project.load(root)
    sb = project.storyboard("01")
    assert sb.shots and report.total_shots == len(sb.shots)
    spoken = " ".join(d.text for s in sb.shots for d in s.dialogue)
    assert "~" not in spoken and "[[" not in spoken and "/*" not in spoken
    if report.headings == 0:
        assert len({s.scene for s in sb.shots}) == 1  # a script without headings: one scene


def test_fixture_elements_right():
    d = parse_fountain((FIXTURES / "screenplain" / "dual-dialogue.fountain").read_text())
    assert [sp.dual for sp in d.speeches] == [False, True]
    sec = parse_fountain((FIXTURES / "nyousefi" / "SectionHeaders.fountain").read_text())
    assert [e.level for e in sec.elements][:5] == [1, 1, 1, 1, 1]
    tp = parse_fountain((FIXTURES / "screenplain" / "title-page.fountain").read_text())
    assert tp.title_page["Title"] == ["My Screenplay"]


def test_title_page_only_is_a_clear_message(tmp_path: Path):
    script = tmp_path / "t.fountain"
    script.write_text("Title: Only A Title\nAuthor: Me\n", encoding="utf-8")
    with pytest.raises(ScriptError, match="only a title page") as err:
        import_script(tmp_path / "p", script, "01", create=True)
    assert err.value.hint


def test_folder_given_as_script_says_folder(tmp_path: Path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "ep1.fountain").write_text("INT. A - DAY\n\nB.\n")
    with pytest.raises(ScriptError, match="folder") as err:
        import_script(tmp_path / "p", tmp_path / "scripts", "01", create=True)
    assert "ep1.fountain" in (err.value.hint or "") and "not found" not in str(err.value)


def test_cut_to_black_at_the_end_is_a_fade(tmp_path: Path):
    # Big Fish ends "CUT TO BLACK." then "> THE END <": the last shot goes to black
    _, project = _import(tmp_path, "INT. A - DAY\n\nBob waits.\n\nCUT TO BLACK.\n\n"
                         "> _**THE END**_ <\n")
    assert project.storyboard("01").shots[-1].transition.kind == TransitionKind.fade


def test_apposition_names_who_the_character_is(tmp_path: Path):
    _, project = _import(tmp_path, "INT. A - DAY\n\nSANDRA, his wife, smiles at EDWARD "
                         "BLOOM, 40's and handsome.\n\nSANDRA\nHi.\n\nEDWARD BLOOM\nHi.\n")
    sandra = project.characters["sandra"]
    assert sandra.voice.gender == VoiceGender.female and sandra.voice.voice.startswith("f")
    assert project.characters["edward_bloom"].voice.age == VoiceAge.adult


def test_stacked_fade_to_black_then_cut_is_not_a_character(tmp_path: Path):
    report, project = _import(tmp_path, "INT. A - DAY\n\nBob waits.\n\nFADE TO BLACK.\nCUT TO:"
                              "\n\nINT. B - DAY\n\nAnn.\n")
    sb = project.storyboard("01")
    assert sb.shots[0].transition.kind == TransitionKind.fade
    assert not any("fade" in c for c in project.characters)


def test_nyousefi_transition_and_forced_expectations():
    """The element types nyousefi/Fountain's TransitionTests/ForcedElementTests expect."""
    t = parse_fountain((FIXTURES / "nyousefi" / "Transitions.fountain").read_text())
    kinds = [type(e).__name__ for e in t.elements]
    assert kinds == ["TransitionPara"] * 4 + ["ActionPara"] + ["TransitionPara"] * 2
    f = parse_fountain((FIXTURES / "nyousefi" / "ForcedElements.fountain").read_text())
    assert isinstance(f.elements[0], ActionPara) and f.elements[1].name == "MCDUCK"
    singer = f.elements[2]
    assert singer.parts[0].lyric and "~" not in singer.parts[0].text
