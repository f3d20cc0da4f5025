"""Talent roster: reference images are added and removed through the bible, validated,
and a removed image's file is kept."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from studio_kit.errors import StudioError
from studio_kit.project.series_folder import Project


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (40, 200, 40)).save(buf, "PNG")
    return buf.getvalue()


def test_remove_reference_image_unlists_it_and_keeps_the_file(sample_dir):
    from widgets.talent_roster import TalentRoster, add_reference_image

    p = Project.load(sample_dir)
    add_reference_image(p, "theo", "side.png", _png())
    add_reference_image(p, "theo", "back.png", _png())
    roster = TalentRoster(p, "theo")
    buttons = [box.children[-1] for box in roster.gallery.children]
    assert len(buttons) == 2 and all(b.description == "Remove" for b in buttons)
    buttons[0].click()
    theo = Project.load(sample_dir).characters["theo"]
    assert theo.reference_images == ["characters/theo/back.png"]
    assert (sample_dir / "characters/theo/side.png").is_file()  # nothing lost
    assert "removed side.png" in roster.form.general.value
    assert len(roster.gallery.children) == 1


def test_removing_an_unknown_image_is_a_clear_error(sample_dir):
    from widgets.talent_roster import TalentRoster, remove_reference_image

    p = Project.load(sample_dir)
    before = (sample_dir / "characters/theo.yaml").read_bytes()
    with pytest.raises(StudioError, match="not a reference image of theo") as err:
        remove_reference_image(p, "theo", "characters/theo/none.png")
    assert err.value.hint == "reload the roster"
    roster = TalentRoster(p, "theo")
    assert roster.remove_image("characters/theo/none.png") is False
    assert "not a reference image" in roster.form.message("reference_images").value
    assert (sample_dir / "characters/theo.yaml").read_bytes() == before


def test_two_rosters_on_one_character_keep_each_others_edits(sample_dir):
    """Two pages on one character: each page sends only what it changed, so a save never
    reverts the other page's edit, even from controls drawn before it."""
    from widgets.talent_roster import TalentRoster

    a = TalentRoster(Project.load(sample_dir), "mara")
    b = TalentRoster(Project.load(sample_dir), "mara")
    a.description_text.value = "Edited on page A."
    assert a.save_details()
    b.voice.pitch.value = 70  # B's profile controls still show the old description
    b.voice.save()
    assert "kept changes made elsewhere" in b.form.general.value
    b.wardrobe.rows[0].colour.value = "#010203"
    assert b.wardrobe.save()
    a.traits_text.value = "one, two"  # A's voice and wardrobe controls are stale now
    assert a.save_details()
    a.voice.rate.value = 200
    a.voice.save()
    mara = Project.load(sample_dir).characters["mara"]
    assert mara.description == "Edited on page A." and mara.traits == ["one", "two"]
    assert mara.voice.pitch == 70 and mara.voice.rate == 200
    assert mara.wardrobe.outfits["work"].garments[0].colours == ["#010203"]
    # the same field from both pages: the second is refused beside the control
    a.name_text.value = "Mara A"
    assert a.save_details()
    b.name_text.value = "Mara B"
    assert not b.save_details()
    assert "changed elsewhere" in b.form.message("name").value
    assert Project.load(sample_dir).characters["mara"].name == "Mara A"
