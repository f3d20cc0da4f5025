"""Every configured secret, and ``redact`` to take them out of text before it is stored or shown.

Secrets come from the environment only. ``secret_values`` lists the values of

- the engines' key variables (``key_env`` of every HTTP adapter, ElevenLabs' key);
- ``STUDIO_*`` variables whose name says they are secret (``TOKEN``, ``KEY``, ``SECRET``,
  ``PASSWORD``, ``CREDENTIAL``), e.g. ``STUDIO_TOKEN``, ``STUDIO_VLM_API_KEY``;
- any variable whose name ends in ``_KEY``, ``_TOKEN``, ``_SECRET`` (or ``_PASSWORD``)
  with a value of 8 characters or more.

``redact(text)`` replaces each of them (and its URL-encoded form) with ``[redacted]``, and
any ``Bearer <token>`` and the password of a URL's user info (``https://user:pw@host``)
too. Every adapter error message goes through it (``AdapterError``),
so does the CLI's error printer; the ledger, render.json and log writers call it on the
error text they keep.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
#: variables known to hold keys (whatever their value's length, from 6 characters)
KNOWN_KEY_ENVS = ("RUNWAYML_API_SECRET", "RUNWAY_API_KEY", "LUMAAI_API_KEY", "FAL_KEY",
                  "REPLICATE_API_TOKEN", "COMFYUI_API_KEY", "ELEVENLABS_API_KEY",
                  "STUDIO_TOKEN", "STUDIO_LLM_API_KEY", "STUDIO_VLM_API_KEY")
_SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
_STUDIO_SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "CREDENTIAL")
_MIN_KNOWN = 6
_MIN_PATTERN = 8
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}")
#: a password in a URL's user info (``scheme://user:password@host``)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^/\s@]+@")


def _adapter_key_envs() -> set[str]:
    """key_env of every HTTP adapter class already imported (no import is triggered)."""
    mod = sys.modules.get("studio_kit.engines.adapters.http")
    if mod is None:
        return set()
    out: set[str] = set()
    todo = [mod.HttpJobClient]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        env = cls.key_env  # declared on HttpJobClient
        if isinstance(env, str) and env:
            out.add(env)
    return out


def secret_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of the environment variables that hold a secret now."""
    env = os.environ if environ is None else environ
    known = set(KNOWN_KEY_ENVS) | _adapter_key_envs()
    names = []
    for name, value in env.items():
        value = value.strip()
        upper = name.upper()
        if name in known:
            ok = len(value) >= _MIN_KNOWN
        elif upper.startswith("STUDIO_") and any(w in upper for w in _STUDIO_SECRET_WORDS):
            ok = len(value) >= _MIN_KNOWN
        else:
            ok = upper.endswith(_SECRET_SUFFIXES) and len(value) >= _MIN_PATTERN
        if ok:
            names.append(name)
    return sorted(names)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every configured secret's value, longest first (so a key containing another goes
    whole)."""
    env = os.environ if environ is None else environ
    values = {env[n].strip() for n in secret_names(env)}
    return sorted(values, key=lambda v: (-len(v), v))


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every configured secret (and a bearer token) replaced by [redacted]."""
    if not text:
        return text
    out = str(text)
    for value in secret_values(environ):
        for form in {value, quote(value, safe=""), quote_plus(value, safe="")}:
            if form in out:
                out = out.replace(form, REDACTED)
    out = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{REDACTED}@", out)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", out)


__all__ = ["REDACTED", "redact", "secret_names", "secret_values"]
