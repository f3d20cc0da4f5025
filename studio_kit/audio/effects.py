"""Sound effects cued from action lines by keyword, from a synthesized library plus the
project's own files (``sfx/<name>.wav|flac|ogg``; a file named like a library effect
replaces it, any other file name becomes a new keyword).

Why hand-written: no offline effects library ships on PyPI; each effect is a short
physical-ish recipe (decaying resonances, noise bursts, tones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

from ..errors import StudioError
from . import SAMPLE_RATE

#: effect name -> regular expression over the (lower-case) action line
KEYWORDS: dict[str, str] = {
    "footsteps": r"\bfootsteps?\b|\bsteps?\b|\bwalks?\b|\bstairs?\b|\bclimbs?\b",
    "door": r"\bdoors?\b",
    "knock": r"\bknocks?\b|\bknocking\b",
    "phone": r"\bphones?\b|\bringing\b|\brings\b",
    "gunshot": r"\bgunshots?\b|\bgunfire\b|\bshoots?\b|\bfires (a|the) (gun|pistol|rifle)",
    "car": r"\bcars?\b|\bengine\b|\bdrives? (off|away|up)\b",
    "glass": r"\bglass\b|\bshatter(s|ed)?\b|\bsmash(es|ed)?\b",
    "horn": r"\bhorns?\b|\bhonks?\b|\bfoghorn\b",
    "bell": r"\bbells?\b|\bchimes?\b",
    "thunder": r"\bthunder\b",
    "splash": r"\bsplash(es)?\b",
}
AUDIO_EXT = (".wav", ".flac", ".ogg")


@dataclass
class Cue:
    shot_id: str
    name: str
    start_s: float
    source: str  # "library" or the user file's path
    keyword: str  # the words that triggered it


def _sos(kind: str, f, sr: int):
    return butter(2, f, btype=kind, fs=sr, output="sos")


def _env(n: int, sr: int, decay: float, attack: float = 0.002) -> np.ndarray:
    t = np.arange(n) / sr
    e = np.exp(-t / decay)
    a = max(1, int(attack * sr))
    e[:a] *= np.linspace(0, 1, a)
    return e


def synth(name: str, *, seed: int = 0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A library effect as mono float32."""
    rng = np.random.default_rng(seed)

    def noise(sec: float) -> np.ndarray:
        return rng.standard_normal(int(sec * sr))

    def tone(freqs, sec: float) -> np.ndarray:
        t = np.arange(int(sec * sr)) / sr
        return sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)

    if name == "footsteps":
        out = np.zeros(int(2.6 * sr))
        for i in range(6):
            step = sosfilt(_sos("band", [80, 900], sr), noise(0.12)) * _env(int(0.12 * sr), sr,
                                                                             0.025)
            at = int(i * 0.42 * sr)
            out[at:at + len(step)] += step * (0.9 if i % 2 else 0.7)
        x = out * 1.2
    elif name == "door":
        creak_t = np.arange(int(0.7 * sr)) / sr
        f = 180 + 60 * np.sin(2 * np.pi * 3 * creak_t)
        creak = np.sign(np.sin(2 * np.pi * np.cumsum(f) / sr)) * 0.05 * np.hanning(len(f))
        thud = sosfilt(_sos("low", 200, sr), noise(0.4)) * _env(int(0.4 * sr), sr, 0.06) * 3
        x = np.concatenate([sosfilt(_sos("band", [300, 3000], sr), creak), thud])
    elif name == "knock":
        out = np.zeros(int(1.0 * sr))
        for i in range(3):
            k = sosfilt(_sos("band", [150, 1200], sr), noise(0.08)) * _env(int(0.08 * sr), sr,
                                                                            0.015) * 2
            at = int(i * 0.22 * sr)
            out[at:at + len(k)] += k
        x = out
    elif name == "phone":
        ring = tone([440, 480], 0.4) * (0.5 + 0.5 * np.sign(np.sin(
            2 * np.pi * 20 * np.arange(int(0.4 * sr)) / sr)))
        gap = np.zeros(int(0.2 * sr))
        x = np.concatenate([ring, gap, ring, np.zeros(int(1.0 * sr)), ring, gap, ring]) * 0.25
    elif name == "gunshot":
        n = int(0.9 * sr)
        crack = noise(0.9) * _env(n, sr, 0.05) * 1.5
        boom = sosfilt(_sos("low", 150, sr), noise(0.9)) * _env(n, sr, 0.2) * 6
        x = crack + boom
    elif name == "car":
        t = np.arange(int(3.0 * sr)) / sr
        f = 35 + 10 * np.sin(2 * np.pi * 0.3 * t)
        engine = np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.5 * np.sin(4 * np.pi * np.cumsum(f) / sr)
        rumble = sosfilt(_sos("low", 300, sr), noise(3.0)) * 2
        x = (engine * 0.3 + rumble) * np.hanning(len(t))
    elif name == "glass":
        n = int(1.2 * sr)
        x = sosfilt(_sos("high", 2500, sr), noise(1.2)) * _env(n, sr, 0.15) * 0.6
        for _ in range(8):
            at = int(rng.uniform(0, 0.5) * sr)
            ln = int(0.3 * sr)
            x[at:at + ln] += tone([rng.uniform(3000, 7000)], 0.3)[: n - at] * _env(ln, sr, 0.05)[
                : n - at] * 0.2
    elif name == "horn":
        x = tone([350, 440], 0.8) * np.minimum(1, np.linspace(0, 20, int(0.8 * sr))) * 0.4
        x *= np.linspace(1, 0.8, len(x))
    elif name == "bell":
        n = int(3.0 * sr)
        t = np.arange(n) / sr
        x = sum(a * np.sin(2 * np.pi * 520 * r * t) for r, a in
                [(1, 1), (2.0, 0.5), (2.76, 0.4), (5.4, 0.2)]) * _env(n, sr, 0.8) * 0.25
    elif name == "thunder":
        n = int(4.0 * sr)
        x = sosfilt(_sos("low", 120, sr), noise(4.0)) * _env(n, sr, 1.2, attack=0.3) * 8
    elif name == "splash":
        n = int(1.0 * sr)
        x = sosfilt(_sos("band", [300, 5000], sr), noise(1.0)) * _env(n, sr, 0.2, 0.02) * 0.8
    else:
        raise StudioError(f"no effect {name!r} in the library",
                          hint=f"library effects: {', '.join(sorted(KEYWORDS))}; or put "
                               f"sfx/{name}.wav in the series folder")
    x = np.asarray(x, np.float32)
    peak = float(np.abs(x).max()) or 1.0
    return x / peak * 0.5


