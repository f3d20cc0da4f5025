"""TTS engines. Each module registers its engine in ``studio_kit.registry.TTS``."""

from __future__ import annotations

from . import base, elevenlabs, espeak  # noqa: F401  (registration on import)
from .base import Speech, TTSEngine, TTSError, VoiceInfo, clean_text, get_tts

__all__ = ["Speech", "TTSEngine", "TTSError", "VoiceInfo", "clean_text", "get_tts"]
