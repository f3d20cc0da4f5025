"""Platform specs (size, bitrate, duration, loudness, caption format) held as data in
``studio_kit/data/platforms.yaml`` and validated into pydantic models."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import StudioError

PLATFORMS_FILE = "platforms.yaml"


class PlatformSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    label: str
    width: int = Field(gt=0, multiple_of=2)
    height: int = Field(gt=0, multiple_of=2)
    max_bitrate_kbps: int = Field(gt=0)
    max_duration_s: float = Field(gt=0)
    loudness_lufs: float = Field(le=0)
    true_peak_dbtp: float = Field(-1.0, le=0)
    captions: Literal["srt", "vtt"]
    max_pan: float = Field(0.35, gt=0, description="Reframe pan speed bound, master widths/s.")

    @property
    def aspect(self) -> Fraction:
        return Fraction(self.width, self.height)

    @property
    def aspect_label(self) -> str:
        a = self.aspect
        return f"{a.numerator}:{a.denominator}"


class PlatformFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    platforms: dict[str, PlatformSpec]


def parse_platforms(text: str, source: str = PLATFORMS_FILE) -> dict[str, PlatformSpec]:
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe").load(text)
        parsed = PlatformFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise StudioError(f"invalid platform spec: {err['msg']}", file=source,
                          field=".".join(str(x) for x in err["loc"]),
                          hint="see docs/distribution.md for the fields") from None
    except Exception as exc:  # ruamel's YAML errors
        raise StudioError(f"cannot read the platform specs: {exc}", file=source,
                          hint="fix the YAML syntax") from None
    return {k: v.model_copy(update={"name": k}) for k, v in parsed.platforms.items()}


@lru_cache(maxsize=1)
def platforms() -> dict[str, PlatformSpec]:
    """Every platform spec, by name."""
    text = resources.files("studio_kit").joinpath("data", PLATFORMS_FILE).read_text("utf-8")
    return parse_platforms(text)


def platform(name: str) -> PlatformSpec:
    specs = platforms()
    if name not in specs:
        raise StudioError(f"unknown platform {name!r}", field="--platform",
                          hint=f"platforms: {', '.join(sorted(specs))}")
    return specs[name]
