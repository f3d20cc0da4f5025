"""Music scored per act from its mood, synthesized with numpy, as stems.

An act's mood is ``Act.mood``, else derived from the act's shots (:func:`act_mood`: storm,
chase, tension, joy ... words in the action; the scenes' atmosphere, ambience and time of
day), else neutral.

mood -> :class:`MoodSpec` (key, mode, tempo, instrumentation, intensity). Each act plays a
four-chord progression of its mode in bars of 4/4. The change to the next act lands on a
bar boundary of the outgoing music (the one nearest the act's first picture frame) and
crossfades there. Stems: ``pads``, ``bass``, ``lead``, ``percussion`` (stereo).

Why hand-written: no PyPI package scores from a mood offline; this is a small additive
synthesizer (sines with harmonics, plucks, noise percussion), deterministic per seed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, Field

from ..models import Act, Scene
from . import SAMPLE_RATE

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
STEMS = ("pads", "bass", "lead", "percussion")
INSTRUMENTS = {"pad": "pads", "drone": "pads", "bass": "bass", "arp": "lead",
               "pluck": "lead", "bells": "lead", "pulse": "percussion", "drums": "percussion"}

_PROGRESSIONS = {
    "major": [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")],
    "minor": [(0, "min"), (8, "maj"), (3, "maj"), (10, "maj")],
    "dorian": [(0, "min"), (5, "maj"), (0, "min"), (10, "maj")],
    "phrygian": [(0, "min"), (1, "maj"), (0, "min"), (1, "maj")],
}
_SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10],
           "dorian": [0, 2, 3, 5, 7, 9, 10], "phrygian": [0, 1, 3, 5, 7, 8, 10]}


class MoodSpec(BaseModel):
    mood: str
    key: str = Field(description="Tonic, e.g. 'D'.")
    mode: str = Field(description="major, minor, dorian or phrygian.")
    tempo_bpm: float = Field(gt=20, lt=300)
    instruments: list[str]
    intensity: float = Field(ge=0, le=1)

    @property
    def bar_s(self) -> float:
        return 4 * 60.0 / self.tempo_bpm


_MOODS: dict[str, tuple[str, str, float, list[str], float]] = {
    "neutral": ("C", "major", 90, ["pad", "bass"], 0.4),
    "mysterious": ("D", "dorian", 72, ["pad", "bells", "bass"], 0.35),
    "tense": ("C#", "minor", 96, ["drone", "arp", "bass", "pulse"], 0.6),
    "ominous": ("C", "phrygian", 60, ["drone", "pad", "bass", "pulse"], 0.5),
    "calm": ("F", "major", 70, ["pad", "pluck"], 0.3),
    "happy": ("G", "major", 112, ["pluck", "bass", "drums"], 0.6),
    "sad": ("A", "minor", 66, ["pad", "pluck"], 0.35),
    "romantic": ("Eb", "major", 80, ["pad", "pluck", "bass"], 0.4),
    "action": ("E", "minor", 140, ["arp", "bass", "drums"], 0.85),
    "triumphant": ("D", "major", 100, ["pad", "arp", "bass", "drums"], 0.8),
    "playful": ("F", "major", 120, ["pluck", "bass"], 0.5),
    "hopeful": ("C", "major", 84, ["pad", "pluck", "bass"], 0.45),
    "storm": ("D", "phrygian", 132, ["drone", "arp", "bass", "drums"], 0.95),
}
_SYNONYMS = {"mystery": "mysterious", "eerie": "mysterious", "suspense": "tense",
             "suspenseful": "tense", "anxious": "tense", "dark": "ominous",
             "menacing": "ominous", "dread": "ominous", "peaceful": "calm", "quiet": "calm",
             "gentle": "calm", "joyful": "happy", "upbeat": "happy", "cheerful": "happy",
             "melancholy": "sad", "melancholic": "sad", "grief": "sad", "love": "romantic",
             "tender": "romantic", "chase": "action", "exciting": "action", "fight": "action",
             "epic": "triumphant", "victory": "triumphant", "comedic": "playful",
             "funny": "playful", "whimsical": "playful", "warm": "hopeful",
             "uplifting": "hopeful", "stormy": "storm", "tempest": "storm",
             "gale": "storm", "hurricane": "storm", "tension": "tense", "tensions": "tense",
             "joy": "happy", "jubilant": "happy", "celebration": "happy", "serene": "calm",
             "tranquil": "calm", "horror": "ominous", "fear": "ominous",
             "scary": "ominous", "danger": "tense", "thriller": "tense"}


def mood_spec(mood: str | None) -> tuple[MoodSpec, bool]:
    """(spec, known). Unknown moods get the neutral score (documented) and known=False."""
    words = re.findall(r"[a-z]+", (mood or "neutral").lower())
    for w in words:
        name = w if w in _MOODS else _SYNONYMS.get(w)
        if name:
            key, mode, tempo, inst, inten = _MOODS[name]
            return MoodSpec(mood=name, key=key, mode=mode, tempo_bpm=tempo, instruments=inst,
                            intensity=inten), True
    key, mode, tempo, inst, inten = _MOODS["neutral"]
    return MoodSpec(mood="neutral", key=key, mode=mode, tempo_bpm=tempo, instruments=inst,
                    intensity=inten), mood is None


#: What an act's scenes and action say about its music when the act names no mood:
#: (mood, weight, words in the actions; the first word list found per shot counts).
_CUES: list[tuple[str, float, str]] = [
    ("storm", 3.0, r"storm|storms|stormy|thunder|thunderclap|lightning|gale|tempest|squall|"
                   r"hurricane|lashing|waves crash|crashing waves|howling wind|downpour"),
    ("action", 2.0, r"chase|chases|fight|fights|punch|punches|shoots|gunfire|gunshot|"
                    r"explosion|explodes|runs|sprints|races|crash|crashes|attack|attacks"),
    ("tense", 1.5, r"freeze|freezes|froze|tense|tension|waits|silence|listens|creeps|"
                   r"creaks|whispers|hides|stares|holds (his|her|their) breath|footsteps"),
    ("ominous", 1.5, r"blood|dead|body|corpse|scream|screams|shadow|shadows|knife|"
                     r"threat|menace|dread"),
    ("sad", 1.5, r"cries|crying|tears|weeps|sobs|funeral|grave|mourns|grief|alone"),
    ("happy", 1.5, r"laughs|laughing|smiles|grins|celebrates|cheers|dances|dancing|hugs|"
                   r"joy|joyful|party|sings"),
    ("romantic", 1.5, r"kiss|kisses|kissing|embrace|embraces|holds hands|in love"),
    ("mysterious", 1.0, r"fog|mist|misty|strange|mysterious|unknown|glows|glimmer"),
    ("calm", 1.0, r"calm|quiet|peaceful|still water|sunlight|gentle|rests|sleeps"),
]


def act_mood(act: Act, scenes: Mapping[str, Scene] | None = None) -> str | None:
    """The act's music mood: ``act.mood``, else what its shots say (action words, their
    scenes' atmosphere, ambience and time of day), else None (neutral).

    A storm scene (rain with wind or storm ambience, or storm words) scores "storm", fog
    "mysterious", a night scene leans "tense"; the highest total over the act's shots wins.
    """
    if act.mood:
        return act.mood
    scenes = scenes or {}
    score: dict[str, float] = {}

    def add(mood: str, w: float) -> None:
        score[mood] = score.get(mood, 0.0) + w

    for shot in act.shots:
        text = shot.action.lower()
        for mood, w, words in _CUES:
            if re.search(rf"\b({words})\b", text):
                add(mood, w)
        scene = scenes.get(shot.scene)
        if scene is None:
            continue
        atm = scene.atmosphere
        beds = {a.strip().lower() for a in scene.ambience}
        if "storm" in beds or "thunder" in beds or (
                atm.kind.value == "rain" and ({"wind", "sea"} & beds or atm.density > 0.7)):
            add("storm", 2.0)
        elif atm.kind.value == "fog" and atm.density > 0:
            add("mysterious", 1.0)
        tod = (shot.time_of_day or scene.time_of_day).value
        if tod == "night":
            add("tense", 0.5)
        elif tod in ("dawn", "morning"):
            add("calm", 0.4)
    if not score:
        return None
    return max(sorted(score), key=lambda m: score[m])


def known_moods() -> list[str]:
    return sorted(_MOODS) + sorted(_SYNONYMS)


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


@lru_cache(maxsize=512)
def _tone(freq: float, n: int, sr: int, harmonics=(1.0, 0.3, 0.12), phase: float = 0.0):
    """A note's waveform (cached: progressions repeat, so most notes are reused)."""
    t = np.arange(n, dtype=np.float32) / np.float32(sr)
    out = np.zeros(n, np.float32)
    for k, a in enumerate(harmonics, start=1):
        if freq * k < sr / 2.2:
            out += a * np.sin(np.float32(2 * np.pi * freq * k) * t + np.float32(phase * k))
    out.flags.writeable = False
    return out


