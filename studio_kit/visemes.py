"""Visemes: mouth shapes shared by the dialogue stage, the renderer and the lip-sync check.

A viseme track is a list of ``(start_s, viseme)`` pairs sorted by time, relative to the
start of a shot; each viseme holds until the next one. The audio stage makes tracks from
phoneme timing (eSpeak NG events, or a cloud TTS's character alignment); the renderer
draws the mouth from them; the lip-sync check compares them with mouth movement measured
in the rendered frames.
"""

from __future__ import annotations

from enum import StrEnum


class Viseme(StrEnum):
    rest = "rest"  # mouth closed, at rest (silence)
    mbp = "mbp"  # lips pressed: m, b, p
    fv = "fv"  # lower lip to teeth: f, v
    th = "th"  # tongue between teeth
    l = "l"  # noqa: E741 - tongue up, mouth slightly open
    wq = "wq"  # rounded, small: w, oo
    o = "o"  # rounded, open: o
    ai = "ai"  # wide open: a, ai
    e = "e"  # spread, half open: e, i
    cdg = "cdg"  # teeth close, slightly open: c, d, g, k, n, s, t, z ...

    @property
    def openness(self) -> float:
        """How open the mouth is, 0 (closed) .. 1 (wide open)."""
        return _OPENNESS[self]


_OPENNESS = {
    Viseme.rest: 0.0, Viseme.mbp: 0.0, Viseme.fv: 0.15, Viseme.th: 0.25, Viseme.l: 0.35,
    Viseme.wq: 0.35, Viseme.o: 0.75, Viseme.ai: 1.0, Viseme.e: 0.55, Viseme.cdg: 0.3,
}

VisemeTrack = list[tuple[float, Viseme]]

#: Written letter -> mouth shape, the one table for every place that has letters but no
#: phonemes: the local engine's mouth before the audio stage gives phoneme timing
#: (``engines.local.scene.text_visemes``) and a cloud TTS's character alignment
#: (``audio.tts.elevenlabs``). Vowels with their accents; 'y' as in "happy"/"il y a" and
#: 'h' as the open breath before a vowel; every other letter (incl. 'j') is ``cdg``. The
#: digraph "th" is a sequence rule, applied by ``text_visemes``.
LETTER_VISEMES: dict[str, Viseme] = {
    **dict.fromkeys("mbp", Viseme.mbp), **dict.fromkeys("fv", Viseme.fv), "l": Viseme.l,
    **dict.fromkeys("wquúùûü", Viseme.wq), **dict.fromkeys("oóòôö", Viseme.o),
    **dict.fromkeys("aháàâä", Viseme.ai), **dict.fromkeys("eiyéèêëíìîï", Viseme.e),
}


def viseme_at(track: VisemeTrack, t: float) -> Viseme:
    """The viseme holding at time ``t`` (rest before the first and when empty)."""
    current = Viseme.rest
    for start, vis in track:
        if start > t:
            break
        current = vis
    return current


def openness_at(track: VisemeTrack, t: float) -> float:
    return viseme_at(track, t).openness


def shift(track: VisemeTrack, offset_s: float) -> VisemeTrack:
    """The same track ``offset_s`` later (negative: earlier)."""
    return [(max(0.0, t + offset_s), v) for t, v in track]


def viseme_for_letter(ch: str) -> Viseme:
    """The mouth shape of a written character (``rest`` for anything not a letter)."""
    c = ch.lower()
    if not c.isalpha():
        return Viseme.rest
    return LETTER_VISEMES.get(c, Viseme.cdg)
