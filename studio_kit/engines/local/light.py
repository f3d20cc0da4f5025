"""Light colour and level: Kelvin -> RGB white balance, time of day, atmosphere colours."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...colorimetry import planckian_rgb
from ...models import AtmosphereKind, TimeOfDay, hex_to_rgb

#: How far the virtual camera's white balance lets a light's colour through: 1 = the
#: camera is fixed at D65 (a 3200 K lamp renders deep orange), 0 = perfect adaptation
#: (every temperature renders neutral). 0.5 looks like a camera balanced for daylight
#: with some auto white balance.
WB_STRENGTH = 0.5


@lru_cache(maxsize=512)
def kelvin_gains(kelvin: int) -> tuple[float, float, float]:
    """RGB multipliers for a light of colour temperature ``kelvin`` seen by a D65 camera.

    Planckian colour (``studio_kit.colorimetry.planckian_rgb``: Kang et al. 2002 through
    colour-science, linear sRGB) divided by the same for 6500 K so daylight is neutral,
    normalised to unit luminance (so temperature changes hue, not exposure).
    """
    g = np.clip(np.asarray(planckian_rgb(kelvin)) / np.asarray(planckian_rgb(6500)), 0.02, None)
    g = g ** WB_STRENGTH
    g = g / (0.2126 * g[0] + 0.7152 * g[1] + 0.0722 * g[2])
    return float(g[0]), float(g[1]), float(g[2])


def rgbf(hex_colour: str) -> np.ndarray:
    """'#rrggbb' -> float32 RGB in 0..1."""
    return np.asarray(hex_to_rgb(hex_colour), dtype=np.float32) / 255.0


# (sky top, sky at the horizon, light level) per time of day.
_SKY: dict[TimeOfDay, tuple[str, str, float]] = {
    TimeOfDay.dawn: ("#3a4a7a", "#f0a878", 0.72),
    TimeOfDay.morning: ("#6fa0d8", "#cfe2f0", 0.92),
    TimeOfDay.day: ("#4a86d0", "#bcd8f0", 1.0),
    TimeOfDay.afternoon: ("#5a8ed0", "#e8d8b0", 0.95),
    TimeOfDay.dusk: ("#2e3a66", "#f08850", 0.66),
    TimeOfDay.evening: ("#1c2448", "#6a4a70", 0.5),
    TimeOfDay.night: ("#05070f", "#1a2238", 0.32),
}


def sky_colours(tod: TimeOfDay) -> tuple[np.ndarray, np.ndarray]:
    top, horizon, _ = _SKY[tod]
    return rgbf(top), rgbf(horizon)


#: Interior light level per time of day: practicals light a room at night, so it never
#: falls as low as the night outside, but it is clearly darker than daylight through windows.
_INTERIOR_LEVEL: dict[TimeOfDay, float] = {
    TimeOfDay.dawn: 0.8, TimeOfDay.morning: 0.95, TimeOfDay.day: 1.0,
    TimeOfDay.afternoon: 0.97, TimeOfDay.dusk: 0.78, TimeOfDay.evening: 0.66,
    TimeOfDay.night: 0.55,
}

#: The grade of each time of day (RGB multipliers at unit luminance): night is the blue of
#: day-for-night, dusk and dawn are warm, day is neutral. Applied with the white balance.
_TINT: dict[TimeOfDay, tuple[float, float, float]] = {
    TimeOfDay.dawn: (1.06, 0.99, 0.95), TimeOfDay.morning: (1.0, 1.0, 1.0),
    TimeOfDay.day: (1.0, 1.0, 1.0), TimeOfDay.afternoon: (1.03, 1.0, 0.96),
    TimeOfDay.dusk: (1.1, 0.98, 0.88), TimeOfDay.evening: (0.92, 0.98, 1.16),
    TimeOfDay.night: (0.78, 0.97, 1.45),
}


def light_level(tod: TimeOfDay, interior: bool) -> float:
    """Exposure of a set at a time of day (1 = daylight)."""
    return _INTERIOR_LEVEL[tod] if interior else _SKY[tod][2]


def tod_tint(tod: TimeOfDay) -> np.ndarray:
    """RGB multipliers (unit luminance) for the time of day's grade."""
    g = np.asarray(_TINT[tod], dtype=np.float64)
    g = g / (0.2126 * g[0] + 0.7152 * g[1] + 0.0722 * g[2])
    return g.astype(np.float32)


def atmosphere_colour(kind: AtmosphereKind, tod: TimeOfDay, level: float) -> np.ndarray:
    _, horizon = sky_colours(tod)
    base = {
        AtmosphereKind.clear: np.array([0.8, 0.82, 0.85]),
        AtmosphereKind.haze: np.array([0.82, 0.82, 0.84]),
        AtmosphereKind.fog: np.array([0.78, 0.8, 0.82]),
        AtmosphereKind.rain: np.array([0.55, 0.58, 0.62]),
        AtmosphereKind.snow: np.array([0.88, 0.9, 0.94]),
        AtmosphereKind.smoke: np.array([0.5, 0.49, 0.47]),
        AtmosphereKind.dust: np.array([0.76, 0.64, 0.46]),
    }[kind]
    col = 0.7 * base + 0.3 * horizon
    return (col * (0.35 + 0.65 * level)).astype(np.float32)


def fog_per_metre(kind: AtmosphereKind, density: float) -> float:
    """Extinction coefficient: the fraction of contrast lost grows as 1 - exp(-k d)."""
    scale = {
        AtmosphereKind.clear: 0.0, AtmosphereKind.haze: 0.09, AtmosphereKind.fog: 0.3,
        AtmosphereKind.rain: 0.06, AtmosphereKind.snow: 0.07, AtmosphereKind.smoke: 0.08,
        AtmosphereKind.dust: 0.07,
    }[kind]
    return scale * density