@lru_cache(maxsize=256)
def _adsr(n: int, sr: int, attack: float, release: float, decay: float | None = None):
    env = np.ones(n, np.float32)
    a = min(n, max(1, int(attack * sr)))
    env[:a] = np.linspace(0, 1, a, dtype=np.float32)
    if decay:
        env *= np.exp(-np.arange(n) / (decay * sr)).astype(np.float32)
    r = min(n, max(1, int(release * sr)))
    env[-r:] *= np.linspace(1, 0, r, dtype=np.float32)
    env.flags.writeable = False
    return env


@lru_cache(maxsize=8)
def _kick(n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    f = 45 + 80 * np.exp(-t * 30)
    return np.sin(2 * np.pi * np.cumsum(f) / sr).astype(np.float32)


@dataclass
class _Buf:
    n: int
    sr: int
    stems: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, stem: str, start: int, mono: np.ndarray, pan: float = 0.0) -> None:
        if stem not in self.stems:
            self.stems[stem] = np.zeros((self.n, 2), np.float32)
        buf = self.stems[stem]
        if start >= self.n or start + len(mono) <= 0:
            return
        s0 = max(0, start)
        m = mono[s0 - start: self.n - start] if start + len(mono) > self.n else mono[s0 - start:]
        theta = (pan + 1) * math.pi / 4
        buf[s0:s0 + len(m), 0] += m * math.cos(theta)
        buf[s0:s0 + len(m), 1] += m * math.sin(theta)


