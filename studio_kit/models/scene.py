"""scenes/<id>.yaml: reusable scene definitions (scene workshop)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_validator

from .common import SCHEMA_VERSION, Colour, Identifier, StudioModel


class KeyLight(StrEnum):
    """The 8 key-light positions, seen from the camera."""

    front = "front"
    front_right = "front_right"
    right = "right"
    back_right = "back_right"
    back = "back"
    back_left = "back_left"
    left = "left"
    front_left = "front_left"

    @property
    def azimuth_deg(self) -> float:
        """0 = from the camera, 90 = from frame right, 180 = from behind, 270 = frame left."""
        order = list(KeyLight)
        return order.index(self) * 45.0


class TimeOfDay(StrEnum):
    dawn = "dawn"
    morning = "morning"
    day = "day"
    afternoon = "afternoon"
    dusk = "dusk"
    evening = "evening"
    night = "night"


class AtmosphereKind(StrEnum):
    clear = "clear"
    haze = "haze"
    fog = "fog"
    rain = "rain"
    snow = "snow"
    smoke = "smoke"
    dust = "dust"


class Atmosphere(StudioModel):
    kind: AtmosphereKind = AtmosphereKind.clear
    density: float = Field(0.0, ge=0, le=1)


class Lighting(StudioModel):
    key: KeyLight = KeyLight.front_left
    fill_ratio: float = Field(4.0, ge=1, le=32, description="key:fill, e.g. 4 for 4:1")
    colour_temperature_k: int = Field(5600, ge=1500, le=12000)

    @field_validator("fill_ratio", mode="before")
    @classmethod
    def _ratio_text(cls, v: object) -> object:
        if isinstance(v, str) and ":" in v:
            key, fill = v.split(":", 1)
            try:
                return float(key) / float(fill)
            except (ValueError, ZeroDivisionError):
                raise ValueError(f"fill ratio {v!r} must look like '4:1'") from None
        return v


class MarkKind(StrEnum):
    prop = "prop"
    person = "person"


class SetMark(StudioModel):
    """A named position on the set: where a prop stands or where a person stands."""

    name: Identifier
    kind: MarkKind = MarkKind.prop
    prop: str | None = Field(
        default=None, description="What the prop is: table, chair, window, door, lamp, ..."
    )
    x: float = Field(0.5, ge=0, le=1, description="0 = set left, 1 = set right")
    depth: float = Field(0.5, ge=0, le=1, description="0 = at the camera, 1 = back wall")
    size: float = Field(1.0, gt=0, le=4)
    colour: Colour | None = None


class Scene(StudioModel):
    schema_version: int = SCHEMA_VERSION
    id: Identifier
    name: str = Field(min_length=1, description="The location as the script names it.")
    interior: bool = True
    description: str = ""
    set_layout: list[SetMark] = Field(default_factory=list)
    palette: list[Colour] = Field(
        default_factory=lambda: ["#8a7f72", "#4b4036"], description="wall/sky, floor/ground"
    )
    lighting: Lighting = Field(default_factory=Lighting)
    time_of_day: TimeOfDay = TimeOfDay.day
    atmosphere: Atmosphere = Field(default_factory=Atmosphere)
    ambience: list[str] = Field(
        default_factory=lambda: ["room_tone"],
        description="room_tone, city, rain, wind, sea, forest, traffic, crowd, ...",
    )
    reference_frame: str | None = Field(
        default=None, description="Locked continuity frame (vault hash or project path)."
    )

    def mark(self, name: str) -> SetMark | None:
        return next((m for m in self.set_layout if m.name == name), None)
