"""Opening and end credits, generated from what the episodes were made of: series.yaml,
the characters and their voices, and the engines each shot was made with (render.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..project import Project

if TYPE_CHECKING:
    from .assemble import EpisodeSource
    from .model import Feature


class Credits(BaseModel):
    title: str
    series: list[str] = Field(default_factory=list)
    characters: dict[str, str] = Field(default_factory=dict, description="name -> voice")
    engines: list[str] = Field(default_factory=list)

    def text(self) -> str:
        lines = [self.title, "", "From " + ", ".join(self.series), ""]
        lines += [f"{name}  voice: {voice}" for name, voice in self.characters.items()]
        lines += ["", "Pictures: " + ", ".join(self.engines)]
        return "\n".join(lines)


def build_credits(feature: Feature, sources: list[EpisodeSource]) -> Credits:
    series: list[str] = []
    chars: dict[str, str] = {}
    engines: set[str] = set()
    projects: dict[str, Project] = {}
    for s in sources:
        proj = projects.get(s.series_dir)
        if proj is None:
            proj = projects[s.series_dir] = Project.load(s.series_dir, check_references=False)
            if proj.series.title not in series:
                series.append(proj.series.title)
        rec = json.loads(Path(s.render_json).read_text())
        for shot in rec.get("shots", []):
            if shot.get("engine"):
                engines.add(shot["engine"])
        sb = proj.storyboard(s.episode)
        used = {ln.character for shot in sb.shots for ln in getattr(shot, "dialogue", [])}
        used |= {m.character for shot in sb.shots for m in getattr(shot, "cast", [])
                 if getattr(m, "character", None)}
        for cid in sorted(used):
            ch = proj.characters.get(cid)
            if ch is not None:
                v = ch.voice
                chars[ch.name] = f"{v.engine} {v.voice or v.gender or 'default'}".strip()
    return Credits(title=feature.title, series=series, characters=chars,
                   engines=sorted(engines))
