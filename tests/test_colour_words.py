"""One colour vocabulary for the script importer and the prompt compiler.

Every word the importer reads (``screenplay.describe``) names a vocabulary entry
(``studio_kit.colour_words``), and the prompt names that entry's hex with the same word
(``prompts.colours``, CIEDE2000 nearest): a script's "red coat" is a "red coat" in the
prompt, not a "crimson" one; synonyms ("gray", "blond", "scarlet") come back as their entry.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_kit import colour_words as vocab
from studio_kit.models import GarmentKind
from studio_kit.project.series_folder import Project
from studio_kit.prompts import compile_prompt
from studio_kit.prompts.colours import ALL_COLOUR_WORDS, colour_word, hair_word
from studio_kit.screenplay import describe, import_script
from studio_kit.screenplay.describe import looks_from


def test_tables_are_consistent():
    for table, synonyms in ((vocab.COLOURS, vocab.SYNONYMS),
                            (vocab.HAIR_COLOURS, vocab.HAIR_SYNONYMS)):
        assert set(synonyms.values()) <= set(table), "a synonym names no entry"
        assert not set(synonyms) & set(table), "a word is both an entry and a synonym"
        assert len(set(table.values())) == len(table), "two entries share a hex"
        assert all(h.startswith("#") and len(h) == 7 for h in table.values())


def test_the_importer_reads_the_vocabulary():
    assert describe.COLOURS == {w: vocab.colour_hex(w) for w in vocab.words()}
    assert describe.HAIR_COLOURS == {w: vocab.hair_hex(w) for w in vocab.words(hair=True)}
    assert set(vocab.words()) | set(vocab.words(hair=True)) - {"dark", "fair"} <= \
        set(ALL_COLOUR_WORDS)


@pytest.mark.parametrize("word", vocab.words())
def test_every_garment_word_round_trips(word: str):
    entry = vocab.canonical(word)
    assert entry in vocab.COLOURS
    looks = looks_from(f"MARA, a woman in a {word} coat, waits.", "MARA")
    assert len(looks.garments) == 1, looks
    name, kind, colours = looks.garments[0]
    assert (name, kind, colours) == (f"{entry} coat", GarmentKind.coat, [vocab.COLOURS[entry]])
    assert colour_word(colours[0]) == entry


@pytest.mark.parametrize("word", vocab.words(hair=True))
def test_every_hair_word_round_trips(word: str):
    entry = vocab.canonical(word, hair=True)
    assert entry in vocab.HAIR_COLOURS
    looks = looks_from(f"MARA, a woman with {word} hair, waits.", "MARA")
    assert looks.hair == vocab.HAIR_COLOURS[entry]
    assert hair_word(looks.hair) == entry
    if word not in ("dark", "fair", "platinum") and " " not in word:
        assert looks_from(f"MARA, a {word}-haired woman.", "MARA").hair == looks.hair


def test_synonyms_share_the_entry():
    assert vocab.colour_hex("Gray") == vocab.colour_hex("grey") == "#808080"
    assert vocab.colour_hex("dark-grey") == vocab.colour_hex("dark  grey") == "#4a4a4a"
    assert vocab.hair_hex("blond") == vocab.hair_hex("fair") == vocab.hair_hex("blonde")
    assert vocab.canonical("scarlet") == "red" and vocab.canonical("nope") is None
    # silver is a light grey coat but its own hair tone
    assert vocab.canonical("silver") == "light grey"
    assert vocab.canonical("silver", hair=True) == "silver"
    # hair red is a natural red, not the garment red, and each is named back as "red"
    assert vocab.hair_hex("red") != vocab.colour_hex("red")
    assert colour_word(vocab.colour_hex("red")) == hair_word(vocab.hair_hex("red")) == "red"


def test_hand_made_hexes_keep_their_words():
    """The vocabulary moved, the names of hexes a bible already has did not."""
    assert colour_word("#8c2f1b") == "auburn" and hair_word("#8c2f1b") == "auburn"
    for hex_, word in [("#4a2f1d", "dark brown"), ("#d8b65c", "blonde"), ("#b0b0b0",
                       "light grey"), ("#5a5a5a", "dark grey"), ("#e0d0a0", "cream"),
                       ("#9a9a9a", "grey"), ("#dddddd", "white"), ("#0d0d0d", "black")]:
        assert hair_word(hex_) == colour_word(hex_) == word


def test_script_words_come_back_in_the_prompt(tmp_path: Path):
    script = tmp_path / "s.fountain"
    script.write_text("EXT. PIER - DAY\n\nMARA (60s), a weathered woman in a red coat and a "
                      "gray scarf, red hair. She coils rope.\n\nMARA\nHold this.\n",
                      encoding="utf-8")
    root = tmp_path / "proj"
    import_script(root, script, "01", create=True)
    project = Project.load(root)
    mara = project.characters["mara"]
    garments = {g.kind: g for g in mara.outfit_for().garments}
    assert garments[GarmentKind.coat].colours == [vocab.COLOURS["red"]]
    assert garments[GarmentKind.scarf].name == "grey scarf"
    assert mara.appearance.hair_colour == vocab.HAIR_COLOURS["red"]
    shot = next(iter(project.storyboard("01").shots))
    prompt = compile_prompt(project.resolve_shot("01", shot.id), "local").prompt
    clause = prompt[prompt.index("Mara:"):].split(".")[0]  # the bible's words, not the action
    assert f"red {mara.appearance.hair_style.value} hair, wearing red coat, grey scarf," in clause
    assert "crimson" not in prompt and "auburn" not in prompt
