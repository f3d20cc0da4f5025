"""Dialogue: each line spoken in its character's voice and language, with visemes.

A line's language is ``DialogueLine.language`` or the character's voice language. A dub
in language L speaks ``translations[L]`` (or the line itself when it is already in L);
a line with no translation keeps its original text and language, and the result says so
(``fallback=True``) so that the caller can warn.

Who speaks (:func:`cast_voices`): a character whose voice names no eSpeak variant gets
one from its ``gender`` and ``age`` (the voice profile's, else words of its bible
description: "a fisherwoman in her sixties"): female variants f1..f5, male m1..m8,
``grandma``/``grandpa`` for older voices, a pitch shift per age. With no gender known the
cast alternates female and male variants. Each character of the cast gets its own
variant (picked from the id's hash, then the next free one), so the assignment is
deterministic for a given cast; set ``voice:`` to pin one.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.signal import resample_poly

from ..errors import StudioError
from ..models import Character, DialogueLine, Storyboard, VoiceAge, VoiceGender, VoiceProfile
from ..store.hashing import stable_hash
from ..visemes import Viseme, VisemeTrack
from . import SAMPLE_RATE
from .tts.base import Speech, clean_text, get_tts


@dataclass
class SpokenLine:
    shot_id: str
    index: int
    character: str
    language: str
    text: str
    samples: np.ndarray  # mono float32 at SAMPLE_RATE
    visemes: VisemeTrack
    voice: str
    engine: str
    dual: bool = False
    fallback: bool = False  # dub requested but no translation: original kept

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


_CACHE: dict[tuple, Speech] = {}


class SpeechStore(Protocol):
    """A persistent cache of synthesized lines (e.g. :class:`VaultSpeechStore`)."""

    def load(self, key: str) -> Speech | None: ...

    def save(self, key: str, speech: Speech) -> None: ...


class VaultSpeechStore:
    """Synthesized lines kept in a project's vault (the ``tts`` cache of
    ``store.cache.Cache``: the samples as a .npy object, phonemes/visemes/voice as
    metadata), keyed by engine, voice profile, language and text: a re-render, even in a
    new process, speaks only the lines that changed. Under ``--force`` (the vault's or the
    context's force scope) every line is spoken again, once per forced run."""

    def __init__(self, vault: Any) -> None:
        from ..store.cache import Cache

        self.vault = vault
        self.cache = Cache(vault, "tts")

    def reusable(self, key: str) -> bool:
        """Whether a line made under ``key`` may be reused now (no force scope, or the line
        was made inside it)."""
        scope = self.cache.scope
        return scope is None or scope.made("tts", key)

    def load(self, key: str) -> Speech | None:
        rec = self.cache.lookup(key)
        if rec is None:
            return None
        try:
            samples = np.load(self.vault.get(rec.outputs["samples"]), allow_pickle=False)
            m = rec.meta
            return Speech(samples=samples.astype(np.float32, copy=False),
                          sample_rate=int(m["sample_rate"]),
                          phonemes=[(float(a), float(b), str(ph)) for a, b, ph in m["phonemes"]],
                          visemes=[(float(t), Viseme(v)) for t, v in m["visemes"]],
                          language=m["language"], voice=m["voice"], engine=m["engine"],
                          meta=dict(m.get("meta") or {}))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged record: speak the line again

    def save(self, key: str, speech: Speech) -> None:
        from ..store.cache import npy_bytes

        try:
            extra = json.loads(json.dumps(speech.meta))
        except (TypeError, ValueError):
            extra = {}
        self.cache.put(key, data={"samples": npy_bytes(np.asarray(speech.samples,
                                                                   np.float32))}, meta={
            "sample_rate": speech.sample_rate,
            "phonemes": [list(p) for p in speech.phonemes],
            "visemes": [(float(t), Viseme(v).value) for t, v in speech.visemes],
            "language": speech.language, "voice": speech.voice, "engine": speech.engine,
            "meta": extra})


_FEMALE = ("f1", "f2", "f3", "f4", "f5")
_MALE = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8")
_ANY = ("f1", "m1", "f2", "m3", "f3", "m2", "f4", "m4", "f5", "m7", "m5", "m6", "m8")
_OLDER = {VoiceGender.female: "grandma", VoiceGender.male: "grandpa"}
_AGE_PITCH = {VoiceAge.child: 30, VoiceAge.young: 10, VoiceAge.adult: 0, VoiceAge.older: -12}
_AGE_RATE = {VoiceAge.child: 0, VoiceAge.young: 5, VoiceAge.adult: 0, VoiceAge.older: -28}
_SHE = re.compile(r"\b(she|her|hers|herself|woman|women|girl|lady|mother|mum|mom|wife|"
                  r"daughter|sister|aunt|grandmother|granny|queen|actress|widow|"
                  r"fisherwoman|businesswoman|policewoman|heroine|mrs|ms|miss)\b", re.I)
_HE = re.compile(r"\b(he|him|his|himself|man|men|boy|gentleman|father|dad|husband|son|"
                 r"brother|uncle|grandfather|grandpa|king|actor|widower|fisherman|"
                 r"businessman|policeman|hero|mr|sir)\b", re.I)
_OLD = re.compile(r"\b(old|older|elderly|aged|ageing|aging|grey-haired|gray-haired|"
                  r"sixties|seventies|eighties|nineties|grandmother|grandfather|granny|"
                  r"grandpa|grandma|veteran|retired|(6|7|8|9)\d\s*(years?\s*old|s\b))\b",
                  re.I)
_CHILD = re.compile(r"\b(child|kid|toddler|little (girl|boy)|([3-9]|1[0-2])\s*years?\s*old|"
                    r"schoolgirl|schoolboy)\b", re.I)
_YOUNG = re.compile(r"\b(young|teen|teenage|teenager|youth|(1[3-9]|2\d)\s*years?\s*old|"
                    r"twenties|adolescent)\b", re.I)


def voice_gender(character: Character) -> VoiceGender | None:
    """The voice's gender, else what the bible description says (None: unknown)."""
    if character.voice.gender is not None:
        return character.voice.gender
    text = character.description
    she, he = len(_SHE.findall(text)), len(_HE.findall(text))
    if she > he:
        return VoiceGender.female
    if he > she:
        return VoiceGender.male
    return None


def voice_age(character: Character) -> VoiceAge | None:
    if character.voice.age is not None:
        return character.voice.age
    text = character.description
    for rx, age in ((_CHILD, VoiceAge.child), (_OLD, VoiceAge.older), (_YOUNG, VoiceAge.young)):
        if rx.search(text):
            return age
    return None


def cast_voices(characters: dict[str, Character]) -> dict[str, VoiceProfile]:
    """Each character's effective voice profile (see the module docstring)."""
    key = tuple(sorted((c.id, c.voice.model_dump_json(), c.description)
                       for c in characters.values()))
    return dict(_cast_voices(key))


def _cast_voices(key: tuple[tuple[str, str, str], ...]) -> tuple[tuple[str, VoiceProfile], ...]:
    hit = _CAST_CACHE.get(key)
    if hit is not None:
        return hit
    used = set()
    chars = []
    for cid, voice_json, description in key:
        profile = VoiceProfile.model_validate_json(voice_json)
        if profile.voice:
            used.add(profile.voice)
        chars.append(Character.model_construct(id=cid, voice=profile, description=description))
    out = []
    for ch in chars:
        profile = ch.voice
        if profile.voice or profile.engine != "espeak":
            out.append((ch.id, profile))
            continue
        gender, age = voice_gender(ch), voice_age(ch)
        pool = {VoiceGender.female: _FEMALE, VoiceGender.male: _MALE}.get(gender, _ANY)
        if age == VoiceAge.older and gender in _OLDER:
            pool = (_OLDER[gender], *pool)
        start = 0 if age == VoiceAge.older and gender in _OLDER else \
            zlib.crc32(ch.id.encode()) % len(pool)
        free = [pool[(start + k) % len(pool)] for k in range(len(pool))]
        variant = next((v for v in free if v not in used), free[0])
        used.add(variant)
        update: dict[str, Any] = {"voice": variant}
        if age is not None:
            update["pitch"] = int(min(99, max(0, profile.pitch + _AGE_PITCH[age])))
            update["rate"] = int(min(450, max(80, profile.rate + _AGE_RATE[age])))
        out.append((ch.id, profile.model_copy(update=update)))
    if len(_CAST_CACHE) > 64:
        _CAST_CACHE.clear()
    _CAST_CACHE[key] = tuple(out)
    return _CAST_CACHE[key]


_CAST_CACHE: dict[tuple, tuple[tuple[str, VoiceProfile], ...]] = {}


def line_language(line: DialogueLine, character: Character) -> str:
    return line.language or character.voice.language


def text_for(line: DialogueLine, character: Character,
             language: str | None) -> tuple[str, str, bool]:
    """(text, language, fallback) for the original (language None) or a dub language."""
    own = line_language(line, character)
    if language is None or language.lower() == own.lower():
        return line.text, own, False
    for lang, text in line.translations.items():
        if lang.lower() == language.lower():
            return text, lang, False
    return line.text, own, True


def to_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample mono float samples to SAMPLE_RATE (polyphase FIR, scipy)."""
    if rate == SAMPLE_RATE:
        return samples.astype(np.float32)
    from math import gcd

    g = gcd(SAMPLE_RATE, rate)
    return resample_poly(samples, SAMPLE_RATE // g, rate // g).astype(np.float32)


def synthesize(text: str, profile: VoiceProfile, language: str, *,
               where: str = "line", store: SpeechStore | None = None) -> Speech:
    """Speak (cached per engine, profile, language and text: in memory, and in ``store``
    when given, so that other processes reuse it)."""
    from ..store.cache import current_scope

    spoken = clean_text(text, where=where)
    key = (profile.engine, profile.model_dump_json(), language, spoken)
    skey = stable_hash("tts", *key)
    # the in-memory copy obeys --force like the store: not reused when made before the
    # force scope in effect (the store's vault's, else the context's)
    reusable = getattr(store, "reusable", None)
    scope = None if reusable is not None else current_scope()
    fresh = reusable(skey) if reusable is not None else \
        scope is None or scope.made("tts", skey)
    if key not in _CACHE or not fresh:
        if len(_CACHE) >= 4096:  # bound memory in long sessions
            _CACHE.clear()
        speech = store.load(skey) if store is not None else None
        if speech is None:
            speech = get_tts(profile.engine).synthesize(spoken, profile, language=language)
            if store is not None:
                store.save(skey, speech)
        if scope is not None:
            scope.mark("tts", skey)
        _CACHE[key] = speech
    return _CACHE[key]


def speak_line(characters: dict[str, Character], line: DialogueLine, *, shot_id: str,
               index: int, language: str | None = None,
               rate_scale: float = 1.0, store: SpeechStore | None = None) -> SpokenLine:
    ch = characters.get(line.character)
    where = f"shot {shot_id} line {index + 1}"
    if ch is None:
        raise StudioError(f"{where}: unknown speaker {line.character!r}",
                          field="dialogue.character",
                          hint=f"known characters: {', '.join(sorted(characters))}")
    text, lang, fallback = text_for(line, ch, language)
    profile = cast_voices(characters)[ch.id]
    if rate_scale != 1.0:
        profile = profile.model_copy(update={"rate": int(min(450, profile.rate * rate_scale))})
    try:
        speech = synthesize(text, profile, lang, where=where, store=store)
    except StudioError as err:
        for p in err.problems:
            p.message = f"{where} ({ch.id}): {p.message}" if where not in p.message \
                else p.message
            if line.language and p.field == "voice.language":
                p.field = "dialogue.language"  # the line, not the character, set it
            elif p.field and p.field.startswith("voice"):
                p.file = p.file or f"characters/{ch.id}.yaml"
        raise
    return SpokenLine(shot_id=shot_id, index=index, character=ch.id, language=lang, text=text,
                      samples=to_rate(speech.samples, speech.sample_rate),
                      visemes=speech.visemes, voice=speech.voice, engine=speech.engine,
                      dual=line.dual, fallback=fallback)


def speak_storyboard(characters: dict[str, Character], storyboard: Storyboard, *,
                     language: str | None = None,
                     progress: Callable[[float], None] | None = None,
                     store: SpeechStore | None = None) -> dict[str, list[SpokenLine]]:
    """Every line of every shot, per shot id (shots without dialogue map to [])."""
    shots = storyboard.shots
    total = sum(len(s.dialogue) for s in shots) or 1
    out: dict[str, list[SpokenLine]] = {}
    done = 0
    for shot in shots:
        lines = []
        for i, line in enumerate(shot.dialogue):
            lines.append(speak_line(characters, line, shot_id=shot.id, index=i,
                                    language=language, store=store))
            done += 1
            if progress:
                progress(done / total)
        out[shot.id] = lines
    return out