def user_effects(project_root: Path) -> dict[str, Path]:
    folder = Path(project_root) / "sfx"
    if not folder.is_dir():
        return {}
    return {p.stem.lower(): p for p in sorted(folder.iterdir())
            if p.suffix.lower() in AUDIO_EXT}


def load_user_effect(path: Path, sr: int = SAMPLE_RATE) -> np.ndarray:
    import soundfile as sf

    from .dialogue import to_rate

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise StudioError(f"cannot read sound effect: {exc}", file=path,
                          hint="use WAV, FLAC or OGG") from None
    mono = data.mean(axis=1)
    return to_rate(mono, rate) if rate != sr else mono


def find_cues(shot_id: str, action: str, start_s: float, duration_s: float,
              user: dict[str, Path] | None = None) -> list[Cue]:
    """Effects an action line asks for, placed where its words fall within the shot."""
    user = user or {}
    text = action.lower()
    patterns = dict(KEYWORDS)
    for name in user:
        if name not in patterns:
            patterns[name] = rf"\b{re.escape(name.replace('_', ' '))}s?\b"
    cues = []
    for name, pattern in patterns.items():
        m = re.search(pattern, text)
        if not m:
            continue
        frac = m.start() / max(1, len(text))
        at = start_s + 0.1 + frac * max(0.0, duration_s - 0.6)
        src = str(user[name]) if name in user else "library"
        cues.append(Cue(shot_id, name, round(at, 4), src, m.group(0)))
    return sorted(cues, key=lambda c: c.start_s)


def render_effects(cues: list[Cue], total_s: float, *, pans: dict[str, float] | None = None,
                   seed: int = 0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Stereo layer with every cue (pans: effect name -> -1..1, e.g. the door's mark)."""
    n = int(round(total_s * sr))
    out = np.zeros((n, 2), np.float32)
    cache: dict[str, np.ndarray] = {}
    for i, cue in enumerate(cues):
        if cue.name not in cache:
            cache[cue.name] = (load_user_effect(Path(cue.source), sr)
                               if cue.source != "library" else synth(cue.name, seed=seed + i,
                                                                     sr=sr))
        x = cache[cue.name]
        a = int(round(cue.start_s * sr))
        if a >= n:
            continue
        x = x[: n - a]
        pan = (pans or {}).get(cue.name, 0.0)
        theta = (pan + 1) * np.pi / 4
        out[a:a + len(x), 0] += x * np.cos(theta)
        out[a:a + len(x), 1] += x * np.sin(theta)
    return out
