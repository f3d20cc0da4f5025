"""Saves edit the YAML file in place: comments, quoting, key order and layout survive, a
one-field change is a one-line diff, and a change made to the file since it was loaded is
merged field by field or refused (never silently overwritten)."""

from __future__ import annotations

import difflib
import multiprocessing
from pathlib import Path

import pytest

from studio_kit.errors import StudioError
from studio_kit.models import Character, Scene
from studio_kit.project.series_folder import Project
from studio_kit.store.yamlio import merge3, save_model, validate_file

ROOT = Path(__file__).resolve().parents[1]


def _diff(a: str, b: str) -> list[str]:
    return [line for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="",
                                                  n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


COMMENTED = """\
schema_version: 1   # do not change
# the cliff, seen from the lighthouse path
id: cliff_path
name: 'CLIFF PATH'
interior: false
description: >-
  A gorse-lined path above the sea,
  the lighthouse in the distance.
palette: ["#e39b6b", "#5d6b3a"]   # warm gorse, moss
set_layout:
  # marks, left to right
  - {name: tower, kind: prop, prop: tower, x: 0.85, depth: 0.95, size: 2.0, colour: "#eeeeee"}
  - {name: path_left, kind: person, x: 0.35, depth: 0.45}
lighting: {key: back_left, fill_ratio: "4:1", colour_temperature_k: 4000}  # dusk
time_of_day: dusk
atmosphere: {kind: fog, density: 0.4}
ambience: [wind, sea]
"""


def test_a_colour_change_is_a_one_line_diff_keeping_comments_and_quotes(tmp_path):
    path = tmp_path / "cliff_path.yaml"
    path.write_text(COMMENTED)
    scene = validate_file(Scene, path)
    palette = ["#e39b6b", "#123456"]
    save_model(path, scene.model_copy(update={"palette": palette}), base=scene)
    after = path.read_text()
    assert _diff(COMMENTED, after) == [
        '-palette: ["#e39b6b", "#5d6b3a"]   # warm gorse, moss',
        '+palette: ["#e39b6b", "#123456"]   # warm gorse, moss']
    assert validate_file(Scene, path).palette == palette


def test_a_ratio_stays_a_quoted_ratio_and_a_noop_save_writes_nothing(tmp_path):
    path = tmp_path / "cliff_path.yaml"
    path.write_text(COMMENTED)
    scene = validate_file(Scene, path)
    save_model(path, scene, base=scene)
    assert path.read_text() == COMMENTED
    lighting = scene.lighting.model_copy(update={"fill_ratio": 3.0})
    save_model(path, scene.model_copy(update={"lighting": lighting}), base=scene)
    assert _diff(COMMENTED, path.read_text()) == [
        '-lighting: {key: back_left, fill_ratio: "4:1", colour_temperature_k: 4000}  # dusk',
        '+lighting: {key: back_left, fill_ratio: "3:1", colour_temperature_k: 4000}  # dusk']


def test_sample_files_save_unchanged_and_garment_edit_is_one_line(sample_dir):
    p = Project.load(sample_dir)
    for ch in p.characters.values():  # saving what was loaded changes no byte
        path = sample_dir / "characters" / f"{ch.id}.yaml"
        before = path.read_bytes()
        p.save_character(ch)
        assert path.read_bytes() == before, path
    path = sample_dir / "characters" / "elodie.yaml"
    before = path.read_text()
    ch = p.characters["elodie"]
    data = ch.model_dump(mode="json")
    data["wardrobe"]["outfits"]["reporter"]["garments"][1]["colours"] = ["#abcdef"]
    data["traits"].append("brave")
    p.save_character(Character.model_validate(data))
    assert _diff(before, path.read_text()) == [
        '-        - {name: blouse, kind: top, colours: ["#f5f5f5"]}',
        '+        - {name: blouse, kind: top, colours: ["#abcdef"]}',
        '-traits: [curious, stubborn]',
        '+traits: [curious, stubborn, brave]']
    assert Project.load(sample_dir).characters["elodie"].traits[-1] == "brave"


def test_a_field_changed_on_disk_is_merged_not_reverted(sample_dir):
    a = Project.load(sample_dir)  # two pages that loaded the same file
    b = Project.load(sample_dir)
    ch = a.characters["mara"]
    a.save_character(ch.model_copy(update={"description": "Edited in tab A."}))
    b.save_character(b.characters["mara"].model_copy(update={"traits": ["edited", "in B"]}))
    now = Project.load(sample_dir).characters["mara"]
    assert now.description == "Edited in tab A." and now.traits == ["edited", "in B"]
    assert b.characters["mara"].description == "Edited in tab A."  # b's copy is the file


def test_the_same_field_changed_on_disk_is_refused_with_a_clear_message(sample_dir):
    p = Project.load(sample_dir)
    path = sample_dir / "characters" / "mara.yaml"
    text = path.read_text()
    old = p.characters["mara"].name
    path.write_text(text.replace(f"name: {old}", "name: Mara by hand"))  # an editor's change
    edited = path.read_text()
    with pytest.raises(StudioError, match="changed elsewhere") as err:
        p.save_character(p.characters["mara"].model_copy(update={"name": "Mara from the page"}))
    assert err.value.problems[0].field == "name" and "reload" in (err.value.hint or "")
    assert "Mara by hand" in str(err.value)
    assert path.read_text() == edited  # nothing written


def test_a_file_broken_on_disk_since_load_is_not_overwritten(sample_dir):
    p = Project.load(sample_dir)
    path = sample_dir / "characters" / "mara.yaml"
    path.write_text(path.read_text() + "bogus_field: 1\n")
    broken = path.read_text()
    with pytest.raises(StudioError, match="not valid now"):
        p.save_character(p.characters["mara"].model_copy(update={"traits": ["x"]}))
    assert path.read_text() == broken


def test_merge3_fieldwise():
    base = {"a": 1, "b": {"c": 1, "d": [1, 2]}, "e": 5}
    disk = {"a": 2, "b": {"c": 1, "d": [1, 2]}, "e": 5}
    new = {"a": 1, "b": {"c": 3, "d": [1, 9]}}
    conflicts: list = []
    assert merge3(base, disk, new, conflicts=conflicts) == {"a": 2, "b": {"c": 3, "d": [1, 9]}}
    assert conflicts == []
    merge3(base, disk, {**base, "a": 7}, conflicts=conflicts)
    assert conflicts == [("a", 2, 7)]


def _save_traits(root: str, trait: str, barrier) -> None:
    p = Project.load(root)
    ch = p.characters["theo"]
    barrier.wait()
    if trait == "t1":
        p.save_character(ch.model_copy(update={"traits": [*ch.traits, trait]}))
    else:
        p.save_character(ch.model_copy(update={"description": "from process two"}))


def test_two_processes_saving_at_once_keep_both_changes(sample_dir):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_save_traits, args=(str(sample_dir), t, barrier))
             for t in ("t1", "t2")]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(60)
        assert pr.exitcode == 0
    theo = Project.load(sample_dir).characters["theo"]
    assert theo.traits[-1] == "t1" and theo.description == "from process two"


def test_in_place_edits_save_and_a_stale_unchanged_copy_reverts_nothing(sample_dir):
    a = Project.load(sample_dir)
    b = Project.load(sample_dir)
    ch = a.characters["mara"]
    ch.traits.append("in place")  # the loaded object itself, edited
    a.save_character(ch)
    assert Project.load(sample_dir).characters["mara"].traits[-1] == "in place"
    b.save_character(b.characters["mara"])  # a page saving what it loaded, unchanged
    assert Project.load(sample_dir).characters["mara"].traits[-1] == "in place"
    series = b.series.model_copy(update={"title": "Retitled"})
    b.save_series(series)
    assert Project.load(sample_dir).series.title == "Retitled"
