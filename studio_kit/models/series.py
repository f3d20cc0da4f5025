"""series.yaml: what the whole series is and how it is delivered."""

from __future__ import annotations

from enum import StrEnum
from fractions import Fraction

from pydantic import Field, field_validator, model_validator

from .common import SCHEMA_VERSION, LanguageCode, StudioModel


class Tier(StrEnum):
    draft = "draft"
    standard = "standard"
    premium = "premium"


class LoudnessPreset(StrEnum):
    """Delivery loudness standards (integrated loudness, true-peak ceiling)."""

    streaming = "streaming"  # -14 LUFS, -1 dBTP
    ebu_r128 = "ebu_r128"  # -23 LUFS, -1 dBTP
    atsc_a85 = "atsc_a85"  # -24 LKFS, -2 dBTP

    @property
    def integrated_lufs(self) -> float:
        return {"streaming": -14.0, "ebu_r128": -23.0, "atsc_a85": -24.0}[self.value]

    @property
    def true_peak_dbtp(self) -> float:
        return {"streaming": -1.0, "ebu_r128": -1.0, "atsc_a85": -2.0}[self.value]


class LoudnessTarget(StudioModel):
    preset: LoudnessPreset = LoudnessPreset.streaming
    integrated_lufs: float | None = Field(
        default=None, ge=-40, le=-5, description="Overrides the preset's integrated loudness."
    )
    true_peak_dbtp: float | None = Field(default=None, ge=-9, le=0)

    @property
    def lufs(self) -> float:
        return self.integrated_lufs if self.integrated_lufs is not None else self.preset.integrated_lufs

    @property
    def peak(self) -> float:
        return self.true_peak_dbtp if self.true_peak_dbtp is not None else self.preset.true_peak_dbtp


_FPS = {"23.976": Fraction(24000, 1001), "24": Fraction(24), "25": Fraction(25),
        "29.97": Fraction(30000, 1001), "30": Fraction(30), "48": Fraction(48),
        "50": Fraction(50), "60": Fraction(60)}


class DeliveryFormat(StudioModel):
    width: int = Field(1280, ge=64, le=8192)
    height: int = Field(720, ge=64, le=8192)
    fps: float = 24
    aspect: str = "16:9"

    @field_validator("fps")
    @classmethod
    def _known_fps(cls, v: float) -> float:
        if f"{v:g}" not in _FPS:
            raise ValueError(f"fps {v:g} is not a delivery rate; use one of {', '.join(_FPS)}")
        return v

    @field_validator("width", "height")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"{v} is odd; H.264 delivery needs even dimensions (use {v + 1})")
        return v

    @model_validator(mode="after")
    def _aspect_matches(self) -> DeliveryFormat:
        try:
            a, b = (int(x) for x in self.aspect.split(":"))
        except ValueError:
            raise ValueError(f"aspect {self.aspect!r} must look like '16:9'") from None
        if abs(self.width / self.height - a / b) > 0.02:
            raise ValueError(
                f"{self.width}x{self.height} is not {self.aspect}; fix width/height or aspect"
            )
        return self

    @property
    def fps_fraction(self) -> Fraction:
        return _FPS[f"{self.fps:g}"]


class Budget(StudioModel):
    currency: str = "USD"
    total: float = Field(0.0, ge=0, description="Spend limit for the whole series.")
    per_episode: float | None = Field(default=None, ge=0)


class Series(StudioModel):
    schema_version: int = SCHEMA_VERSION
    title: str = Field(min_length=1)
    genre: str = "drama"
    logline: str | None = None
    tier: Tier = Tier.standard
    format: DeliveryFormat = Field(default_factory=DeliveryFormat)
    loudness: LoudnessTarget = Field(default_factory=LoudnessTarget)
    languages: list[LanguageCode] = Field(default_factory=lambda: ["en"], min_length=1)
    budget: Budget = Field(default_factory=Budget)
    default_engine: str = "local"
    look_lut: str | None = Field(default=None, description="Series look: a .cube LUT path.")
    credits: dict[str, list[str]] = Field(default_factory=dict, description=(
        "Credits of the people behind the series, role -> names (e.g. 'Written by': "
        "[...]); the feature's end credits carry them."))

    @property
    def primary_language(self) -> str:
        return self.languages[0]
