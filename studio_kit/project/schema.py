"""JSON Schema for the on-disk files, exported for editors (YAML language server, IDEs).

The schemas are generated from the pydantic models, so they can never disagree with what
``studio validate`` accepts. ``schema/`` in the repository holds the exported copies; a test
checks they are current (``studio schema --out schema`` refreshes them).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from ..models import SCHEMA_VERSION, Character, Scene, Series, Storyboard
from ..models.feature import Feature
from ..store.yamlio import atomic_write_text

#: file kind -> (model, the project files it describes)
DOCUMENTS: dict[str, tuple[type[BaseModel], str]] = {
    "series": (Series, "series.yaml"),
    "character": (Character, "characters/*.yaml"),
    "scene": (Scene, "scenes/*.yaml"),
    "storyboard": (Storyboard, "episodes/*/storyboard.yaml"),
    "feature": (Feature, "features/*.yaml"),
}

SCHEMA_BASE_URL = "https://studio-kit.invalid/schema"


def json_schema(kind: str) -> dict:
    model, pattern = DOCUMENTS[kind]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"{SCHEMA_BASE_URL}/v{SCHEMA_VERSION}/{kind}.schema.json"
    schema["description"] = (schema.get("description") or "").strip() + \
        f"\n\nDescribes {pattern} (schema version {SCHEMA_VERSION})."
    return schema


def render(kind: str) -> str:
    return json.dumps(json_schema(kind), indent=2, sort_keys=True) + "\n"


def export(out_dir: str | Path) -> list[Path]:
    """Write ``<kind>.schema.json`` for every document kind; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in DOCUMENTS:
        path = out / f"{kind}.schema.json"
        atomic_write_text(path, render(kind))
        paths.append(path)
    return paths


def stale(out_dir: str | Path) -> list[str]:
    """Kinds whose exported schema in ``out_dir`` differs from the models."""
    out = Path(out_dir)
    return [k for k in DOCUMENTS
            if not (out / f"{k}.schema.json").is_file()
            or (out / f"{k}.schema.json").read_text() != render(k)]
