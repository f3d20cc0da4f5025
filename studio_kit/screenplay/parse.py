"""Fountain text -> a structured :class:`Script` with source line numbers.

screenplain classifies every paragraph (scene heading, dialogue, dual dialogue, transition,
section, action...). Its ``parse()`` however drops what the studio needs on top of that:
source line numbers, ``[[notes]]`` (so our ``[[lang: fr]]`` language marks) and synopses
that do not follow a section or heading. So we split the text into paragraphs ourselves
(same rules as screenplain: blank-line separated, boneyard removed), pre-scan each
paragraph for notes and synopses, and hand the rest to screenplain's own paragraph
classifier (``InputParagraph.update_list``); every paragraph object it appends is tagged
with the line it came from. Every screenplain call (some are its internals) goes through
:mod:`studio_kit.screenplay.screenplain_api`, the one module to fix on an upgrade.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ScriptError
from ..langtags import is_language_tag
from ..models import TimeOfDay, TransitionKind
from . import screenplain_api as sp
from .screenplain_api import Action as SpAction
from .screenplain_api import Dialog as SpDialog
from .screenplain_api import DualDialog as SpDualDialog
from .screenplain_api import PageBreak as SpPageBreak
from .screenplain_api import Section as SpSection
from .screenplain_api import Slug as SpSlug
from .screenplain_api import Transition as SpTransition

#: Scripts larger than this are refused (a feature film is ~150-250 KB of Fountain).
MAX_SCRIPT_BYTES = 5 * 1024 * 1024

_LANG_NOTE_RE = re.compile(r"^\s*(?:lang|language)\s*:\s*(.*?)\s*$", re.IGNORECASE | re.DOTALL)
_NOTE_RE = re.compile(r"\[\[(.*?)\]\]", re.DOTALL)
_PREFIX_RE = re.compile(
    r"^(?P<p>INT\.?\s*/\s*EXT\.?|EXT\.?\s*/\s*INT\.?|I\.?\s*/\s*E\.?|INT\.?|EXT\.?|EST\.?)"
    r"(?:[.\s]+|$)"
)
#: A line that is a scene heading even without a blank line after it or a period
#: ("INT HOUSE DAY", "I./E. CAR - NIGHT"); upper-case only, so action is not taken for one.
_HEADING_LINE_RE = re.compile(
    r"^(INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\.?\s*/\s*E|INT|EXT|EST)(\.\s*|\s+)\S")
_TRAILING_TIME_RE = re.compile(
    r"^(?P<loc>.*\S)\s+(?P<t>PRE-DAWN|DAWN|SUNRISE|MORNING|DAY|NOON|AFTERNOON|SUNSET|DUSK|"
    r"TWILIGHT|EVENING|NIGHT|MIDNIGHT|CONTINUOUS|LATER)$")
_BRACKETS_RE = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_SEP_RE = re.compile(r"\s+-{1,2}\s+|\s*--\s*|\s*,\s+|\s+-$")
_TIME_WORDS = re.compile(
    r"\b(PRE-DAWN|DAWN|SUNRISE|MORNING|DAY|NOON|AFTERNOON|MAGIC HOUR|SUNSET|DUSK|TWILIGHT|"
    r"EVENING|NIGHT|MIDNIGHT|CONTINUOUS|CONTINUED|LATER|SAME|MOMENTS?|MINUTES|PRESENT|"
    r"FLASHBACK|FLASHFORWARD|VARIOUS SHOTS|SERIES OF SHOTS|MONTAGE|INTERCUT)\b"
)
_TOD_MAP: list[tuple[str, TimeOfDay]] = [
    ("PRE-DAWN", TimeOfDay.dawn), ("DAWN", TimeOfDay.dawn), ("SUNRISE", TimeOfDay.dawn),
    ("MORNING", TimeOfDay.morning), ("AFTERNOON", TimeOfDay.afternoon),
    ("MAGIC HOUR", TimeOfDay.dusk), ("SUNSET", TimeOfDay.dusk), ("DUSK", TimeOfDay.dusk),
    ("TWILIGHT", TimeOfDay.dusk), ("EVENING", TimeOfDay.evening),
    ("MIDNIGHT", TimeOfDay.night), ("NIGHT", TimeOfDay.night), ("NOON", TimeOfDay.day),
    ("DAY", TimeOfDay.day),
]
_EXTENSION_RE = re.compile(r"\(([^)]*)\)")
_CONTD_RE = re.compile(r"\s*\b(CONT['’]?D|CONT\.|CONTINUED)\s*$", re.IGNORECASE)
_OFFSCREEN = {"V.O.", "VO", "V.0.", "O.S.", "OS", "O.C.", "OC", "OFF", "OFF SCREEN",
              "OFFSCREEN", "PRE-LAP", "PRELAP", "ON PHONE", "FILTERED", "ON RADIO",
              "ON TV", "INTO PHONE", "V/O", "O/S"}


@dataclass
class Heading:
    line: int
    text: str  # as written (upper-cased by screenplain), scene number removed
    location: str  # normalised: "LIGHTHOUSE - LAMP ROOM"
    interior: bool
    time_of_day: TimeOfDay | None  # None: not stated or CONTINUOUS/LATER (inherit)
    secondary: bool = False  # forced heading without INT./EXT. (a shot, not a location)
    scene_number: str | None = None
    synopsis: str | None = None

    @property
    def key(self) -> str:
        return location_key(self.location)


@dataclass
class ActionPara:
    line: int
    text: str
    centered: bool = False
    lyric: bool = False


@dataclass
class SpeechPart:
    text: str
    parenthetical: str | None
    language: str | None
    lyric: bool = False  # '~' lines: sung (the marker is removed from the text)


@dataclass
class Speech:
    line: int
    cue: str  # as written: "THEO (O.S.)"
    name: str  # merged character name: "THEO"
    extensions: list[str]
    parts: list[SpeechPart]
    dual: bool = False  # spoken over the previous speech (second half of a ^ pair)
    trailing: list[str] = field(default_factory=list)  # parentheticals after the last line

    @property
    def offscreen(self) -> bool:
        return any(e in _OFFSCREEN for e in self.extensions)

    @property
    def prelap(self) -> bool:
        return any(e in {"PRE-LAP", "PRELAP"} for e in self.extensions)

    @property
    def words(self) -> int:
        return sum(len(p.text.split()) for p in self.parts)


@dataclass
class TransitionPara:
    line: int
    text: str
    kind: TransitionKind


@dataclass
class SectionPara:
    line: int
    text: str
    level: int
    synopsis: str | None = None


@dataclass
class SynopsisPara:
    line: int
    text: str


@dataclass
class NotePara:
    """A paragraph that was only ``[[notes]]``: ``[[lang: xx]]`` sets the scene's language."""

    line: int
    language: str | None
    notes: list[str]


