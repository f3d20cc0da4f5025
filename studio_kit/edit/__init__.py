"""The edit stage: grading, smart-render assembly, captions, masters, probing.

Modules: ``encoding`` (the canonical H.264 parameters every clip shares), ``timeline``
(the edit as data), ``assemble`` (smart rendering), ``grade`` (colour transfer + series
look LUT), ``captions`` (SRT/WebVTT), ``mux`` (MP4 and ProRes masters), ``probe``
(PyAV probing), ``cards`` (title/act/hook cards), ``synth`` (test clips).
The OpenTimelineIO exporter lives in ``studio_kit.exporters.otio``.
"""

from ..video_encoding import H264_PARAMS, H264Params, fps_fraction, h264_args

__all__ = ["H264_PARAMS", "H264Params", "fps_fraction", "h264_args"]
