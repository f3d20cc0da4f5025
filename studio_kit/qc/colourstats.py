"""Colorimetry for the QC scorers through colour-science (sRGB -> CIELAB, CIEDE2000);
imported lazily because colour-science takes about 1.5 s to import."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np


@cache
def _colour():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    return colour


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 (or 0..255 float) sRGB (..., 3) -> CIELAB (D65)."""
    c = _colour()
    arr = np.asarray(rgb, dtype=np.float64) / 255.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return c.XYZ_to_Lab(c.sRGB_to_XYZ(arr))


def delta_e(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (broadcasting)."""
    c = _colour()
    a, b = np.broadcast_arrays(np.asarray(lab1, float), np.asarray(lab2, float))
    return c.delta_E(a, b, method="CIE 2000")
