"""The one colour vocabulary: the words a script is read with and a prompt is written in.

``screenplay.describe`` turns the words of a character's introduction ("a red cap", "grey
hair") into hex colours with these tables, and ``prompts.colours`` turns hex colours back
into the nearest word (CIEDE2000) over the same tables, so a word read from a script comes
back as the same word in the prompt: "red" -> ``#c0392b`` -> "red" (the two tables used to
disagree: "red" was read as ``#b22222``, which the prompt called "crimson").

- ``COLOURS``: canonical word -> sRGB hex, short common words a video model knows (the CSS
  list is too exotic: 'peru', 'gainsboro').
- ``SYNONYMS``: other spellings and near words -> their canonical entry ("gray" -> "grey",
  "scarlet" -> "red"); a synonym is read as its entry's hex and comes back as the entry.
- ``HAIR_COLOURS``: the hair vocabulary, ``COLOURS`` plus natural hair tones the garment
  words lack or name differently ("red" hair is not a fire-engine red); the prompt names
  hair by the nearest of these. ``HAIR_SYNONYMS``: "dark", "fair", "blond", ...
- ``SKIN``: skin tone words (prompts only; scripts are not read for skin).

Plain data with no imports from the package, so every layer may use it.
"""

from __future__ import annotations

COLOURS: dict[str, str] = {
    "black": "#111111", "charcoal": "#36454f", "dark grey": "#4a4a4a", "grey": "#808080",
    "light grey": "#c0c0c0", "white": "#f5f5f5", "off-white": "#ece6d6", "cream": "#f3e5ab",
    "beige": "#c8ad7f", "tan": "#d2b48c", "camel": "#b88a4a", "brown": "#6b4423",
    "dark brown": "#2b1d14", "chestnut": "#7b3f00", "auburn": "#8c2f1b",
    "copper": "#b87333", "ginger": "#c0602a", "blonde": "#d8b25a", "golden": "#e0b020",
    "yellow": "#f2d21b", "mustard": "#c9a227", "orange": "#e8772e", "peach": "#f1c7a8",
    "salmon": "#e39b6b", "red": "#c0392b", "crimson": "#b22222", "burgundy": "#6d1f2a",
    "pink": "#e7a1b0", "magenta": "#c2185b", "purple": "#6a3d9a", "lavender": "#b39ddb",
    "navy": "#1f3a5f", "indigo": "#2c2c54", "blue": "#2d5f8b", "sky blue": "#87ceeb",
    "teal": "#1f7a7a", "slate blue": "#34495e", "green": "#2e7d32", "olive": "#5d6b3a",
    "forest green": "#1f4d2b", "sage": "#9caf88", "khaki": "#a39b6b",
    "dark olive": "#3b3b35",
}

SYNONYMS: dict[str, str] = {
    "gray": "grey", "dark gray": "dark grey", "light gray": "light grey",
    "off white": "off-white", "ivory": "off-white", "silver": "light grey",
    "gold": "golden", "blond": "blonde", "scarlet": "red", "maroon": "burgundy",
    "violet": "purple", "navy blue": "navy", "turquoise": "teal", "rust": "copper",
}

#: natural hair tones the garment vocabulary lacks; "red" hair replaces the garment red
HAIR_ONLY: dict[str, str] = {
    "red": "#a0401e", "sandy": "#c2a36b", "silver": "#c0c0c8", "salt-and-pepper": "#6e6e6e",
}
HAIR_COLOURS: dict[str, str] = {**COLOURS, **HAIR_ONLY}
HAIR_SYNONYMS: dict[str, str] = {
    **{w: c for w, c in SYNONYMS.items() if w not in HAIR_COLOURS},
    "dark": "dark brown", "fair": "blonde", "brunette": "brown", "platinum": "white",
    "salt and pepper": "salt-and-pepper",
}

SKIN: dict[str, str] = {
    "fair": "#f1c7a8", "light": "#e8b894", "light olive": "#d9a47e", "medium": "#c98f6a",
    "tan": "#b07850", "brown": "#8d5a3b", "dark brown": "#5c3a24", "deep": "#3b2417",
}


def canonical(word: str, *, hair: bool = False) -> str | None:
    """The vocabulary entry ``word`` names ("Gray" -> "grey"), or None if it names none."""
    w = " ".join(word.lower().replace("_", " ").split())
    table, synonyms = (HAIR_COLOURS, HAIR_SYNONYMS) if hair else (COLOURS, SYNONYMS)
    for form in (w, w.replace("-", " "), w.replace(" ", "-")):  # 'dark-grey', 'off white'
        if form in table:
            return form
        if form in synonyms:
            return synonyms[form]
    return None


def colour_hex(word: str) -> str | None:
    """'red' -> '#c0392b', 'gray' -> grey's hex; None for a word outside the vocabulary."""
    entry = canonical(word)
    return COLOURS[entry] if entry else None


def hair_hex(word: str) -> str | None:
    """The hex of a hair colour word ('fair' -> blonde's), None outside the vocabulary."""
    entry = canonical(word, hair=True)
    return HAIR_COLOURS[entry] if entry else None


def words(*, hair: bool = False) -> list[str]:
    """Every word the vocabulary reads (entries and synonyms), longest first."""
    table, synonyms = (HAIR_COLOURS, HAIR_SYNONYMS) if hair else (COLOURS, SYNONYMS)
    return sorted({*table, *synonyms}, key=lambda w: (-len(w), w))

