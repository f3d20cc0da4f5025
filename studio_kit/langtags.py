"""Language tags (BCP 47 / ISO 639) through ``langcodes``: the one place the studio checks a
language code and maps it to ISO 639-2 for media containers.

A code the studio writes on disk (series.yaml ``languages``, a character's ``language``,
``[[lang: ...]]`` notes) has a lower-case 2-3 letter primary subtag and hyphen-separated
subtags (``en``, ``pt-BR``, ``cmn``, ``sr-Latn``), and must be a well-formed BCP 47 tag by
langcodes' parser. Well-formed is enough: a private or not yet registered code (``xx``)
is accepted, as before, because a TTS engine or a translator may know it; the TTS and mux
steps refuse what they cannot use, with their own errors.
"""

from __future__ import annotations

import re

import langcodes
from langcodes.tag_parser import LanguageTagError

__all__ = ["alpha3", "is_language_tag"]

#: the shape of the codes written in project files (lower-case primary, '-' separators)
_SHAPE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def is_language_tag(value: str) -> bool:
    """Whether ``value`` is a language code a project file may carry (see the module doc)."""
    if not _SHAPE.match(value):
        return False
    try:
        langcodes.Language.get(value, normalize=False)
    except (LanguageTagError, ValueError):
        return False  # e.g. 'en-12', 'en-US-US': right shape, not BCP 47
    return True


def alpha3(language: str) -> str | None:
    """The ISO 639-2/T code of ``language`` ('en' / 'pt-BR' -> 'eng' / 'por'), a 3-letter
    primary subtag unchanged ('fra', 'cmn', 'bre'), or None when langcodes knows none."""
    primary = language.split("-")[0].lower()
    if len(primary) == 3 and primary.isalpha():
        return primary
    try:
        return langcodes.Language.get(primary).to_alpha3()
    except (LookupError, LanguageTagError, ValueError):
        return None
