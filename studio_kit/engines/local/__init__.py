"""The embedded default engine ("local"): a 2.5D layered renderer on the CPU.

See docs/engine.md for the contract (figure geometry, mouth drawing, drift, encoding).
"""

from .encode import LOCAL_H264, encode_args, encode_stream, gop_size
from .engine import LocalEngine, figure_regions, frame_at, render_frames, validate_request
from .light import kelvin_gains
from .preview import (
    PREVIEW_FORMAT,
    apply_overrides,
    preview_frame,
    preview_png,
    scene_preview_spec,
    spec_for_scene,
)
from .render import Renderer
from .scene import DRIFT_KINDS, REGION_KEYS, text_visemes
from .sheet import clip_frames, contact_sheet

__all__ = [
    "DRIFT_KINDS", "LOCAL_H264", "PREVIEW_FORMAT", "REGION_KEYS", "LocalEngine", "Renderer",
    "apply_overrides", "clip_frames", "contact_sheet", "encode_args", "encode_stream",
    "figure_regions", "frame_at", "gop_size", "kelvin_gains", "preview_frame", "preview_png",
    "render_frames", "scene_preview_spec", "spec_for_scene", "text_visemes",
    "validate_request",
]
