"""SMPTE ST 428-7:2014 timed text (DCST SubtitleReel XML) from SRT captions.

This writes the subtitle *document* a SMPTE DCP's MainSubtitle track file carries;
``timed_text.py`` wraps it (with its font) in the ST 429-5 track file. The document
validates against ClairMeta's DCDMSubtitle-2014.xsd (tests).
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from pathlib import Path
from xml.sax.saxutils import escape

import srt

from ..errors import StudioError

NS = "http://www.smpte-ra.org/schemas/428-7/2014/DCST"


def _tc(seconds: float, fps: int = 24) -> str:
    frames = max(0, int(round(seconds * fps)))
    s, f = divmod(frames, fps)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{f:02d}"


def subtitle_xml(subs: list[srt.Subtitle], *, title: str, language: str = "en",
                 reel_id: str | None = None, fps: int = 24, issued: str | None = None,
                 max_s: float | None = None, font_id: str | None = None) -> str:
    """The SubtitleReel document: one <Subtitle> per caption, lines bottom-up (Vposition
    8% and 14.5% from the bottom, centred), white 42-unit text with a black border.

    ``font_id``: the UUID of the font resource carried in the track file; the document then
    loads it (``<LoadFont ID="font1">urn:uuid:...``) and its ``<Font>`` refers to it, as
    ST 428-7 5.11.1 and ST 429-2 8.4.1 ask of a text subtitle inside a DCP."""
    reel_id = reel_id or str(uuid.uuid4())
    issued = issued or dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    items = []
    n = 0
    for sub in sorted(subs, key=lambda s: s.start):
        a, b = sub.start.total_seconds(), sub.end.total_seconds()
        if max_s is not None:
            b = min(b, max_s)
        if b - a < 1 / fps:
            continue
        lines = [ln.strip() for ln in sub.content.splitlines() if ln.strip()][:2]
        if not lines:
            continue
        n += 1
        texts = "".join(
            f'        <Text Valign="bottom" Vposition="{8 + 6.5 * (len(lines) - 1 - i):g}">'
            f"{escape(line)}</Text>\n" for i, line in enumerate(lines))
        items.append(f'      <Subtitle SpotNumber="{n}" TimeIn="{_tc(a, fps)}" '
                     f'TimeOut="{_tc(b, fps)}" FadeUpTime="00:00:00:00" '
                     f'FadeDownTime="00:00:00:00">\n{texts}      </Subtitle>\n')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<SubtitleReel xmlns="{NS}">\n'
            f"  <Id>urn:uuid:{reel_id}</Id>\n"
            f"  <ContentTitleText>{escape(title)}</ContentTitleText>\n"
            f"  <IssueDate>{issued}</IssueDate>\n  <ReelNumber>1</ReelNumber>\n"
            f"  <Language>{escape(language)}</Language>\n  <EditRate>{fps} 1</EditRate>\n"
            f"  <TimeCodeRate>{fps}</TimeCodeRate>\n  <StartTime>00:00:00:00</StartTime>\n"
            + (f'  <LoadFont ID="font1">urn:uuid:{font_id}</LoadFont>\n' if font_id else "")
            + "  <SubtitleList>\n    <Font " + ('ID="font1" ' if font_id else "")
            + "Color=\"FFFFFFFF\" Effect=\"border\" "
            "EffectColor=\"FF000000\" Size=\"42\">\n"
            + "".join(items) + "    </Font>\n  </SubtitleList>\n</SubtitleReel>\n")


def write_subtitles(srt_path: Path, out: Path, *, title: str, language: str,
                    max_s: float | None = None) -> Path:
    from ..store.yamlio import atomic_write_text

    try:
        subs = list(srt.parse(Path(srt_path).read_text(encoding="utf-8-sig")))
    except (srt.SRTParseError, UnicodeDecodeError, ValueError) as exc:
        raise StudioError(f"not a readable SRT file: {exc}", file=srt_path,
                          field="subtitles", hint="fix or re-export the captions") from None
    atomic_write_text(out, subtitle_xml(subs, title=title, language=language, max_s=max_s))
    return out


def subtitle_chars(doc: str) -> set[str]:
    """Every character shown by a SubtitleReel document (the text of its <Text> elements)."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(doc.encode())
    return {c for t in root.iter(f"{{{NS}}}Text") for c in (t.text or "") if not c.isspace()}


def font_codepoints(data: bytes) -> set[int]:
    """The code points an OpenType/TrueType font maps (its cmap table, formats 4 and 12).

    Hand-written because fontTools is not a dependency and only the cmap is needed to say
    which characters of a subtitle a font cannot show."""
    if len(data) < 12:
        raise ValueError("not an OpenType font (too short)")
    n_tables = struct.unpack_from(">H", data, 4)[0]
    cmap = None
    for i in range(n_tables):
        tag, _c, off, _len = struct.unpack_from(">4sIII", data, 12 + 16 * i)
        if tag == b"cmap":
            cmap = off
    if cmap is None:
        raise ValueError("not an OpenType font (no cmap table)")
    out: set[int] = set()
    for i in range(struct.unpack_from(">H", data, cmap + 2)[0]):
        _pid, _eid, off = struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)
        t = cmap + off
        fmt = struct.unpack_from(">H", data, t)[0]
        if fmt == 4:
            seg2 = struct.unpack_from(">H", data, t + 6)[0]
            ends = struct.unpack_from(f">{seg2 // 2}H", data, t + 14)
            starts = struct.unpack_from(f">{seg2 // 2}H", data, t + 16 + seg2)
            for a, b in zip(starts, ends, strict=True):
                if a != 0xFFFF:
                    out.update(range(a, b + 1))
        elif fmt == 12:
            for g in range(struct.unpack_from(">I", data, t + 12)[0]):
                a, b, _gid = struct.unpack_from(">III", data, t + 16 + 12 * g)
                out.update(range(a, b + 1))
    return out
