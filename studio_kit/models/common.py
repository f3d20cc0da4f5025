"""Shared field types and the base model for every file the studio keeps on disk."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from ..langtags import is_language_tag

#: Version of the on-disk schema. Bump it with a migration in ``studio_kit.project.series_folder``.
SCHEMA_VERSION = 1

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_HEX_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid id: use lower-case letters, digits, '-' or '_' "
            "(at most 64 characters, starting with a letter or digit)"
        )
    return value


def _check_colour(value: str) -> str:
    if not _HEX_RE.match(value):
        raise ValueError(f"{value!r} is not a colour: write it as '#rrggbb', e.g. '#1f4e79'")
    return value.lower()


def _check_language(value: str) -> str:
    if not is_language_tag(value):  # BCP 47 through langcodes (studio_kit/langtags.py)
        raise ValueError(
            f"{value!r} is not a language code: use an ISO 639 code such as 'en', 'fr', "
            "'pt-BR' or 'cmn'"
        )
    return value


Identifier = Annotated[str, AfterValidator(_check_id)]
Colour = Annotated[str, AfterValidator(_check_colour)]
LanguageCode = Annotated[str, AfterValidator(_check_language)]


class StudioModel(BaseModel):
    """Base for on-disk models: unknown keys are errors (they are usually typos)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_enum_values=False)


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b) in 0..255."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