def render_bars(spec: MoodSpec, first_bar: int, n_bars: int, *, seed: int = 0,
                sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """Bars ``first_bar .. first_bar+n_bars-1`` of a mood (bar 0 = the act's downbeat)."""
    bar = spec.bar_s
    n = int(round(n_bars * bar * sr))
    buf = _Buf(n, sr)
    rng = np.random.default_rng(seed)
    tonic = NOTE_NAMES.index(spec.key)
    prog = _PROGRESSIONS[spec.mode]
    scale = _SCALES[spec.mode]
    beat = bar / 4
    inten = spec.intensity
    for b in range(n_bars):
        idx = first_bar + b
        root_off, quality = prog[idx % len(prog)]
        root = 48 + (tonic + root_off) % 12
        third = 3 if quality == "min" else 4
        chord = [root, root + third, root + 7]
        at = int(round(b * bar * sr))
        nb = int(round(bar * sr))
        for inst in spec.instruments:
            if inst == "pad":
                for k, note in enumerate(chord):
                    tone = _tone(_hz(note + 12) * (1 + 0.002 * (k - 1)), nb + int(0.3 * sr), sr,
                                 (1.0, 0.25, 0.1), phase=float(k))
                    buf.add("pads", at, tone * _adsr(len(tone), sr, 0.4, 0.5) * 0.10,
                            pan=(k - 1) * 0.4)
            elif inst == "drone":
                for note in (root - 12 if quality else root, root - 5):
                    tone = _tone(_hz(note), nb + int(0.2 * sr), sr, (1.0, 0.5, 0.25, 0.1))
                    buf.add("pads", at, tone * _adsr(len(tone), sr, 0.2, 0.2) * 0.09)
            elif inst == "bass":
                for beat_i in (0, 2):
                    ln = int(beat * 1.8 * sr)
                    tone = _tone(_hz(root - 12), ln, sr, (1.0, 0.4, 0.15))
                    buf.add("bass", at + int(beat_i * beat * sr),
                            tone * _adsr(ln, sr, 0.01, 0.1, decay=beat * 1.2) * 0.22)
            elif inst in ("arp", "pluck"):
                steps = 8 if inst == "arp" else 4
                notes = chord + [chord[0] + 12]
                for s in range(steps):
                    if inst == "pluck" and rng.random() > 0.5 + inten / 2:
                        continue
                    note = notes[s % len(notes)] + 12
                    ln = int(bar / steps * 1.5 * sr)
                    tone = _tone(_hz(note), ln, sr, (1.0, 0.5, 0.3, 0.15))
                    buf.add("lead", at + int(s * bar / steps * sr),
                            tone * _adsr(ln, sr, 0.005, 0.05, decay=0.18) * 0.08,
                            pan=0.3 * math.sin(s))
            elif inst == "bells":
                if rng.random() < 0.6:
                    note = 72 + tonic + scale[rng.integers(len(scale))]
                    ln = int(2.5 * sr)
                    f = _hz(note)
                    tone = _tone(f, ln, sr, (1.0,)) + 0.4 * _tone(f * 2.76, ln, sr, (1.0,)) \
                        + 0.2 * _tone(f * 5.4, ln, sr, (1.0,))
                    buf.add("lead", at + int(rng.integers(0, 4) * beat * sr),
                            tone * _adsr(ln, sr, 0.002, 0.1, decay=0.6) * 0.05,
                            pan=float(rng.uniform(-0.6, 0.6)))
            elif inst in ("pulse", "drums"):
                for beat_i in range(4):
                    ln = int(0.25 * sr)
                    kick = _kick(ln, sr)
                    if inst == "pulse" and beat_i % 2:
                        continue
                    buf.add("percussion", at + int(beat_i * beat * sr),
                            kick * _adsr(ln, sr, 0.002, 0.02, decay=0.08) * 0.35 * inten)
                    if inst == "drums":
                        hl = int(0.06 * sr)
                        hat = rng.standard_normal(hl).astype(np.float32)
                        hat = np.diff(hat, prepend=0.0).astype(np.float32)
                        hat *= _adsr(hl, sr, 0.001, 0.01, decay=0.015) * 0.05 * inten
                        buf.add("percussion", at + int((beat_i + 0.5) * beat * sr), hat,
                                pan=0.3)
    gain = 0.6 + 0.8 * inten
    return {s: buf.stems.get(s, np.zeros((n, 2), np.float32)) * gain for s in STEMS}


@dataclass
class ActCue:
    act_id: str
    spec: MoodSpec
    start_s: float  # where this act's first downbeat lands (a bar boundary)
    end_s: float
    known_mood: bool = True


def plan_score(acts: list[tuple[str, str | None, float, float]]) -> list[ActCue]:
    """acts: (act id, mood, picture start, picture end) -> cues with bar-aligned changes.

    Each change moves to the bar boundary of the outgoing music nearest the picture change.
    """
    cues: list[ActCue] = []
    for i, (act_id, mood, start, end) in enumerate(acts):
        spec, known = mood_spec(mood)
        if cues:
            prev = cues[-1]
            bars = max(1, round((start - prev.start_s) / prev.spec.bar_s))
            start = prev.start_s + bars * prev.spec.bar_s
            prev.end_s = start
        cues.append(ActCue(act_id, spec, 0.0 if i == 0 else start, end, known))
    return cues


_BARS: dict[tuple, dict[str, np.ndarray]] = {}
#: Bound of the in-process act cache: 3 minutes of music (4 stereo float32 stems, ~280 MB).
#: A re-render in the same process (notebook, surfaces, bench) reuses every unchanged act.
_BARS_MAX_SAMPLES = 48_000 * 60 * 3


def _cached_bars(spec: MoodSpec, first_bar: int, n_bars: int, *, seed: int,
                 sr: int) -> dict[str, np.ndarray]:
    """``render_bars`` memoized per act (mood, bar range, seed): an act's music is on its
    own bar grid, so it is the same wherever the act lands in the episode."""
    key = (spec.model_dump_json(), first_bar, n_bars, seed, sr)
    hit = _BARS.get(key)
    if hit is None:
        hit = render_bars(spec, first_bar, n_bars, seed=seed, sr=sr)
        for arr in hit.values():
            arr.setflags(write=False)
        if sum(len(next(iter(v.values()))) for v in _BARS.values()) + \
                len(next(iter(hit.values()))) > _BARS_MAX_SAMPLES:
            _BARS.clear()
        _BARS[key] = hit
    return hit


def render_score(cues: list[ActCue], total_s: float, *, crossfade_s: float = 1.5,
                 seed: int = 0, sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """Stems over [0, total_s]: each act on its own bar grid, crossfaded at act changes."""
    n = int(round(total_s * sr))
    out = {s: np.zeros((n, 2), np.float32) for s in STEMS}
    half = crossfade_s / 2
    for i, cue in enumerate(cues):
        a = cue.start_s - (half if i else 0.0)
        b = min(total_s, (cue.end_s + half) if i + 1 < len(cues) else total_s)
        if b <= a:
            continue
        first = math.floor((a - cue.start_s) / cue.spec.bar_s)
        last = math.ceil((b - cue.start_s) / cue.spec.bar_s)
        stems = _cached_bars(cue.spec, first, last - first, seed=seed + i, sr=sr)
        origin = cue.start_s + first * cue.spec.bar_s  # time of stems' sample 0
        i0 = int(round(a * sr))
        i1 = int(round(b * sr))
        off = int(round((a - origin) * sr))
        env = np.ones(i1 - i0, np.float32)
        x = int(crossfade_s * sr)
        if i and x:
            env[:x] = np.sin(np.linspace(0, np.pi / 2, min(x, len(env)))) ** 2
        if i + 1 < len(cues) and x:
            k = min(x, len(env))
            env[-k:] *= np.cos(np.linspace(0, np.pi / 2, k)) ** 2
        for s in STEMS:
            seg = stems[s][off: off + (i1 - i0)]
            out[s][i0:i0 + len(seg)] += seg * env[: len(seg), None]
    fade = min(n, int(2.0 * sr))
    if fade:
        for s in STEMS:
            out[s][-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None]
    return out
