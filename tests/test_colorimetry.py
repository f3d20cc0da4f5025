"""One colorimetry module (colour-science) for prompts, QC and the local engine."""

from __future__ import annotations

import numpy as np

from studio_kit import colorimetry
from studio_kit.engines.local.light import kelvin_gains
from studio_kit.prompts.colours import colour_word, skin_word
from studio_kit.qc.continuity import blue_red_per_mired


def test_lab_and_ciede2000() -> None:
    lab = colorimetry.srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], np.uint8))
    assert np.allclose(lab[0], [100, 0, 0], atol=0.01) and np.allclose(lab[1], 0, atol=1e-6)
    assert np.allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)  # sRGB red, D65
    # Sharma et al. (2005) CIEDE2000 test data, pair 1
    d = colorimetry.delta_e([50.0, 2.6772, -79.7751], [50.0, 0.0, -82.7485])
    assert abs(float(d) - 2.0425) < 1e-4


def test_colour_words_are_nearest_in_ciede2000() -> None:
    assert colour_word("#8C2F1B") == "auburn" and colour_word("#1f3a60") == "navy"
    assert skin_word("#f0c6a9") == "fair"


def test_planckian_light() -> None:
    warm, day, cold = (np.array(colorimetry.planckian_rgb(k)) for k in (3200, 6500, 12000))
    assert warm[0] / warm[2] > day[0] / day[2] > cold[0] / cold[2]
    # outside Kang 2002's range the temperature is clipped
    assert colorimetry.planckian_rgb(1000) == colorimetry.planckian_rgb(1667)
    assert colorimetry.planckian_rgb(40000) == colorimetry.planckian_rgb(25000)


def test_engine_white_balance_and_qc_read_the_same_locus() -> None:
    assert np.allclose(kelvin_gains(6500), 1.0, atol=1e-9)  # daylight is neutral
    r, g, b = kelvin_gains(3200)
    assert r > g > b
    # the continuity scorer's slope is the locus' own d log(B/R) / d mired
    k = 4000.0
    m = 1e6 / k
    lo, hi = colorimetry.planckian_rgb(1e6 / (m - 5)), colorimetry.planckian_rgb(1e6 / (m + 5))
    slope = abs(np.log(lo[2] / lo[0]) - np.log(hi[2] / hi[0])) / 10.0
    assert blue_red_per_mired(k) == slope > 0
