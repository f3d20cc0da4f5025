"""Opening and end credits, generated from what the episodes were made of.

* the ledger of each series (``.studio/ledger.sqlite``): the engines and models its render
  run called (``engine_calls``) and the characters whose lines its dialogue stages spoke
  (``stage_results`` -> the vault's stage record, its ``lines``);
* each render record (``render.json``): the engine and model of every shot kept, also when
  a shot came from the cache of an earlier run;
* the bible: the characters' names and the voice each spoke with (``cast_voices``: the
  effective engine voice, also when the bible leaves it to the casting);
* the scenes: the locations the shots were made in;
* series.yaml ``credits`` (role -> names), e.g. ``{Written by: [A. Author]}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..project.series_folder import Project

if TYPE_CHECKING:
    from ..models.feature import Feature
    from .assemble import EpisodeSource


class Credits(BaseModel):
    title: str
    series: list[str] = Field(default_factory=list)
    characters: dict[str, str] = Field(default_factory=dict, description="name -> voice")
    cast: list[str] = Field(default_factory=list, description=(
        "Every character seen or heard, speaking or not (bible names)."))
    voices: list[str] = Field(default_factory=list, description="'engine voice' used")
    engines: list[str] = Field(default_factory=list, description="Picture engines used.")
    models: list[str] = Field(default_factory=list, description="'engine/model' used.")
    locations: list[str] = Field(default_factory=list, description="Scene names.")
    roles: dict[str, list[str]] = Field(default_factory=dict, description=(
        "series.yaml credits: role -> names, merged across the series."))

    def text(self) -> str:
        lines = [self.title, "", "From " + ", ".join(self.series), ""]
        for role, names in self.roles.items():
            lines.append(f"{role}: " + ", ".join(names))
        if self.roles:
            lines.append("")
        lines += [f"{name}  voice: {voice}" for name, voice in self.characters.items()]
        silent = [c for c in self.cast if c not in self.characters]
        if silent:
            lines.append("With " + ", ".join(silent))
        if self.locations:
            lines += ["", "Locations: " + ", ".join(self.locations)]
        lines += ["", "Pictures: " + ", ".join(self.engines)]
        if self.models:
            lines.append("Models: " + ", ".join(self.models))
        if self.voices:
            lines.append("Voices: " + ", ".join(self.voices))
        return "\n".join(lines)


def _ledger_facts(proj: Project, run_id: int | None) -> tuple[set[str], set[str], set[str]]:
    """(engines, engine/model, speaking character ids) the ledger records for one run."""
    engines: set[str] = set()
    models: set[str] = set()
    speakers: set[str] = set()
    path = proj.root / ".studio" / "ledger.sqlite"
    if run_id is None or not path.is_file():
        return engines, models, speakers
    ledger = proj.ledger()
    try:
        for row in ledger.query("SELECT engine, model FROM engine_calls WHERE run_id = ? "
                                "AND status = 'succeeded'", (run_id,)):
            engines.add(row["engine"])
            if row["model"]:
                models.add(f"{row['engine']}/{row['model']}")
        keys = [r["key"] for r in ledger.query(
            "SELECT DISTINCT key FROM stage_results WHERE run_id = ? AND stage = 'dialogue'",
            (run_id,))]
    finally:
        ledger.close()
    if keys:
        from ..store.cache import Cache

        # reading what the run recorded (not reusing it): a force scope does not apply
        dialogue = Cache(proj.vault(), "dialogue")
        for key in keys:
            rec = dialogue.peek(key)
            for line in (rec.meta.get("lines", []) if rec else []):
                if line.get("character"):
                    speakers.add(line["character"])
    return engines, models, speakers


def build_credits(feature: Feature, sources: list[EpisodeSource]) -> Credits:
    from ..audio.dialogue import cast_voices

    series: list[str] = []
    chars: dict[str, str] = {}
    cast: list[str] = []
    voices: set[str] = set()
    engines: set[str] = set()
    models: set[str] = set()
    locations: list[str] = []
    roles: dict[str, list[str]] = {}
    projects: dict[str, Project] = {}
    for s in sources:
        proj = projects.get(s.series_dir)
        if proj is None:
            proj = projects[s.series_dir] = Project.load(s.series_dir, check_references=False)
            if proj.series.title not in series:
                series.append(proj.series.title)
            for role, names in (proj.series.credits or {}).items():
                have = roles.setdefault(role, [])
                have += [n for n in names if n not in have]
        rec = json.loads(Path(s.render_json).read_text())
        for shot in rec.get("shots", []):
            if shot.get("engine"):
                engines.add(shot["engine"])
                if shot.get("model"):
                    models.add(f"{shot['engine']}/{shot['model']}")
        led_engines, led_models, spoke = _ledger_facts(proj, rec.get("run_id"))
        engines |= led_engines
        models |= led_models
        sb = proj.storyboard(s.episode)
        spoke |= {ln.character for shot in sb.shots for ln in shot.dialogue}
        seen = [m.character for shot in sb.shots for m in shot.characters]
        for shot in sb.shots:
            scene = proj.scenes.get(shot.scene)
            name = (scene.name if scene is not None else None) or shot.scene
            if name not in locations:
                locations.append(name)
        voice_of = cast_voices(proj.characters)
        for cid in sorted(spoke):
            ch = proj.characters.get(cid)
            if ch is None:
                continue
            v = voice_of.get(cid, ch.voice)
            label = f"{v.engine} {v.voice or v.gender or 'default'}".strip()
            chars[ch.name] = label
            voices.add(label)
            if ch.name not in cast:
                cast.append(ch.name)
        for cid in seen:
            ch = proj.characters.get(cid)
            if ch is not None and ch.name not in cast:
                cast.append(ch.name)
    return Credits(title=feature.title, series=series, characters=chars, cast=cast,
                   voices=sorted(voices), engines=sorted(engines), models=sorted(models),
                   locations=locations, roles=roles)