Element = Heading | ActionPara | Speech | TransitionPara | SectionPara | SynopsisPara | NotePara


@dataclass
class Script:
    source: str
    title_page: dict[str, list[str]]
    elements: list[Element]
    notes: dict[int, list[str]] = field(default_factory=dict)  # line -> non-lang notes

    @property
    def title(self) -> str | None:
        values = self.title_page.get("Title")
        if not values:
            return None
        text = " ".join(strip_emphasis(v) for v in values).strip()
        return text or None

    @property
    def language(self) -> str | None:
        values = self.title_page.get("Language")
        if values and is_language_tag(values[0].strip()):
            return values[0].strip()
        return None

    @property
    def headings(self) -> list[Heading]:
        return [e for e in self.elements if isinstance(e, Heading)]

    @property
    def speeches(self) -> list[Speech]:
        return [e for e in self.elements if isinstance(e, Speech)]

    @property
    def character_names(self) -> list[str]:
        """Merged speaking-character names in order of first appearance."""
        seen: dict[str, None] = {}
        for s in self.speeches:
            seen.setdefault(s.name, None)
        return list(seen)

    @property
    def languages(self) -> list[str]:
        out: dict[str, None] = {}
        for el in self.elements:
            if isinstance(el, Speech):
                for p in el.parts:
                    if p.language:
                        out.setdefault(p.language, None)
            elif isinstance(el, NotePara) and el.language:
                out.setdefault(el.language, None)
        return list(out)


