"""The TTS interface: text + a character's VoiceProfile -> samples, phoneme timing, visemes."""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from ...errors import StudioError
from ...models import VoiceProfile
from ...visemes import Viseme, VisemeTrack
from ...visemes import viseme_for_letter as viseme_for_letter  # one table, re-exported


class TTSError(StudioError):
    """Speech could not be synthesized (bad language, voice, text, or a service failure)."""


class TTSAuthError(TTSError):
    """The TTS service rejected the API key (401/403)."""


class TTSRateLimited(TTSError):
    """The TTS service kept answering 429 after the allowed retries."""


class TTSServiceError(TTSError):
    """The TTS service failed (5xx, timeout) or answered something that is not its protocol."""


@dataclass(frozen=True)
class VoiceInfo:
    engine: str
    id: str
    name: str
    languages: tuple[str, ...]
    gender: str = ""


@dataclass
class Speech:
    """One synthesized line. ``samples`` is float32 mono in -1..1."""

    samples: np.ndarray
    sample_rate: int
    phonemes: list[tuple[float, float, str]]  # (start_s, end_s, phoneme name)
    visemes: VisemeTrack
    language: str
    voice: str  # what the engine actually used (e.g. "fr+f2")
    engine: str
    meta: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


# Emoji and pictographs: speech engines read them out as names ("grinning face") or choke.
_EMOJI_RE = re.compile(
    "[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U0001F1E6-\U0001F1FF\uFE0F\u200D\u20E3]"
)
_MARKUP_RE = re.compile(r"<[^>]{0,200}>|\[\[[^\]]*\]\]|\{[^}]*\}")
_EMPHASIS_RE = re.compile(r"(\*{1,3}|_{1,3})(\S(?:.*?\S)?)\1")


def clean_text(text: str, *, where: str = "line") -> str:
    """Text as it will be spoken: markup, emphasis markers and emoji removed.

    Documented handling: HTML/SSML tags, ``[[notes]]`` and ``{directions}`` are dropped;
    Fountain/Markdown emphasis (``*word*``, ``_word_``) keeps the word; emoji are dropped.
    Raises TTSError if nothing speakable is left.
    """
    out = _MARKUP_RE.sub(" ", text)
    out = _EMPHASIS_RE.sub(r"\2", out)
    out = _EMOJI_RE.sub(" ", out)
    out = "".join(ch for ch in out if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    out = re.sub(r"\s+", " ", out).strip()
    if not any(ch.isalnum() for ch in out):
        raise TTSError(
            f"{where}: nothing to speak in {text!r}",
            hint="write the words of the line; markup, emoji and punctuation alone are not spoken",
        )
    return out


class TTSEngine(ABC):
    """A speech engine. Subclasses register with ``@TTS.register(name)``."""

    name: str = ""

    @abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """Voices (and the languages each speaks)."""

    def languages(self) -> list[str]:
        return sorted({lang for v in self.voices() for lang in v.languages})

    def variants(self) -> list[str]:
        """Voice variants usable as ``VoiceProfile.voice`` beside the voices (none by
        default; eSpeak has m1..m8, f1..f5 and named ones)."""
        return []

    @abstractmethod
    def synthesize(self, text: str, profile: VoiceProfile, *,
                   language: str | None = None) -> Speech:
        """Speak ``text`` with ``profile`` (``language`` overrides the profile's)."""


_INSTANCES: dict[str, TTSEngine] = {}


def get_tts(name: str) -> TTSEngine:
    """The (process-wide) instance of a registered TTS engine."""
    from ...registry import TTS

    if name not in _INSTANCES:
        _INSTANCES[name] = TTS.get(name)()
    return _INSTANCES[name]


# -- phonemes -> visemes (letters: studio_kit.visemes.viseme_for_letter) ---------------
def viseme_for_phoneme(ph: str) -> Viseme:
    """Map an eSpeak phoneme mnemonic (Kirshenbaum-like ASCII) to a mouth shape."""
    ph = ph.lstrip("',%=")  # stress marks
    if not ph or ph[0] in "_ ":
        return Viseme.rest
    c = ph[0]
    if c in "mbp":
        return Viseme.mbp
    if c in "fv":
        return Viseme.fv
    if c in "TD":
        return Viseme.th
    if c in "lL":
        return Viseme.l
    if c in "wuUWy" and not ph.startswith("W"):
        return Viseme.wq
    if c in "oO0Y" or ph.startswith("W"):
        return Viseme.o
    if c in "aAV&" or ph.startswith("aI") or ph.startswith("aU"):
        return Viseme.ai
    if c in "eEiI3@j":
        return Viseme.e
    return Viseme.cdg


def compact_track(track: VisemeTrack) -> VisemeTrack:
    """Sorted, with consecutive repeats merged."""
    out: VisemeTrack = []
    for t, v in sorted(track, key=lambda p: p[0]):
        if out and out[-1][1] == v:
            continue
        if out and abs(out[-1][0] - t) < 1e-9:
            out[-1] = (t, v)
            continue
        out.append((round(float(t), 4), v))
    return out
