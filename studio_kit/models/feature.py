"""``features/<id>.yaml``: what a feature is made of (the pydantic model; reading and
checking a feature file is :mod:`studio_kit.feature.model`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .series import LoudnessTarget


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
