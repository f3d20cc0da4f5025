"""characters/<id>.yaml: the character bible (talent roster)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_serializer, model_validator

from .common import SCHEMA_VERSION, Colour, Identifier, LanguageCode, StudioModel


class HairStyle(StrEnum):
    short = "short"
    long = "long"
    bob = "bob"
    ponytail = "ponytail"
    curly = "curly"
    bun = "bun"
    bald = "bald"


class GarmentKind(StrEnum):
    hat = "hat"
    top = "top"
    jacket = "jacket"
    coat = "coat"
    dress = "dress"
    trousers = "trousers"
    skirt = "skirt"
    shoes = "shoes"
    scarf = "scarf"
    glasses = "glasses"
    accessory = "accessory"


class Garment(StudioModel):
    name: str = Field(min_length=1)
    kind: GarmentKind
    colours: list[Colour] = Field(min_length=1, description="Main colour first.")


class Outfit(StudioModel):
    description: str | None = None
    garments: list[Garment] = Field(min_length=1)


class Wardrobe(StudioModel):
    default: Identifier = "default"
    outfits: dict[Identifier, Outfit] = Field(min_length=1)
    per_episode: dict[str, Identifier] = Field(default_factory=dict)
    per_scene: dict[Identifier, Identifier] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_exist(self) -> Wardrobe:
        known = set(self.outfits)
        for where, ref in [("default", self.default), *self.per_episode.items(),
                           *self.per_scene.items()]:
            if ref not in known:
                raise ValueError(
                    f"outfit {ref!r} (used by {where!r}) is not defined; "
                    f"defined outfits: {sorted(known)}"
                )
        return self

    def outfit_id_for(self, episode: str | None = None, scene: str | None = None) -> str:
        """Scene overrides episode overrides default."""
        if scene and scene in self.per_scene:
            return self.per_scene[scene]
        if episode and episode in self.per_episode:
            return self.per_episode[episode]
        return self.default


class Appearance(StudioModel):
    skin: Colour = "#c68863"
    hair_colour: Colour = "#2b1d14"
    hair_style: HairStyle = HairStyle.short
    eye_colour: Colour = "#4a3420"
    height_cm: float = Field(172, ge=90, le=230)
    build: float = Field(1.0, ge=0.6, le=1.6, description="Width multiplier.")
    face_width: float = Field(1.0, ge=0.7, le=1.3)


class VoiceGender(StrEnum):
    female = "female"
    male = "male"
    neutral = "neutral"


class VoiceAge(StrEnum):
    child = "child"
    young = "young"
    adult = "adult"
    older = "older"


class VoiceProfile(StudioModel):
    engine: str = "espeak"
    voice: str | None = Field(
        default=None, description="Engine voice or variant (eSpeak variants: m1..m7, f1..f5)"
    )
    language: LanguageCode = "en"
    pitch: int = Field(50, ge=0, le=99)
    rate: int = Field(170, ge=80, le=450, description="Words per minute.")
    volume: int = Field(100, ge=0, le=200)
    gender: VoiceGender | None = Field(
        default=None, description="Who the voice is (from the script or bible); picks the "
        "engine voice when 'voice' is not set. Unset: each character gets its own voice.")
    age: VoiceAge | None = Field(
        default=None, description="child, young, adult or older: shifts the pitch and, for "
        "eSpeak, picks an older voice variant when 'voice' is not set.")

    @model_serializer(mode="wrap")
    def _omit_unset_who(self, handler):  # type: ignore[no-untyped-def]
        # left out when unset: bible hashes (what renders were keyed by) and saved files of
        # characters that do not use them stay as they were before the fields existed
        data = handler(self)
        if isinstance(data, dict):
            for k in ("gender", "age"):
                if data.get(k) is None:
                    data.pop(k, None)
        return data


class LoraRef(StudioModel):
    name: str
    uri: str = Field(description="Where the trained weights live (path or URL).")
    trigger: str = Field(description="Token that invokes the character in prompts.")
    strength: float = Field(0.8, ge=0, le=2)


class Character(StudioModel):
    schema_version: int = SCHEMA_VERSION
    id: Identifier
    name: str = Field(min_length=1)
    aliases: list[str] = Field(
        default_factory=list, description="Other names the script uses (upper-case cues)."
    )
    description: str = ""
    appearance: Appearance = Field(default_factory=Appearance)
    wardrobe: Wardrobe
    voice: VoiceProfile = Field(default_factory=VoiceProfile)
    traits: list[str] = Field(default_factory=list)
    reference_images: list[str] = Field(
        default_factory=list, description="Paths relative to the project folder."
    )
    lora: LoraRef | None = None

    def outfit_for(self, episode: str | None = None, scene: str | None = None) -> Outfit:
        return self.wardrobe.outfits[self.wardrobe.outfit_id_for(episode, scene)]
