"""The edit stage: grading, smart-render assembly, captions, masters, probing.

Modules: ``timeline`` (the edit as data), ``assemble`` (smart rendering), ``grade`` (colour
transfer + series look LUT), ``captions`` (SRT/WebVTT), ``mux`` (MP4 and ProRes masters),
``probe`` (PyAV probing), ``frames`` (ffmpeg frame pipes), ``cards`` (title/act/hook cards),
``synth`` (test clips). The canonical H.264 parameters every clip shares are in
``studio_kit.video_encoding``; the OpenTimelineIO exporter in ``studio_kit.exporters.otio``.
"""
