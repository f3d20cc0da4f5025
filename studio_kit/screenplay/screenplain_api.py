"""Every use of screenplain in the studio goes through this module.

Written against screenplain 0.12.0 (``screenplain.parsers.fountain`` and
``screenplain.types``); pyproject.toml bounds it to ``>=0.12,<0.13``. The Fountain parser
(:mod:`studio_kit.screenplay.parse`) needs screenplain's paragraph classifier but not its
``parse()`` (which drops line numbers and notes), so it calls a few of screenplain's
*module internals*: ``_preprocess_line``, ``_is_blank``, ``InputParagraph.update_list``,
``boneyard_re``, ``linebreak_re``, ``slug_regexes``, ``page_break_re`` and
``parse_title_page``. They are not a public API and may change in any release: when
screenplain is upgraded, re-run ``tests/test_screenplay*.py`` and fix them here, nowhere
else. :func:`check` reports a missing internal as a clear error instead of an
``AttributeError`` deep in a parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from screenplain.parsers import fountain as _fountain
from screenplain.types import Action, Dialog, DualDialog, PageBreak, Section, Slug, Transition

from ..errors import StudioError

__all__ = ["Action", "Dialog", "DualDialog", "PageBreak", "Section", "Slug", "Transition",
           "WRITTEN_AGAINST", "check", "classify", "is_blank", "is_page_break", "is_slug",
           "courier_prime_font", "remove_boneyard", "split_lines", "title_page"]

#: the screenplain release these calls were written and tested against
WRITTEN_AGAINST = "0.12.0"

#: the internals of ``screenplain.parsers.fountain`` used here
_INTERNALS = ("_preprocess_line", "_is_blank", "InputParagraph", "boneyard_re",
              "linebreak_re", "slug_regexes", "page_break_re", "parse_title_page")


def installed_version() -> str | None:
    try:
        return version("screenplain")
    except PackageNotFoundError:  # pragma: no cover - imported above, so installed
        return None


def check() -> None:
    """Raise a clear error when the installed screenplain lacks an internal used here."""
    missing = [n for n in _INTERNALS if not hasattr(_fountain, n)]
    if not hasattr(getattr(_fountain, "InputParagraph", None), "update_list"):
        missing.append("InputParagraph.update_list")
    if missing:
        raise StudioError(
            f"screenplain {installed_version()} lacks {', '.join(missing)} (the studio's "
            f"Fountain parser was written against screenplain {WRITTEN_AGAINST})",
            field="screenplain",
            hint="install the version pyproject.toml allows: pip install 'screenplain>=0.12,<0.13'")


def remove_boneyard(text: str, replace: Callable[[re.Match[str]], str]) -> str:
    """``text`` with every ``/* ... */`` boneyard replaced by ``replace(match)``."""
    return _fountain.boneyard_re.sub(replace, text)


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` (any line ending) as screenplain preprocesses them (tabs
    expanded, trailing whitespace handled as in its own parser)."""
    return [_fountain._preprocess_line(x) for x in _fountain.linebreak_re.split(text)]


def is_blank(line: str) -> bool:
    """Whether screenplain treats ``line`` as a paragraph separator."""
    return bool(_fountain._is_blank(line))


def title_page(lines: list[str]) -> dict[str, list[str]] | None:
    """The title page of the leading block of ``key: value`` lines, or None."""
    return _fountain.parse_title_page(lines)


def is_slug(text: str) -> bool:
    """Whether screenplain recognises ``text`` as a scene heading without forcing."""
    return any(rx.match(text) for rx in _fountain.slug_regexes)


def is_page_break(text: str) -> bool:
    """Whether ``text`` is a page break (``===``)."""
    return bool(_fountain.page_break_re.match(text))


def courier_prime_font() -> Path:
    """The Courier Prime TTF screenplain ships for its PDF export (SIL OFL; the DCP's
    default subtitle font)."""
    import screenplain

    return Path(screenplain.__file__).parent / "export" / "courier_prime" / "Courier Prime.ttf"


def classify(lines: list[str], paragraphs: list[object]) -> None:
    """screenplain's classifier for one paragraph: appends to ``paragraphs`` (or replaces
    its last item: dual dialogue, an attached synopsis), using it as the context."""
    _fountain.InputParagraph(lines).update_list(paragraphs)


check()
