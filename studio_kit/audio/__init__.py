"""4-layer audio: dialogue (TTS), music, ambience, effects; timing, mix, master, lip-sync.

Entry point for the pipeline: :func:`studio_kit.audio.episode.build_episode_audio`.
Everything works offline on numpy/scipy; speech comes from a TTS engine registered in
``studio_kit.registry.TTS`` (``espeak`` embedded, ``elevenlabs`` cloud).
"""

from __future__ import annotations

SAMPLE_RATE = 48_000
"""Sample rate of every layer, stem and master (Hz)."""

__all__ = ["SAMPLE_RATE"]
