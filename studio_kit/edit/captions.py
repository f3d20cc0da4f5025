"""Captions per language from dialogue timing: SRT and WebVTT.

Both files are written by ``pysubs2`` (one ``SSAFile`` of ``SSAEvent`` per caption,
``to_string("srt")`` / ``to_string("vtt")``); an SRT is read back (for the sidecars,
cut-downs, burn-in and features) with the ``srt`` library's strict parser, because
pysubs2 1.8's SRT reader drops a last caption line made only of digits (it takes it for
the next cue's number). :func:`to_srt` keeps the ``srt`` library's rules, so the files
are byte-identical to the ones it composed: cues sorted by time, renumbered from 1,
empty or zero-length cues skipped, times truncated to the millisecond. Backslashes are
kept as they are (pysubs2 would read some as SubStation codes: see _backslash_stand_in).

Cues come from the audio stage (when each line is spoken, in episode time). Lines are
wrapped at ~42 characters, at most 2 lines per caption; a longer cue is split into
consecutive captions, its time shared in proportion to the text length.

Caption text comes from project files (dialogue, character names), so it is cleaned
before it is delivered (:func:`caption_text`): C0/C1 control characters (NUL, ESC, BEL,
DEL...) and the bidirectional embeddings, overrides and isolates (U+202A..U+202E,
U+2066..U+2069: a right-to-left override makes a caption display reversed) are removed;
tabs, newlines and other separators become spaces. The bidi *marks* (LRM, RLM, ALM) are
kept: they only set the direction of the neighbouring punctuation in right-to-left
languages and cannot reorder the text around them.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

import pysubs2
from pydantic import BaseModel, Field, model_validator

from ..errors import StudioError
from ..store.yamlio import atomic_write_text
from .timeline import ShotTime

MAX_CHARS = 42
MAX_LINES = 2

#: Bidi embeddings/overrides (LRE RLE PDF LRO RLO) and isolates (LRI RLI FSI PDI).
_BIDI_FORMATTING = re.compile("[\u202a-\u202e\u2066-\u2069]")


def caption_text(text: str) -> str:
    """``text`` safe to deliver as a caption: no control characters (C0, DEL, C1), no bidi
    embeddings/overrides/isolates, no lone surrogates, BOMs or interlinear annotation
    marks; whitespace (tabs, newlines, line/paragraph separators) collapsed to single
    spaces."""
    text = _BIDI_FORMATTING.sub("", text)
    kept = []
    for ch in text:
        if ch.isspace():
            kept.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cs") or ch in "\ufeff\ufff9\ufffa\ufffb":
            continue
        else:
            kept.append(ch)
    return " ".join("".join(kept).split())


class Cue(BaseModel):
    start_s: float = Field(ge=0)
    end_s: float
    text: str = Field(min_length=1)
    speaker: str | None = None
    language: str = "en"

    @model_validator(mode="after")
    def _ordered(self) -> Cue:
        if self.end_s <= self.start_s:
            raise ValueError(f"cue ends ({self.end_s:g}s) before it starts ({self.start_s:g}s)")
        return self


def shot_cue(shot: ShotTime, start_s: float, end_s: float, text: str, *,
             speaker: str | None = None, language: str = "en") -> Cue:
    """A cue from a line's timing inside its shot's clip (seconds from the clip's frame 0),
    placed on the episode timeline with the assembly's exact shot start."""
    offset = shot.start_s - shot.source_in_s
    return Cue(start_s=max(0.0, offset + start_s), end_s=offset + end_s, text=text,
               speaker=speaker, language=language)


class Caption(BaseModel):
    start_s: float
    end_s: float
    lines: list[str]
    speaker: str | None = None


def layout(cues: Iterable[Cue], *, max_chars: int = MAX_CHARS, max_lines: int = MAX_LINES,
           speaker_labels: bool = True) -> list[Caption]:
    """Wrap and split cues into on-screen captions (one language)."""
    out: list[Caption] = []
    last_speaker: str | None = None
    for cue in sorted(cues, key=lambda c: c.start_s):
        text = caption_text(cue.text)
        if not text:
            continue  # nothing visible left (it was only control characters)
        speaker = caption_text(cue.speaker or "") or None
        if speaker_labels and speaker and speaker != last_speaker:
            text = f"{speaker.upper()}: {text}"
        last_speaker = speaker
        lines = textwrap.wrap(text, max_chars, break_long_words=True) or [text]
        chunks = [lines[i:i + max_lines] for i in range(0, len(lines), max_lines)]
        weights = [sum(len(x) for x in ch) for ch in chunks]
        total = sum(weights)
        t = cue.start_s
        for chunk, w in zip(chunks, weights, strict=True):
            end = cue.end_s if chunk is chunks[-1] else t + (cue.end_s - cue.start_s) * w / total
            out.append(Caption(start_s=t, end_s=end, lines=chunk, speaker=speaker))
            t = end
    return out


def _backslash_stand_in(captions: Iterable[Caption]) -> str:
    """A private-use character no caption contains. pysubs2 reads ``\\N``, ``\\n``,
    ``\\h`` and ``{\\p1}`` in event text as SubStation codes (a line break, a space, a
    drawing), so "C:\\new" would lose its "n": every backslash goes into the events as
    this character and comes back as a backslash in the written text."""
    used = {ch for c in captions for x in c.lines for ch in x}
    return next(chr(u) for u in range(0xE000, 0xF900) if chr(u) not in used)


def _event_text(lines: list[str], backslash: str) -> str:
    """Caption lines as pysubs2 event text (``\\N`` between lines)."""
    return "\\N".join(x.replace("\\", backslash) for x in lines)


def _write(items: Iterable[tuple[int, int, str]], fmt: str, backslash: str) -> str:
    subs = pysubs2.SSAFile()
    for start, end, text in items:
        subs.append(pysubs2.SSAEvent(start=start, end=end, text=text))
    # keep_ssa_tags: the text is passed as it is (no {...} override parsing, no styling)
    return subs.to_string(fmt, keep_ssa_tags=True).replace(backslash, "\\")


def _srt_ms(seconds: float) -> int:
    """Whole milliseconds as the ``srt`` library wrote them (a timedelta, truncated)."""
    return timedelta(seconds=seconds) // timedelta(milliseconds=1)


def to_srt(captions: list[Caption]) -> str:
    """SubRip: cues sorted by time and numbered from 1; an empty or zero-length cue is
    skipped (the ``srt`` library's rules, kept so the files do not change)."""
    kept = sorted((c for c in captions if "".join(c.lines).strip() and c.start_s >= 0
                   and c.end_s > c.start_s), key=lambda c: (c.start_s, c.end_s))
    bs = _backslash_stand_in(kept)
    return _write(((_srt_ms(c.start_s), _srt_ms(c.end_s), _event_text(c.lines, bs))
                   for c in kept), "srt", bs)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(captions: list[Caption], language: str | None = "en") -> str:
    """WebVTT: text escaped, the speaker as a voice span (``<v Mara>``); the header names
    the language (a ``Language:`` line, as browsers' and YouTube's files do) unless
    ``language`` is None."""
    items = []
    bs = _backslash_stand_in(captions)
    for c in captions:
        body = _event_text([_vtt_escape(x) for x in c.lines], bs)
        if c.speaker:
            body = f"<v {_vtt_escape(c.speaker)}>{body}</v>"
        items.append((round(c.start_s * 1000), round(c.end_s * 1000), body))
    text = _write(items, "vtt", bs)
    if language is not None:
        text = text.replace("WEBVTT\n", f"WEBVTT\nLanguage: {language}\n", 1)
    return text


def read_srt(srt_text: str) -> list[Caption]:
    """The cues of an SRT file (ours or any strict SubRip) as captions."""
    import srt

    return [Caption(start_s=s.start.total_seconds(), end_s=s.end.total_seconds(),
                    lines=s.content.splitlines())
            for s in srt.parse(srt_text)]


class CaptionFiles(BaseModel):
    language: str
    srt: str
    vtt: str
    captions: int


def write_captions(cues: Iterable[Cue], out_dir: str | Path, stem: str = "captions", *,
                   max_chars: int = MAX_CHARS, speaker_labels: bool = True
                   ) -> dict[str, CaptionFiles]:
    """Write ``<stem>.<lang>.srt`` and ``<stem>.<lang>.vtt`` for every language in ``cues``."""
    out_dir = Path(out_dir)
    by_lang: dict[str, list[Cue]] = {}
    for cue in cues:
        by_lang.setdefault(cue.language, []).append(cue)
    if not by_lang:
        raise StudioError("no dialogue cues to caption", field="cues",
                          hint="captions need the audio stage's dialogue timing")
    files: dict[str, CaptionFiles] = {}
    for lang, lang_cues in sorted(by_lang.items()):
        caps = layout(lang_cues, max_chars=max_chars, speaker_labels=speaker_labels)
        srt_path = out_dir / f"{stem}.{lang}.srt"
        vtt_path = out_dir / f"{stem}.{lang}.vtt"
        atomic_write_text(srt_path, to_srt(caps))
        # WebVTT names the speaker with a voice span (<v Mara>) instead of a text label
        vtt_caps = layout(lang_cues, max_chars=max_chars, speaker_labels=False)
        atomic_write_text(vtt_path, to_vtt(vtt_caps, lang))
        files[lang] = CaptionFiles(language=lang, srt=str(srt_path), vtt=str(vtt_path),
                                   captions=len(caps))
    return files