# -- helpers --------------------------------------------------------------------------------
def fold(text: str) -> str:
    """Accent- and case-insensitive comparison key: 'Élodie' -> 'ELODIE'."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_ = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", ascii_).strip().upper()


def location_key(location: str) -> str:
    return re.sub(r"[^A-Z0-9]+", " ", fold(location)).strip()


def slugify(text: str, sep: str = "_", max_len: int = 48) -> str:
    base = re.sub(r"[^a-z0-9]+", sep, fold(text).lower().replace("'", "")).strip(sep)
    base = base[:max_len].rstrip(sep)
    return base or "x"


def strip_emphasis(text: str) -> str:
    return re.sub(r"[*_]+", "", text)


def parse_heading(text: str, line: int, *, forced: bool) -> Heading:
    """'INT. HOUSE - NIGHT' -> Heading(location='HOUSE', interior=True, time_of_day=night)."""
    upper = re.sub(r"\s+", " ", text.strip().upper())
    m = _PREFIX_RE.match(upper)
    if m:
        prefix = m.group("p").replace(" ", "")
        interior = not prefix.startswith(("EXT", "EST"))
        rest = upper[m.end():]
        secondary = False
    else:
        interior, rest, secondary = True, upper, forced
    tod: TimeOfDay | None = None
    cleaned = _BRACKETS_RE.sub(" ", rest)
    parts = [p.strip(" .,-/") for p in _SEP_RE.split(cleaned)]
    parts = [p for p in parts if p]
    # Drop trailing time-of-day / continuity components: "- NIGHT", ", A BIT LATER", ...
    while len(parts) > 1 and _TIME_WORDS.search(parts[-1]):
        tod = tod or _time_of_day(parts[-1])
        parts.pop()
    if len(parts) == 1 and m:
        # "INT HOUSE DAY": the time of day without a separator
        tm = _TRAILING_TIME_RE.match(parts[0])
        if tm:
            tod = _time_of_day(tm.group("t"))
            parts[0] = tm.group("loc")
    if tod is None:
        # "(PRESENT) DAY" style leftovers inside brackets, or a one-part heading "NIGHT"
        tod = _time_of_day(" ".join(_BRACKETS_RE.findall(rest)))
    location = " - ".join(parts) if parts else (rest.strip(" .-") or upper or "UNKNOWN")
    location = re.sub(r"\s+", " ", location).strip() or "UNKNOWN"
    return Heading(line=line, text=upper, location=location, interior=interior,
                   time_of_day=tod, secondary=secondary)


def _time_of_day(text: str) -> TimeOfDay | None:
    # earliest time word in the text wins: "DAY TO NIGHT" -> day
    best: tuple[int, TimeOfDay] | None = None
    for word, tod in _TOD_MAP:
        m = re.search(rf"\b{re.escape(word)}\b", text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), tod)
    return best[1] if best else None


def split_cue(cue: str) -> tuple[str, list[str]]:
    """'EDWARD (V.O.)(CONT'D)' -> ('EDWARD', ['V.O.', "CONT'D"])."""
    exts = [re.sub(r"\s+", " ", e.strip().upper()) for e in _EXTENSION_RE.findall(cue)]
    exts = [x for e in exts for x in (p.strip() for p in e.split(",")) if x]
    name = _EXTENSION_RE.sub(" ", cue)
    name = name.split("(", 1)[0]  # unbalanced "(" : drop the rest
    name = strip_emphasis(name)
    while True:
        m = _CONTD_RE.search(name)
        if not m:
            break
        exts.append("CONT'D")
        name = name[: m.start()]
    name = re.sub(r"\s+", " ", name).strip(" ^@:")
    return (name.upper() if name else cue.strip().upper() or "UNKNOWN"), exts


_TRANSITIONS: list[tuple[str, TransitionKind]] = [
    ("MATCH", TransitionKind.match_cut), ("DISSOLVE", TransitionKind.dissolve),
    ("CROSSFADE", TransitionKind.dissolve), ("CROSS FADE", TransitionKind.dissolve),
    ("FADE TO WHITE", TransitionKind.dip_to_white), ("WHITE OUT", TransitionKind.dip_to_white),
    ("FLASH TO WHITE", TransitionKind.dip_to_white), ("BURN TO", TransitionKind.dip_to_white),
    ("FADE", TransitionKind.fade), ("TO BLACK", TransitionKind.fade),
    ("BLACK OUT", TransitionKind.fade), ("BLACKOUT", TransitionKind.fade),
    ("WIPE", TransitionKind.wipe),
    ("IRIS", TransitionKind.wipe),
]


