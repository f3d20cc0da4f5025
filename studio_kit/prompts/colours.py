"""Colour words for prompts: '#8c2f1b' -> 'auburn'.

Engines read words, not hex codes. The vocabulary is ``studio_kit.colour_words`` (short
common words a video model knows), the same tables the screenplay importer reads scripts
with, so a word read from a script comes back as the same word here. The nearest word is
chosen by CIEDE2000 distance in CIELAB (``studio_kit.colorimetry``, colour-science), so
naming is perceptual and deterministic; hair is named over the hair vocabulary
(``hair_word``), skin over the skin words.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import colour_words as vocab
from ..colorimetry import delta_e, srgb_to_lab
from ..models import hex_to_rgb

COLOUR_WORDS: dict[str, str] = vocab.COLOURS
HAIR_WORDS: dict[str, str] = vocab.HAIR_COLOURS
SKIN_WORDS: dict[str, str] = vocab.SKIN


def _lab(colours: list[str]) -> np.ndarray:
    return srgb_to_lab(np.array([hex_to_rgb(c) for c in colours], dtype=float))


@lru_cache(maxsize=4096)
def _nearest(hex_colour: str, table: tuple[tuple[str, str], ...]) -> str:
    names = [n for n, _ in table]
    d = delta_e(_lab([hex_colour])[0], _lab([h for _, h in table]))
    return names[int(np.argmin(d))]


def colour_word(hex_colour: str) -> str:
    """The nearest common colour word for '#rrggbb'."""
    return _nearest(hex_colour.lower(), tuple(COLOUR_WORDS.items()))


def hair_word(hex_colour: str) -> str:
    """The nearest hair colour word for '#rrggbb' (natural tones as well as the others)."""
    return _nearest(hex_colour.lower(), tuple(HAIR_WORDS.items()))


def skin_word(hex_colour: str) -> str:
    return _nearest(hex_colour.lower(), tuple(SKIN_WORDS.items()))


#: every colour word, longest first (for the linter's phrase matching); the hair synonyms
#: 'dark' and 'fair' are left out: in a prompt they are as often plain adjectives
ALL_COLOUR_WORDS: list[str] = sorted(
    (set(vocab.words()) | set(vocab.words(hair=True)) | {"red-haired"}) - {"dark", "fair"},
    key=len, reverse=True)
