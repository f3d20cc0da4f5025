"""Colorimetry for the QC scorers (sRGB -> CIELAB, CIEDE2000).

The implementation is ``studio_kit.colorimetry`` (one copy, shared with the prompt compiler
and the local engine); these names stay here for the scorers that import them.
"""

from __future__ import annotations

from ..colorimetry import delta_e, srgb_to_lab

__all__ = ["delta_e", "srgb_to_lab"]
