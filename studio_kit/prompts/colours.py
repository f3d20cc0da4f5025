"""Colour words for prompts: '#8c2f1b' -> 'auburn'.

Engines read words, not hex codes. The vocabulary is a short list of common colour words a
video model knows (the CSS list is too exotic: 'peru', 'gainsboro'); the nearest word is
chosen by CIEDE2000 distance in CIELAB (``studio_kit.colorimetry``, colour-science), so
naming is perceptual and deterministic.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..colorimetry import delta_e, srgb_to_lab
from ..models import hex_to_rgb

COLOUR_WORDS: dict[str, str] = {
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
SKIN_WORDS: dict[str, str] = {
    "fair": "#f1c7a8", "light": "#e8b894", "light olive": "#d9a47e", "medium": "#c98f6a",
    "tan": "#b07850", "brown": "#8d5a3b", "dark brown": "#5c3a24", "deep": "#3b2417",
}


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


def skin_word(hex_colour: str) -> str:
    return _nearest(hex_colour.lower(), tuple(SKIN_WORDS.items()))


#: every colour word, longest first (for the linter's phrase matching)
ALL_COLOUR_WORDS: list[str] = sorted(set(COLOUR_WORDS) | {
    "blond", "brunette", "red-haired", "silver", "gold", "violet", "maroon", "turquoise",
}, key=len, reverse=True)
