"""One letter -> viseme table for the local engine's text mouth and a cloud TTS's letters."""

from __future__ import annotations

import pytest

from studio_kit.audio.tts import base as tts_base
from studio_kit.engines.local import text_visemes
from studio_kit.visemes import LETTER_VISEMES, Viseme, viseme_for_letter


def _letters_track(text: str) -> list[tuple[float, Viseme]]:
    """What a character-aligned TTS gives at one letter per second, repeats merged."""
    out: list[tuple[float, Viseme]] = []
    for i, ch in enumerate(text):
        v = viseme_for_letter(ch)
        if not out or out[-1][1] != v:
            out.append((float(i), v))
    return [*out, (float(len(text)), Viseme.rest)]


def test_tts_and_engine_share_the_table() -> None:
    assert tts_base.viseme_for_letter is viseme_for_letter
    for text in ("Mara? Are you up?", "Élodie, où êtes-vous ?", "yes, my happy jay",
                 "Über Straße, ñ!"):
        low = text.lower()
        if "th" in low:  # the engine's digraph rule, checked below
            continue
        assert text_visemes(text, 0.0, 1.0) == _letters_track(low), text


@pytest.mark.parametrize(("ch", "want"), [
    ("m", Viseme.mbp), ("B", Viseme.mbp), ("f", Viseme.fv), ("l", Viseme.l),
    ("w", Viseme.wq), ("ü", Viseme.wq), ("o", Viseme.o), ("Ô", Viseme.o),
    ("a", Viseme.ai), ("h", Viseme.ai), ("à", Viseme.ai), ("e", Viseme.e), ("É", Viseme.e),
    ("y", Viseme.e), ("ï", Viseme.e), ("j", Viseme.cdg), ("s", Viseme.cdg),
    ("ñ", Viseme.cdg), (" ", Viseme.rest), ("?", Viseme.rest), ("3", Viseme.rest),
])
def test_letter_visemes(ch: str, want: Viseme) -> None:
    assert viseme_for_letter(ch) == want


def test_table_is_lower_case_letters_and_accents_open_the_mouth() -> None:
    assert all(len(c) == 1 and c.isalpha() and c == c.lower() for c in LETTER_VISEMES)
    for plain, accented in (("a", "áàâä"), ("e", "éèêë"), ("i", "íìîï"), ("o", "óòôö"),
                            ("u", "úùûü")):
        assert {viseme_for_letter(c) for c in accented} == {viseme_for_letter(plain)}
        assert viseme_for_letter(plain).openness > Viseme.rest.openness


def test_engine_th_digraph() -> None:
    track = text_visemes("the", 0.0, 10.0)
    assert track == [(0.0, Viseme.th), (0.2, Viseme.e), (0.3, Viseme.rest)]
