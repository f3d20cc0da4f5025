"""Colorimetry shared by the prompt compiler, the QC scorers and the local engine.

One implementation, through colour-science: sRGB -> CIELAB (D65), CIEDE2000 colour
difference, and the Planckian locus (a light's colour temperature -> linear sRGB).
colour-science is imported lazily because it takes about 1.5 s to import.
"""

from __future__ import annotations

import warnings
from functools import cache, lru_cache
from types import ModuleType

import numpy as np

#: the range of colour-science's Kang et al. (2002) Planckian approximation
PLANCKIAN_RANGE_K = (1667.0, 25000.0)


@cache
def colour_science() -> ModuleType:
    """The ``colour`` module (imported on first use; its import warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Matplotlib related API features are not available"
        import colour
    return colour


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 (or 0..255 float) sRGB (..., 3) -> CIELAB (D65)."""
    c = colour_science()
    arr = np.asarray(rgb, dtype=np.float64) / 255.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return c.XYZ_to_Lab(c.sRGB_to_XYZ(arr))


def delta_e(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (broadcasting)."""
    c = colour_science()
    a, b = np.broadcast_arrays(np.asarray(lab1, float), np.asarray(lab2, float))
    return c.delta_E(a, b, method="CIE 2000")


@lru_cache(maxsize=1024)
def planckian_rgb(kelvin: float) -> tuple[float, float, float]:
    """Linear sRGB of a Planckian (black-body) light of ``kelvin``, not normalised.

    Chromaticity from Kang et al. (2002) (colour-science), ``kelvin`` clipped to its valid
    range (``PLANCKIAN_RANGE_K``), then xy -> XYZ (Y = 1) -> linear sRGB (no transfer curve).
    """
    c = colour_science()
    lo, hi = PLANCKIAN_RANGE_K
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xy = c.temperature.CCT_to_xy(float(max(lo, min(hi, kelvin))), method="Kang 2002")
        rgb = np.asarray(c.XYZ_to_sRGB(c.xy_to_XYZ(xy), apply_cctf_encoding=False),
                         dtype=float)
    return float(rgb[0]), float(rgb[1]), float(rgb[2])
