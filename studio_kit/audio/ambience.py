"""Ambience per scene: noise beds synthesized from the scene's ``ambience`` and atmosphere.

Kinds: room_tone, city, traffic, crowd, rain, wind, sea, forest, birds, storm, fire, hum.
A scene's atmosphere adds its own bed (rain -> rain, snow -> wind, storm-like fog -> wind)
scaled by density; exterior scenes with nothing listed get a light wind. Consecutive shots
in the same scene share one continuous bed; scene changes crossfade.

Why hand-written: there is no offline ambience library on PyPI; these are classic
filtered-noise recipes (pink/brown noise, band-passes, slow random modulation).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, lfilter, sosfilt

from ..errors import StudioError
from ..models import AtmosphereKind, Scene
from . import SAMPLE_RATE

KINDS = ("room_tone", "city", "traffic", "crowd", "rain", "wind", "sea", "forest", "birds",
         "storm", "fire", "hum")
_ALIASES = {"roomtone": "room_tone", "room": "room_tone", "tone": "room_tone",
            "street": "city", "cars": "traffic", "people": "crowd", "cafe": "crowd",
            "ocean": "sea", "waves": "sea", "surf": "sea", "woods": "forest",
            "breeze": "wind", "thunder": "storm", "fireplace": "fire", "machine": "hum"}


def normalise_kind(name: str, *, scene: str = "", file: str | None = None) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in KINDS:
        raise StudioError(f"scene {scene}: unknown ambience {name!r}", file=file,
                          field="ambience",
                          hint=f"use one of {', '.join(KINDS)} (aliases: "
                               f"{', '.join(sorted(_ALIASES))})")
    return key


def scene_beds(scene: Scene, *, file: str | None = None) -> list[tuple[str, float]]:
    """(kind, gain) for a scene: its ambience list plus what its atmosphere implies."""
    beds = {normalise_kind(a, scene=scene.id, file=file): 1.0 for a in scene.ambience}
    atm, dens = scene.atmosphere.kind, scene.atmosphere.density
    extra = {AtmosphereKind.rain: "rain", AtmosphereKind.snow: "wind"}.get(atm)
    if extra and extra not in beds:
        beds[extra] = 0.4 + 0.6 * dens
    if not beds:
        beds["room_tone" if scene.interior else "wind"] = 0.6
    return list(beds.items())


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    # Paul Kellet's economy pink filter as an IIR (b, a) pair.
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    return lfilter(b, a, rng.standard_normal(n)).astype(np.float32) * 3.0


def _brown(n: int, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    x = lfilter([1.0], [1.0, -0.995], rng.standard_normal(n)) * 0.01
    return sosfilt(butter(1, 20, btype="high", fs=sr, output="sos"), x).astype(np.float32)


def _band(x: np.ndarray, lo: float | None, hi: float | None, sr: int) -> np.ndarray:
    if lo and hi:
        sos = butter(2, [lo, hi], btype="band", fs=sr, output="sos")
    elif lo:
        sos = butter(2, lo, btype="high", fs=sr, output="sos")
    else:
        sos = butter(2, hi, btype="low", fs=sr, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def _slow(n: int, rng: np.random.Generator, rate_hz: float, sr: int) -> np.ndarray:
    """A smooth random curve in 0..1 changing at about ``rate_hz``."""
    k = max(2, int(n / sr * rate_hz) + 2)
    pts = rng.uniform(0, 1, k)
    return np.interp(np.linspace(0, k - 1, n), np.arange(k), pts).astype(np.float32)


def _events(n: int, rng, sr: int, per_s: float, make) -> np.ndarray:
    out = np.zeros(n, np.float32)
    for _ in range(rng.poisson(per_s * n / sr)):
        ev = make(rng)
        at = int(rng.integers(0, max(1, n - len(ev))))
        out[at:at + len(ev)] += ev[: n - at]
    return out


def _chirp(rng, sr: int) -> np.ndarray:
    ln = int(rng.uniform(0.08, 0.2) * sr)
    t = np.arange(ln) / sr
    f0 = rng.uniform(2500, 4500)
    f = f0 + rng.uniform(-1500, 1500) * t / t[-1]
    return (np.sin(2 * np.pi * np.cumsum(f) / sr) * np.hanning(ln) * 0.15).astype(np.float32)


def bed(kind: str, n: int, *, seed: int = 0, sr: int = SAMPLE_RATE) -> np.ndarray:
    """A stereo (n, 2) bed of one kind at its nominal level (about -30..-40 dBFS RMS)."""
    rng = np.random.default_rng(seed)
    chans = []
    for _ in range(2):  # decorrelated left/right
        if kind == "room_tone":
            x = _band(_pink(n, rng), None, 400, sr) * 0.05
        elif kind == "hum":
            t = np.arange(n) / sr
            x = (0.01 * np.sin(2 * np.pi * 50 * t) + 0.004 * np.sin(2 * np.pi * 100 * t)
                 ).astype(np.float32) + _band(_pink(n, rng), None, 300, sr) * 0.02
        elif kind == "wind":
            x = _band(rng.standard_normal(n, dtype=np.float32), 150, 1200, sr)
            x *= (0.2 + 0.8 * _slow(n, rng, 0.3, sr)) * 0.2
        elif kind == "sea":
            t = np.arange(n) / sr
            swell = (0.5 + 0.5 * np.sin(2 * np.pi * t / 7.0 + rng.uniform(0, 6))) ** 2
            x = (_band(_brown(n, rng), None, 700, sr) * 1.2 +
                 _band(_pink(n, rng), 800, 6000, sr) * 0.05 * swell) * (0.3 + 0.7 * swell)
            x = x.astype(np.float32) * 0.5
        elif kind in ("rain", "storm"):
            x = _band(rng.standard_normal(n, dtype=np.float32), 900, None, sr) * 0.015
            x += _events(n, rng, sr, 40, lambda r: (r.standard_normal(int(0.004 * sr))
                                                     * 0.05).astype(np.float32))
            if kind == "storm":
                x += _band(_brown(n, rng), None, 120, sr) * (_slow(n, rng, 0.1, sr) ** 4) * 3
                x += _band(rng.standard_normal(n, dtype=np.float32), 150, 1000, sr) * 0.06
        elif kind in ("city", "traffic"):
            x = _band(_brown(n, rng), None, 300, sr) * 0.3
            x += _band(_pink(n, rng), 300, 3000, sr) * 0.015
            if kind == "traffic":
                x *= 0.4 + 0.6 * _slow(n, rng, 0.25, sr)
        elif kind == "crowd":
            x = np.zeros(n, np.float32)
            for _v in range(6):
                voice = _band(rng.standard_normal(n, dtype=np.float32), 300, 2500, sr)
                x += voice * _slow(n, rng, 4.0, sr) ** 2 * 0.06
        elif kind in ("forest", "birds"):
            x = _band(_pink(n, rng), None, 1500, sr) * (0.02 if kind == "forest" else 0.005)
            x += _events(n, rng, sr, 0.7, lambda r: _chirp(r, sr))
        elif kind == "fire":
            x = _band(_pink(n, rng), None, 500, sr) * 0.05
            x += _events(n, rng, sr, 6, lambda r: (r.standard_normal(int(0.003 * sr))
                                                    * r.uniform(0.02, 0.1)).astype(np.float32))
        else:
            raise StudioError(f"unknown ambience {kind!r}", hint=f"use one of {KINDS}")
        chans.append(np.asarray(x, np.float32))
    return np.stack(chans, axis=1)


LOOP_S = 16.0


_LOOPS: dict[tuple[str, int, int], np.ndarray] = {}


def looped_bed(kind: str, n: int, *, seed: int = 0, sr: int = SAMPLE_RATE,
               start: int = 0) -> np.ndarray:
    """A bed of any length, from a seamless LOOP_S loop (1 s crossfade at the seam), as
    ambience libraries loop their recordings; ``start`` is the position in the loop, so
    a scene that comes back continues its bed. Loops are cached per kind and seed."""
    loop = int(LOOP_S * sr)
    xf = int(1.0 * sr)
    key = (kind, seed, sr)
    if n <= loop // 2 and key not in _LOOPS:  # short and not looped yet: just synthesize
        return bed(kind, n, seed=seed + start, sr=sr)
    if key not in _LOOPS:
        src = bed(kind, loop + xf, seed=seed, sr=sr)
        fade_in = (np.sin(np.linspace(0, np.pi / 2, xf)) ** 2).astype(np.float32)[:, None]
        cycle = src[:loop].copy()
        cycle[:xf] = src[:xf] * fade_in + src[loop:loop + xf] * (1 - fade_in)
        if len(_LOOPS) > 32:
            _LOOPS.clear()
        _LOOPS[key] = cycle
    cycle = _LOOPS[key]
    start %= loop
    reps = -(-(n + start) // loop)
    return np.tile(cycle, (reps, 1))[start:start + n]


def render_ambience(runs: list[tuple[Scene, float, float]], total_s: float, *,
                    crossfade_s: float = 0.5, seed: int = 0, sr: int = SAMPLE_RATE,
                    files: dict[str, str] | None = None) -> np.ndarray:
    """runs: (scene, start_s, end_s) of consecutive same-scene shots -> stereo layer."""
    n = int(round(total_s * sr))
    out = np.zeros((n, 2), np.float32)
    x = int(crossfade_s * sr)
    for i, (scene, start, end) in enumerate(runs):
        a = max(0, int(round(start * sr)) - (x // 2 if i else 0))
        b = min(n, int(round(end * sr)) + (x // 2 if i + 1 < len(runs) else 0))
        if b <= a:
            continue
        seg = np.zeros((b - a, 2), np.float32)
        for k, (kind, gain) in enumerate(scene_beds(scene, file=(files or {}).get(scene.id))):
            seg += looped_bed(kind, b - a, seed=seed * 1000 + k, sr=sr, start=a) * gain
        env = np.ones(b - a, np.float32)
        if i and x:
            k = min(x, len(env))
            env[:k] = np.sin(np.linspace(0, np.pi / 2, k)) ** 2
        if i + 1 < len(runs) and x:
            k = min(x, len(env))
            env[-k:] *= np.cos(np.linspace(0, np.pi / 2, k)) ** 2
        out[a:b] += seg * env[:, None]
    return out


#: Level of the room tone under a card (RMS, dBFS): the scene's air, well under dialogue.
CARD_TONE_DBFS = -50.0
CARD_TONE_FADE_S = 0.08


def card_tone(scene: Scene | None, n: int, *, seed: int = 0, sr: int = SAMPLE_RATE,
              channels: int = 2, level_db: float = CARD_TONE_DBFS) -> np.ndarray:
    """(n, channels) of low-level ambience for a card: the adjacent scene's beds (room tone
    when there is no scene) at ``level_db`` RMS, faded in and out, so a card is never
    digital silence."""
    beds = scene_beds(scene) if scene is not None else [("room_tone", 1.0)]
    x = np.zeros((n, 2), np.float32)
    for k, (kind, gain) in enumerate(beds):
        x += looped_bed(kind, n, seed=seed * 1000 + k, sr=sr) * gain
    rms = float(np.sqrt(np.mean(x ** 2))) if n else 0.0
    if rms > 0:
        x *= np.float32(10 ** (level_db / 20) / rms)
    f = min(n // 2, int(CARD_TONE_FADE_S * sr))
    if f:
        ramp = np.sin(np.linspace(0, np.pi / 2, f, dtype=np.float32)) ** 2
        x[:f] *= ramp[:, None]
        x[n - f:] *= ramp[::-1, None]
    if channels == 1:
        return x.mean(1, keepdims=True)
    return x if channels == 2 else np.repeat(x.mean(1, keepdims=True), channels, 1)


def card_spans(timeline, scenes: dict[str, Scene]) -> list[tuple[float, float, Scene | None]]:
    """(start_s, end_s, adjacent scene) of every card of a ``Timeline``: the scene of the
    shot before it, else of the shot after it."""
    items = timeline.items
    out = []
    for i, it in enumerate(items):
        if it.kind.value == "shot":
            continue
        near = [x for x in reversed(items[:i]) if x.kind.value == "shot"] + \
            [x for x in items[i + 1:] if x.kind.value == "shot"]
        scene = next((scenes.get(x.scene) for x in near if x.scene in scenes), None)
        out.append((timeline.seconds(it.record_start), timeline.seconds(it.record_end), scene))
    return out


def card_fill(timeline, scenes: dict[str, Scene], *, seed: int = 0):
    """A ``gap_fill`` for :func:`studio_kit.pipeline.conform.conform`: room tone of the
    adjacent scene in the gaps the cards leave, and the data it depends on (for cache
    keys)."""
    spans = card_spans(timeline, scenes)

    def fill(a_s: float, b_s: float, n: int, channels: int, sr: int) -> np.ndarray | None:
        mid = 0.5 * (a_s + b_s)
        for start, end, scene in spans:
            if start - 1e-6 <= mid <= end + 1e-6:
                return card_tone(scene, n, seed=seed, sr=sr, channels=channels)
        return None

    key = [(round(a, 4), round(b, 4), s.model_dump(mode="json") if s else None)
           for a, b, s in spans]
    return fill, key
