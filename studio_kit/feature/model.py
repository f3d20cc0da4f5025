"""``features/<id>.yaml``: what a feature is made of (pydantic model, JSON Schema)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import Problem, StudioError
from ..models.series import LoudnessTarget
from ..store.yamlio import load_yaml


class FeatureFormat(StrEnum):
    short = "short"
    standard = "standard"
    full = "full"
    anthology = "anthology"


#: allowed running time (seconds) per format: data, not code
RUNNING_TIME_S: dict[FeatureFormat, tuple[float, float]] = {
    FeatureFormat.short: (20 * 60, 40 * 60),
    FeatureFormat.standard: (50 * 60, 75 * 60),
    FeatureFormat.full: (90 * 60, 120 * 60),
    FeatureFormat.anthology: (0.0, 150 * 60),
}


class Drop(StrEnum):
    recap = "recap"
    cold_open = "cold_open"
    end_hook = "end_hook"


class Source(BaseModel):
    """One episode (or some of its shots) drawn from a series folder."""

    model_config = ConfigDict(extra="forbid")
    series: str = Field(..., description="Series folder, relative to the feature file's project.")
    episode: str = Field(..., description="Episode number, e.g. 01.")
    render: str | None = Field(None, description="Its render output folder (default <series>/out).")
    act: int = Field(1, ge=1, description="Feature act this episode belongs to.")
    mood: str | None = Field(None, description="Mood of the music for this part of the arc.")
    drop: list[Drop] = Field(default_factory=list, description="What to leave out.")


class Card(BaseModel):
    """Bridging content: an interstitial or chapter card placed before a source."""

    model_config = ConfigDict(extra="forbid")
    before: int = Field(..., ge=0, description="Index of the source the card precedes.")
    text: str
    seconds: float = Field(3.0, gt=0, le=30)


class Feature(BaseModel):
    """A feature film built from rendered episodes."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str
    format: FeatureFormat = FeatureFormat.short
    sources: list[Source] = Field(..., min_length=1)
    cards: list[Card] = Field(default_factory=list)
    recaps: bool = False
    allow_short: bool = Field(False, description=(
        "Accept a running time under the format's minimum (tests, drafts)."))
    unify_grade: bool = Field(False, description=(
        "Match episodes from other series to the first source's look (Reinhard transfer "
        "per episode + the feature LUT, written as <out>.look.cube); those episodes are "
        "re-encoded once, the first series' episodes stay stream copies."))
    loudness: LoudnessTarget = Field(default_factory=LoudnessTarget)
    languages: list[str] = Field(default_factory=lambda: ["en"])


def load_feature(path: str | Path) -> Feature:
    """Read and validate a feature file; every mistake is a StudioError with file and line."""
    path = Path(path)
    if not path.is_file():
        raise StudioError("no such feature file", file=path,
                          hint="create features/<id>.yaml (see docs/feature_bay.md)")
    data, lines = load_yaml(path)
    try:
        return Feature.model_validate(data or {})
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = tuple(e["loc"])
            problems.append(Problem(str(path), e["msg"], lines.get(loc) if lines else None,
                                    ".".join(str(p) for p in loc),
                                    "see docs/feature_bay.md for the fields"))
        raise StudioError(problems[0].message, problems=problems) from None


def check_running_time(feature: Feature, seconds: float, *, file: str | None = None) -> None:
    lo, hi = RUNNING_TIME_S[feature.format]
    if seconds > hi:
        raise StudioError(
            f"the feature runs {seconds / 60:.1f} min; a {feature.format.value} allows at most "
            f"{hi / 60:.0f} min", file=file, field="format",
            hint="drop episodes or choose a longer format")
    if seconds < lo and not feature.allow_short:
        raise StudioError(
            f"the feature runs {seconds / 60:.1f} min; a {feature.format.value} needs at least "
            f"{lo / 60:.0f} min", file=file, field="format",
            hint="add episodes, choose a shorter format or set allow_short: true")
