"""Where an OpenAI-compatible server takes chat completions, from a configured base URL.

Both conventions are common in settings (``http://host:8000`` and, as the OpenAI clients
write it, ``http://host:8000/v1``); the VLM scorer and the Project Builder's LLM accept
either, so one setting works for both.
"""

from __future__ import annotations


def chat_completions_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")