def transition_kind(text: str) -> TransitionKind:
    upper = text.upper()
    for word, kind in _TRANSITIONS:
        if word in upper:
            return kind
    return TransitionKind.cut  # CUT TO:, SMASH CUT TO:, TIME CUT TO:, BACK TO:, ...


# -- reading files ---------------------------------------------------------------------------
def read_script_file(path: str | Path, *, max_bytes: int = MAX_SCRIPT_BYTES) -> str:
    """Read a Fountain file as text, refusing binary, non-UTF-8, empty and oversized files."""
    path = Path(path)
    hint_fountain = "export the screenplay as Fountain (.fountain) plain text, UTF-8"
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.fountain"))[:3]
        raise ScriptError("this is a folder, not a screenplay file", file=path,
                          hint="pass the .fountain file itself"
                          + (f", e.g. {path / found[0]}" if found else ""))
    if not path.is_file():
        raise ScriptError("script file not found", file=path,
                          hint="check the path; scripts are .fountain text files")
    size = path.stat().st_size
    if size > max_bytes:
        raise ScriptError(
            f"script is {size / 1e6:.1f} MB; the import limit is {max_bytes / 1e6:.0f} MB",
            file=path, hint="a feature film is under 0.5 MB of Fountain; split the file "
            "into one script per episode",
        )
    data = path.read_bytes()
    if not data.strip():
        raise ScriptError("script is empty", file=path,
                          hint="write at least one scene heading, e.g. 'INT. HOUSE - NIGHT'")
    if b"\x00" in data[:65536]:
        raise ScriptError("this is a binary file, not a Fountain screenplay", file=path,
                          hint=hint_fountain)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScriptError(f"script is not UTF-8 text (byte 0x{data[exc.start]:02x})",
                          file=path, line=line,
                          hint="re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                          ) from None
    return text


# -- parsing ---------------------------------------------------------------------------------
_END_TRANSITION_RE = re.compile(
    r"^[*_]*(FADE OUT|FADE TO BLACK|FADE TO WHITE|CUT TO BLACK|SMASH TO BLACK|WHITE OUT|"
    r"IRIS OUT|FADE OUT AND IN)[.:]?[*_]*$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_fountain(text: str, source: str = "<script>") -> Script:
    """Parse Fountain text. Raises ScriptError (naming ``source`` and the line) on bad input."""
    if not isinstance(text, str):
        raise ScriptError("script must be text", file=source)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ScriptError("script contains characters that are not valid Unicode text",
                          file=source, hint="re-save the file as UTF-8") from None
    text = text.removeprefix("\ufeff")
    bad = _CONTROL_RE.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise ScriptError(f"control character {bad.group()!r} in the script; this does not "
                          "look like a Fountain screenplay", file=source, line=line,
                          hint="export the screenplay as Fountain plain text")
    if not text.strip():
        raise ScriptError("script is empty", file=source,
                          hint="write at least one scene heading, e.g. 'INT. HOUSE - NIGHT'")
    # Boneyard /* ... */ is removed but its newlines are kept so line numbers stay true.
    text = sp.remove_boneyard(text, lambda m: "\n" * m.group().count("\n"))
    lines = sp.split_lines(text)

    # Title page: the leading block of key: value lines (screenplain's own rules).
    start = 0
    title_page: dict[str, list[str]] = {}
    first_block = list(itertools.takewhile(lambda x: x != "", lines))
    tp = sp.title_page(first_block) if first_block else None
    if tp:
        title_page = tp
        start = len(first_block)

    builder = _Builder(source)
    index = start
    for blank, group in itertools.groupby(lines[start:], sp.is_blank):
        chunk = list(group)
        if not blank:
            builder.paragraph(index + 1, chunk)
        index += len(chunk)
    script = Script(source=source, title_page=title_page, elements=builder.elements,
                    notes=builder.notes)
    if not script.elements:
        what = "only a title page" if title_page else "no scenes, action or dialogue"
        raise ScriptError(
            f"the script has {what}: there is nothing to storyboard",
            file=source,
            hint="write the scenes under the title page, starting with a heading line such as "
            "'INT. KITCHEN - NIGHT' (a script without headings becomes one scene)",
        )
    return script


_TO_RE = re.compile(r"^[A-Z0-9 .'’-]+ TO:$")


def _is_transition_line(text: str) -> bool:
    t = text.strip()
    return bool(_END_TRANSITION_RE.match(t) or _TO_RE.match(t)
                or (t.startswith(">") and not t.endswith("<")))


class _Builder:
    def __init__(self, source: str) -> None:
        self.source = source
        self.paras: list[object] = []  # screenplain's paragraph list (for its context rules)
        self.elements: list[Element] = []
        self.notes: dict[int, list[str]] = {}

    def _lang(self, value: str, line: int) -> str:
        code = value.strip()
        if not is_language_tag(code):
            raise ScriptError(
                f"{code!r} is not a language code in a [[lang: ...]] note", file=self.source,
                line=line, hint="write an ISO 639 code, e.g. [[lang: fr]] or [[lang: pt-BR]]",
            )
        return code

    def paragraph(self, first_line: int, raw: list[str]) -> None:
        joined = "\n".join(raw)
        # Pre-scan: notes (screenplain deletes them) with the line they sit on.
        line_langs: dict[int, str] = {}
        other_notes: list[str] = []
        had_note_on: set[int] = set()
        for m in _NOTE_RE.finditer(joined):
            at = joined.count("\n", 0, m.start())
            had_note_on.add(at)
            lm = _LANG_NOTE_RE.match(m.group(1))
            if lm:
                line_langs[at] = self._lang(lm.group(1), first_line + at)
            elif m.group(1).strip():
                other_notes.append(re.sub(r"\s+", " ", m.group(1).strip()))
        stripped = _NOTE_RE.sub("", joined).split("\n")
        kept: list[tuple[int, str]] = []  # (offset in paragraph, text)
        for off, text in enumerate(stripped):
            if off in had_note_on:
                if not text.strip():
                    continue
                text = text.rstrip()  # "MARA  [[lang: fr]]" is still a cue, not forced action
            kept.append((off, text))
        if not kept or all(sp.is_blank(t) for _, t in kept):
            if line_langs or other_notes:
                lang = line_langs[max(line_langs)] if line_langs else None
                self.elements.append(NotePara(first_line, lang, other_notes))
            return
        if other_notes:
            self.notes.setdefault(first_line + kept[0][0], []).extend(other_notes)
        self._classify(first_line, kept, line_langs)

    def _classify(self, first_line: int, kept: list[tuple[int, str]],
                  line_langs: dict[int, str]) -> None:
        texts = [t for _, t in kept]
        para_line = first_line + kept[0][0]
        head = texts[0].strip()
        if len(kept) > 1 and all(_is_transition_line(t) for t in texts):
            # "FADE TO BLACK.\nCUT TO:" stacked: two transitions, not a character's line
            for item in kept:
                self._classify(first_line, [item], line_langs)
            return
        if _HEADING_LINE_RE.match(head) and head == head.upper():
            if len(kept) > 1:
                # "INT HOUSE DAY" right above another heading or the action: its own paragraph
                self._classify(first_line, kept[:1], line_langs)
                self._classify(first_line, kept[1:], line_langs)
                return
            if not sp.is_slug(head):
                texts = ["." + head]  # I./E. : screenplain does not know it, force it
        # Synopses anywhere ('= text', but not a '===' page break): screenplain only keeps
        # them right after a section or heading.
        if all(t.startswith("=") for t in texts) and not sp.is_page_break(texts[0]):
            for off, t in kept:
                self.elements.append(SynopsisPara(first_line + off, t[1:].strip()))
            return
        # Transitions screenplain only knows when they end in "TO:" (or are forced with '>')
        if len(texts) == 1 and (_END_TRANSITION_RE.match(texts[0].strip())
                                or texts[0].strip() == "TO:"):
            text = strip_emphasis(texts[0].strip())
            self.elements.append(TransitionPara(para_line, text, transition_kind(text)))
            self.paras.append(SpTransition(text))
            return
        before = len(self.paras)
        last_before = self.paras[-1] if self.paras else None
        try:
            sp.classify(texts, self.paras)
        except Exception as exc:  # screenplain is a third-party parser: never a traceback
            raise ScriptError(f"cannot parse this paragraph ({type(exc).__name__})",
                              file=self.source, line=para_line,
                              hint="check the Fountain syntax of this paragraph") from None
        new = self.paras[before:]
        if not new and last_before is not None and len(self.paras) == before:
            # dual dialogue replaced the previous Dialog, or a synopsis was attached
            last = self.paras[-1]
            if isinstance(last, SpDualDialog):
                self._dual(last, para_line, kept, line_langs)
            else:
                self._synopsis_attached(last, texts)
            return
        for obj in new:
            self._convert(obj, para_line, kept, line_langs, first_line)

    # -- conversion of screenplain objects --------------------------------------------------
    def _synopsis_attached(self, obj: object, texts: list[str]) -> None:
        syn = getattr(obj, "synopsis", None)
        if syn is None:
            return
        for el in reversed(self.elements):
            if isinstance(el, Heading | SectionPara):
                el.synopsis = str(syn)
                return

    def _dual(self, obj: SpDualDialog, line: int, kept, line_langs) -> None:
        # screenplain popped the previous Dialog and wrapped it with this one
        speech = self._speech(obj.right, line, kept, line_langs)
        speech.dual = True
        self.elements.append(speech)

    def _convert(self, obj, line: int, kept, line_langs, first_line: int) -> None:
        if isinstance(obj, SpSlug):
            raw_text = kept[0][1].strip()
            forced = raw_text.startswith(".") and not raw_text.startswith("..")
            h = parse_heading(str(obj.line), line, forced=forced)
            h.scene_number = str(obj.scene_number) if obj.scene_number else None
            h.synopsis = str(obj.synopsis) if obj.synopsis else None
            self.elements.append(h)
        elif isinstance(obj, SpSection):
            self.elements.append(SectionPara(line, strip_emphasis(str(obj.text)).strip(),
                                             obj.level,
                                             str(obj.synopsis) if obj.synopsis else None))
        elif isinstance(obj, SpDialog):
            self.elements.append(self._speech(obj, line, kept, line_langs))
        elif isinstance(obj, SpDualDialog):
            self.elements.append(self._speech(obj.left, line, kept, line_langs))
            right = self._speech(obj.right, line, kept, line_langs)
            right.dual = True
            self.elements.append(right)
        elif isinstance(obj, SpTransition):
            text = str(obj.line).strip()
            self.elements.append(TransitionPara(line, text, transition_kind(text)))
        elif isinstance(obj, SpAction):
            raw = [str(x).strip() for x in obj.lines]
            lyric = bool(raw) and all(x.startswith("~") for x in raw if x)
            if lyric:
                raw = [x.lstrip("~").strip() for x in raw]
            text = " ".join(x for x in raw if x).strip()
            if text:
                self.elements.append(ActionPara(line, text, obj.centered, lyric))
        elif isinstance(obj, SpPageBreak):
            pass

    def _speech(self, dialog: SpDialog, line: int, kept, line_langs) -> Speech:
        cue = str(dialog.character).strip()
        name, exts = split_cue(cue)
        # Find the paragraph offsets of the dialogue lines to know each one's language.
        cue_idx = 0  # screenplain: first line is the cue, the others are the speech
        body_offsets = [off for off, _ in kept[cue_idx + 1: cue_idx + 1 + len(dialog.blocks)]]
        parts: list[SpeechPart] = []
        trailing: list[str] = []
        lang: str | None = None
        for off in sorted(k for k in line_langs if k <= (kept[cue_idx][0] if kept else 0)):
            lang = line_langs[off]
        paren: str | None = None
        buf: list[str] = []
        buf_lang: str | None = lang
        buf_lyric = False

        def flush() -> None:
            nonlocal buf, paren
            text = " ".join(buf).strip()
            if text:
                parts.append(SpeechPart(text, paren, buf_lang, buf_lyric))
                paren = None
            buf = []

        for i, (is_paren, rich) in enumerate(dialog.blocks):
            off = body_offsets[i] if i < len(body_offsets) else None
            if off is not None:
                for k in sorted(line_langs):
                    if k <= off:
                        lang = line_langs[k]
            text = strip_emphasis(str(rich)).strip()
            if not text:
                continue
            if is_paren:
                flush()
                inner = text.strip("()").strip()
                paren = f"{paren}; {inner}" if paren and inner else (inner or paren)
                buf_lang = lang
                continue
            lyric = text.startswith("~")
            if lyric:
                text = text.lstrip("~").strip()
                if not text:
                    continue
            if (lang != buf_lang or lyric != buf_lyric) and buf:
                flush()
            buf_lang, buf_lyric = lang, lyric
            buf.append(text)
        flush()
        if paren:
            trailing.append(paren)
        return Speech(line=line, cue=cue, name=name, extensions=exts, parts=parts,
                      trailing=trailing)
