"""SMPTE ST 428-7:2014 timed text (DCST SubtitleReel XML) from SRT captions.

This writes the subtitle *document* a SMPTE DCP's MainSubtitle track file carries. It is
written beside the DCP, not inside it: the ST 429-5 track file needs an MXF with a
TimedTextDescriptor, which the MXF writer from the registries (mxfuse 0.1) cannot write,
and ClairMeta can inspect a SMPTE subtitle track file only through asdcplib's
``asdcp-unwrap`` (not installable here). docs/dcp.md says how to wrap it with asdcplib.
The document validates against ClairMeta's DCDMSubtitle-2014.xsd (tests).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from xml.sax.saxutils import escape

import srt

NS = "http://www.smpte-ra.org/schemas/428-7/2014/DCST"


def _tc(seconds: float, fps: int = 24) -> str:
    frames = max(0, int(round(seconds * fps)))
    s, f = divmod(frames, fps)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}:{f:02d}"


def subtitle_xml(subs: list[srt.Subtitle], *, title: str, language: str = "en",
                 reel_id: str | None = None, fps: int = 24, issued: str | None = None,
                 max_s: float | None = None) -> str:
    """The SubtitleReel document: one <Subtitle> per caption, lines bottom-up (Vposition
    8% and 14.5% from the bottom, centred), white 42-unit text with a black border."""
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
            f"  <SubtitleList>\n    <Font Color=\"FFFFFFFF\" Effect=\"border\" "
            f"EffectColor=\"FF000000\" Size=\"42\">\n"
            + "".join(items) + "    </Font>\n  </SubtitleList>\n</SubtitleReel>\n")


def write_subtitles(srt_path: Path, out: Path, *, title: str, language: str,
                    max_s: float | None = None) -> Path:
    from ..store.yamlio import atomic_write_text

    subs = list(srt.parse(Path(srt_path).read_text(encoding="utf-8")))
    atomic_write_text(out, subtitle_xml(subs, title=title, language=language, max_s=max_s))
    return out
