"""eSpeak NG through ctypes, from the espeakng-loader wheel (no system package needed).

Why ctypes by hand: no maintained Python binding exposes eSpeak NG's phoneme events
(``espeakEVENT_PHONEME``), which carry the phoneme timing that visemes and the lip-sync
check need. The library is not thread-safe: one synthesizer per process, behind a lock.

Reproducible speech: eSpeak NG keeps synthesis state in C statics between utterances (the
glottal phase, the pitch flutter index) and seeds its random generator from the clock, so
the same line came out slightly different in every process and after every other line.
Each line is therefore spoken by a freshly loaded library (unloaded with ``dlclose`` and
loaded again: about 3 ms) whose generator is seeded from the line itself
(``espeak_ng_SetRandSeed``): a line's samples depend only on its text, voice and language.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
from pathlib import Path

import numpy as np

from ...models import VoiceProfile
from ...registry import TTS
from .base import Speech, TTSEngine, TTSError, VoiceInfo, compact_track, viseme_for_phoneme

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_EV_LIST_TERMINATED, _EV_WORD, _EV_PHONEME, _EV_END, _EV_MSG_TERMINATED = 0, 1, 7, 5, 6
_RATE, _VOLUME, _PITCH = 1, 2, 3


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte),
                ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
                ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


class _Lib:
    """The loaded library (one per process)."""

    _instance: _Lib | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        import espeakng_loader

        self.data_path = Path(espeakng_loader.get_data_path())
        self.lib_path = str(espeakng_loader.get_library_path())
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, float, str]] = []
        self._callback = _CALLBACK(self._on_synth)  # keep a reference: C holds the pointer
        self._load()

    def _load(self) -> None:
        lib = ctypes.CDLL(self.lib_path)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_Voice)
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        lib.espeak_Terminate.restype = ctypes.c_int
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                                 str(self.data_path).encode(),
                                                 _INIT_PHONEME_EVENTS)
        if self.sample_rate <= 0:
            raise TTSError(f"eSpeak NG did not start (data at {self.data_path})",
                           hint="reinstall espeakng-loader")
        self.lib = lib
        lib.espeak_SetSynthCallback(self._callback)

    def fresh(self, seed: int) -> None:
        """Unload and reload the library (its C statics start over), then seed its random
        generator: the next utterance depends on nothing spoken before it. Call under
        ``_lock``. If something else in the process holds the library open, the reload
        keeps the old state (the seed still applies)."""
        import _ctypes

        self.lib.espeak_Terminate()
        handle = self.lib._handle
        del self.lib
        _ctypes.dlclose(handle)
        self._load()
        self.lib.espeak_ng_SetRandSeed(seed)

    @classmethod
    def get(cls) -> _Lib:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _on_synth(self, wav, n, events) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while True:
            ev = events[i]
            if ev.type == _EV_LIST_TERMINATED:
                break
            if ev.type in (_EV_PHONEME, _EV_WORD, _EV_END):
                name = ev.id.string.decode("ascii", "replace") if ev.type == _EV_PHONEME else ""
                self._events.append((ev.type, ev.audio_position / 1000.0, name))
            i += 1
        return 0

    def voices(self) -> list[VoiceInfo]:
        with _Lib._lock:  # (a synthesis in another thread may be reloading the library)
            return self._list_voices()

    def _list_voices(self) -> list[VoiceInfo]:
        out = []
        arr = self.lib.espeak_ListVoices(None)
        i = 0
        while arr[i]:
            v = arr[i].contents
            langs = []
            p = v.languages
            while p:
                prio = ctypes.c_ubyte.from_address(p).value
                if prio == 0:
                    break
                s = ctypes.string_at(p + 1)
                langs.append(s.decode())
                p += len(s) + 2
            out.append(VoiceInfo("espeak", v.identifier.decode(), v.name.decode(),
                                 tuple(langs), {1: "male", 2: "female"}.get(v.gender, "")))
            i += 1
        return out


class EspeakTTS(TTSEngine):
    """The embedded default voice: every language the shipped eSpeak NG data holds."""

    name = "espeak"

    def __init__(self) -> None:
        self._lib = _Lib.get()
        self._voices = self._lib.voices()
        self._by_lang: dict[str, VoiceInfo] = {}
        for v in self._voices:
            for lang in v.languages:
                self._by_lang.setdefault(lang.lower(), v)
        vdir = self._lib.data_path / "voices" / "!v"
        self._variants = sorted(p.name for p in vdir.iterdir()) if vdir.is_dir() else []

    @property
    def sample_rate(self) -> int:
        return self._lib.sample_rate

    def voices(self) -> list[VoiceInfo]:
        return list(self._voices)

    def variants(self) -> list[str]:
        """Voice variants usable as ``VoiceProfile.voice`` (m1..m8, f1..f5, named ones)."""
        return list(self._variants)

    def resolve_language(self, language: str) -> str:
        """Our language code (ISO 639, e.g. 'pt-BR') -> the eSpeak voice identifier's lang."""
        key = language.lower()
        if key in self._by_lang:
            return key
        base = key.split("-")[0]
        if base in self._by_lang:
            return base
        raise TTSError(
            f"eSpeak NG has no voice for language {language!r}",
            field="voice.language",
            hint=f"{len(self._by_lang)} languages are available; list them with "
                 "'studio voices' (e.g. en, fr, de, es, pt-br, cmn, ja, sw)",
        )

    def synthesize(self, text: str, profile: VoiceProfile, *,
                   language: str | None = None) -> Speech:
        lang = self.resolve_language(language or profile.language)
        name = lang
        if profile.voice:
            if profile.voice not in self._variants:
                raise TTSError(
                    f"eSpeak NG has no voice variant {profile.voice!r}",
                    field="voice.voice",
                    hint="use one of m1..m8, f1..f5 or a named variant from 'studio voices'",
                )
            name = f"{lang}+{profile.voice}"
        lib = self._lib
        seed = int(hashlib.sha256(repr((text, name, profile.rate, profile.pitch,
                                        profile.volume)).encode()).hexdigest()[:8], 16)
        with _Lib._lock:
            lib.fresh(seed)
            if lib.lib.espeak_SetVoiceByName(name.encode()) != 0:
                raise TTSError(f"eSpeak NG could not select voice {name!r}", field="voice")
            lib.lib.espeak_SetParameter(_RATE, int(profile.rate), 0)
            lib.lib.espeak_SetParameter(_PITCH, int(profile.pitch), 0)
            lib.lib.espeak_SetParameter(_VOLUME, int(profile.volume), 0)
            lib._chunks, lib._events = [], []
            data = text.encode("utf-8") + b"\0"
            buf = ctypes.create_string_buffer(data)
            rc = lib.lib.espeak_Synth(buf, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
            if rc != 0:
                raise TTSError(f"eSpeak NG failed to speak {text[:40]!r} (code {rc})")
            chunks, events = lib._chunks, lib._events
            lib._chunks, lib._events = [], []
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        samples = pcm.astype(np.float32) / 32768.0
        sr = lib.sample_rate
        dur = len(samples) / sr
        phon = [(t, n) for kind, t, n in events if kind == _EV_PHONEME]
        phonemes = []
        for i, (t, n) in enumerate(phon):
            end = phon[i + 1][0] if i + 1 < len(phon) else dur
            phonemes.append((t, max(t, end), n))
        track = [(t, viseme_for_phoneme(n)) for t, _, n in phonemes]
        from ...visemes import Viseme

        track.append((dur, Viseme.rest))
        return Speech(samples=samples, sample_rate=sr, phonemes=phonemes,
                      visemes=compact_track(track), language=lang, voice=name,
                      engine=self.name)


TTS.register("espeak")(EspeakTTS)
