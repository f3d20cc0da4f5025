"""Stable content hashes: the key of every cached stage output and every paid request."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

#: a vault digest as a whole string: sha256 in lower-case hex (what ``stable_hash`` and
#: ``file_hash`` return, and the name of every vault object)
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
#: a digest inside text (JSON, YAML, a log): a whole word, not part of a longer hex run
DIGEST_IN_TEXT_RE = re.compile(r"\b[0-9a-f]{64}\b")


def is_digest(s: str) -> bool:
    """Whether ``s`` is a vault digest (64 lower-case hex characters, nothing else)."""
    return _DIGEST_RE.fullmatch(s) is not None


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot hash {type(obj).__name__}")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal inputs give equal text."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default,
                      ensure_ascii=False)


def stable_hash(*parts: Any) -> str:
    """sha256 hex of the canonical JSON of ``parts``."""
    return hashlib.sha256(canonical_json(list(parts)).encode("utf-8")).hexdigest()


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
