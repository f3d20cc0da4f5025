"""Pydantic models for everything the studio keeps on disk (schema version SCHEMA_VERSION)."""

from .character import (
    Appearance,
    Character,
    Garment,
    GarmentKind,
    HairStyle,
    LoraRef,
    Outfit,
    VoiceAge,
    VoiceGender,
    VoiceProfile,
    Wardrobe,
)
from .common import SCHEMA_VERSION, StudioModel, hex_to_rgb
from .scene import (
    Atmosphere,
    AtmosphereKind,
    KeyLight,
    Lighting,
    MarkKind,
    Scene,
    SetMark,
    TimeOfDay,
)
from .series import Budget, DeliveryFormat, LoudnessPreset, LoudnessTarget, Series, Tier
from .storyboard import (
    Act,
    ActKind,
    Camera,
    CameraAngle,
    CameraMove,
    CastMember,
    DialogueLine,
    Direction,
    Movement,
    Shot,
    ShotGrade,
    ShotSource,
    Storyboard,
    Transition,
    TransitionKind,
)

__all__ = [
    "SCHEMA_VERSION", "StudioModel", "hex_to_rgb",
    "Appearance", "Character", "Garment", "GarmentKind", "HairStyle", "LoraRef", "Outfit",
    "VoiceAge", "VoiceGender", "VoiceProfile", "Wardrobe",
    "Atmosphere", "AtmosphereKind", "KeyLight", "Lighting", "MarkKind", "Scene", "SetMark",
    "TimeOfDay",
    "Budget", "DeliveryFormat", "LoudnessPreset", "LoudnessTarget", "Series", "Tier",
    "Act", "ActKind", "Camera", "CameraAngle", "CameraMove", "CastMember", "DialogueLine",
    "Direction", "Movement", "Shot", "ShotGrade", "ShotSource", "Storyboard", "Transition",
    "TransitionKind",
]
