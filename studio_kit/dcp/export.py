"""export_dcp: a SMPTE 2K DCP from a picture master and its sound, written atomically.

Everything is built in ``<out_dir>.partial-<random>`` beside ``out_dir`` and renamed into
place at the end: an interrupted export never leaves a folder with an ASSETMAP/CPL that
looks complete. A DCP cannot carry C2PA, so a provenance report (JSON + HTML) is written
beside it (``<out_dir>.provenance.json/.html``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..errors import StudioError
from . import assetmap, cpl, mxf, pkl, sound, subtitle, timed_text
from . import picture as pict


class DcpError(StudioError):
    """A DCP cannot be made from this input (user-fixable)."""


class DcpOptions(BaseModel):
    container: Literal["flat", "scope"] = "flat"
    fps: int = 24
    audio: Literal["stereo", "5.1"] = "stereo"
    title: str
    kind: str = Field("feature", description="CPL ContentKind")
    issuer: str = "studio-kit"
    convert_fps: bool = False
    language: str = "en"
    subtitle_font: Path | None = Field(None, description=(
        "OpenType/TrueType font carried in the subtitle track file (default: Courier Prime, "
        "shipped with screenplain, SIL OFL)"))


class DcpFile(BaseModel):
    path: str
    size: int
    sha256: str
    sha1_b64: str


class DcpResult(BaseModel):
    path: str
    cpl_id: str
    pkl_id: str
    picture_id: str
    sound_id: str
    frames: int
    duration_s: float
    container: str
    size: tuple[int, int]
    source_fps: str
    converted_fps: bool = False
    notes: list[str] = Field(default_factory=list)
    subtitle_id: str = ""           # the ST 429-5 track file's asset UUID (CPL MainSubtitle)
    subtitle_language: str = ""
    subtitle_reel_id: str = ""      # SubtitleReel Id = the track file's ResourceID
    files: list[DcpFile] = Field(default_factory=list)
    provenance_json: str = ""
    provenance_html: str = ""


def _issued() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_inputs(pic: Path, audio: list[Path], options: DcpOptions) -> pict.SourceInfo:
    if options.fps != 24:
        raise DcpError(f"fps {options.fps} is not supported", field="fps",
                       hint="this exporter writes 24 fps SMPTE DCPs; use fps=24")
    for p in [pic, *audio]:
        if not Path(p).is_file():
            raise DcpError("file not found", file=p, hint="render the master first")
    if options.audio == "5.1" and len(audio) not in (1, 6):
        raise DcpError(f"5.1 needs one 5.1 file or six mono stems, got {len(audio)}",
                       field="audio", hint="order the stems L R C LFE Ls Rs")
    try:
        info = pict.probe(pic)
    except Exception as exc:  # noqa: BLE001 - any decode failure is a bad input
        raise DcpError(f"cannot read the picture: {exc}", file=pic,
                       hint="give a video file ffmpeg can decode") from None
    if info.fps != 24 and not options.convert_fps:
        raise DcpError(f"the source runs at {float(info.fps):g} fps; a DCP runs at 24 fps",
                       file=pic, field="fps",
                       hint="re-render at 24 fps, or pass convert_fps=True "
                            "(--convert-fps) to retime it explicitly")
    return info


def default_font() -> Path:
    from ..screenplay.screenplain_api import courier_prime_font

    return courier_prime_font()


class _Subs(BaseModel):
    language: str
    source: Path
    items: list = Field(default_factory=list)
    font: bytes = b""
    others: list[str] = Field(default_factory=list)


def _check_subtitles(subtitles: dict[str, Path], options: DcpOptions) -> _Subs:
    """Pick the reel's MainSubtitle (the DCP's language if captioned, else the first) and
    refuse, before any encode, what could not be shown: unreadable SRT, missing glyphs."""
    import srt

    lang = options.language if options.language in subtitles else next(iter(subtitles))
    src = Path(subtitles[lang])
    if not src.is_file():
        raise DcpError("subtitle file not found", file=src, field=f"subtitles.{lang}",
                       hint="give one SRT file per language")
    try:
        items = list(srt.parse(src.read_text(encoding="utf-8-sig")))
    except (srt.SRTParseError, UnicodeDecodeError, ValueError) as exc:
        raise DcpError(f"not a readable SRT file: {exc}", file=src,
                       field=f"subtitles.{lang}", hint="fix or re-export the captions") from None
    font_path = Path(options.subtitle_font or default_font())
    try:
        font = font_path.read_bytes()
        have = subtitle.font_codepoints(font)
    except Exception as exc:  # noqa: BLE001 - any failure to read it is a bad font file
        raise DcpError(f"cannot read the subtitle font: {exc}", file=font_path,
                       field="subtitle_font", hint="give an OpenType/TrueType font") from None
    shown = subtitle.subtitle_chars(subtitle.subtitle_xml(items, title="-", language=lang))
    missing = sorted(c for c in shown if ord(c) not in have)
    if missing:
        raise DcpError(f"the subtitle font has no glyph for {' '.join(missing[:20])}",
                       file=font_path, field="subtitle_font",
                       hint=f"pass subtitle_font= (--subtitle-font) a font covering the "
                            f"{lang} captions of {src.name}")
    if len(font) > 655_360:
        raise DcpError(f"the subtitle font is {len(font)} bytes; a DCP allows 640 KiB",
                       file=font_path, field="subtitle_font", hint="use a smaller font")
    return _Subs(language=lang, source=src, items=items, font=font,
                 others=[k for k in subtitles if k != lang])


def _master_provenance(pic: Path) -> dict:
    try:
        from ..provenance import verify

        rep = verify(pic)
        return {"has_manifest": rep.has_manifest, "active_manifest": rep.active_manifest,
                "validation_state": rep.validation_state, "signer": rep.signer,
                "actions": rep.actions, "digital_source_types": rep.digital_source_types,
                "ingredients": [i.model_dump() for i in rep.ingredients],
                "valid_apart_from_trust": rep.valid_apart_from_trust}
    except Exception as exc:  # noqa: BLE001 - the report says why instead
        return {"has_manifest": False, "error": str(exc)}


def _write_provenance(res: DcpResult, pic: Path, out: Path) -> None:
    data = {"dcp": res.path, "title": res.path and Path(res.path).name, "cpl_id": res.cpl_id,
            "note": "A DCP cannot carry C2PA; this report links it to its signed master.",
            "master": {"path": str(pic), "sha256": _sha256(pic),
                       "c2pa": _master_provenance(pic)},
            "files": [f.model_dump() for f in res.files], "generated": _issued()}
    pj = out.with_name(out.name + ".provenance.json")
    ph = out.with_name(out.name + ".provenance.html")
    from ..store.yamlio import atomic_write_text

    atomic_write_text(pj, json.dumps(data, indent=2))
    rows = "".join(f"<tr><td>{html.escape(f.path)}</td><td>{f.size}</td>"
                   f"<td><code>{f.sha256}</code></td></tr>" for f in res.files)
    c2 = data["master"]["c2pa"]
    atomic_write_text(ph, (
        "<!doctype html><meta charset='utf-8'><title>DCP provenance</title>"
        f"<h1>Provenance of DCP {html.escape(Path(res.path).name)}</h1>"
        f"<p>{html.escape(data['note'])}</p><h2>Source master</h2>"
        f"<p>{html.escape(str(pic))}<br>sha256 <code>{data['master']['sha256']}</code><br>"
        f"C2PA manifest: {'yes' if c2.get('has_manifest') else 'none'} "
        f"{html.escape(str(c2.get('validation_state') or c2.get('error') or ''))}</p>"
        f"<pre>{html.escape(json.dumps(c2, indent=2))}</pre>"
        f"<h2>DCP files</h2><table><tr><th>file</th><th>bytes</th><th>sha256</th></tr>"
        f"{rows}</table>"))
    res.provenance_json, res.provenance_html = str(pj), str(ph)


def export_dcp(picture: Path, audio: Path | list[Path], out_dir: Path,
               options: DcpOptions, *, subtitles: dict[str, Path] | None = None,
               progress: Callable[[float], None] | None = None,
               workers: int = 2) -> DcpResult:
    """Build a SMPTE DCP from ``picture`` (+ ``audio``) into ``out_dir`` (atomically)."""
    pic = Path(picture)
    audios = [Path(a) for a in (audio if isinstance(audio, list) else [audio])]
    out_dir = Path(out_dir)
    info = _check_inputs(pic, audios, options)
    subs = _check_subtitles(subtitles, options) if subtitles else None
    if out_dir.exists():
        raise DcpError("the output folder already exists", file=out_dir,
                       hint="remove it or choose another folder")
    notes: list[str] = []
    fps_filter = None
    frames = info.frames
    if info.fps != 24:
        frames = round(info.duration * 24)
        fps_filter = "fps=24"
        notes.append(f"picture converted from {float(info.fps):g} fps to 24 fps "
                     "(frames dropped/duplicated, running time kept)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=out_dir.name + ".partial-", dir=out_dir.parent))
    try:
        step = (lambda f: progress(0.9 * f)) if progress else None
        j2c = pict.encode_picture(pic, frames, work / "j2c", options.container,
                                     fps_filter=fps_filter, workers=workers, progress=step)
        frames = len(j2c)
        if frames == 0:
            raise DcpError("the picture has no frames", file=pic, hint="check the master")
        size = pict.CONTAINERS[options.container]
        pid, sid = uuid.uuid4(), uuid.uuid4()
        pmxf, smxf = work / f"j2c_{pid}.mxf", work / f"pcm_{sid}.mxf"
        mxf.write_picture(pmxf, j2c, size, pid, options.issuer, size)
        shutil.rmtree(work / "j2c")
        pcm = sound.pcm24(audios, options.audio, frames)
        mxf.write_sound(smxf, pcm, sound.CHANNELS[options.audio], sid, options.issuer)
        if progress:
            progress(0.95)
        issued = _issued()
        cpl_id, pkl_id, am_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        reel = cpl.Reel(str(pid), str(sid), frames, f"{size[0]} {size[1]}",
                        pkl.sha1_b64(pmxf), pkl.sha1_b64(smxf))
        tracks = [pmxf, smxf]
        if subs and not any(it.start.total_seconds() < frames / 24 for it in subs.items):
            notes.append(f"{subs.language} subtitles ({subs.source.name}): no caption "
                         "inside the picture, no subtitle track")
            subs = None
        if subs:
            tid, reel_id, font_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            xml = subtitle.subtitle_xml(subs.items, title=options.title,
                                        language=subs.language, reel_id=str(reel_id),
                                        issued=issued, max_s=frames / 24,
                                        font_id=str(font_id))
            tmxf = work / f"sub_{tid}.mxf"
            timed_text.write_timed_text(
                tmxf, xml.encode("utf-8"), asset=tid, resource_id=reel_id, duration=frames,
                language=subs.language, issuer=options.issuer,
                resources=[timed_text.Resource(font_id, subs.font)])
            reel.subtitle_id, reel.subtitle_hash = str(tid), pkl.sha1_b64(tmxf)
            reel.subtitle_language = subs.language
            tracks.append(tmxf)
            notes.append(f"{subs.language} subtitles ({subs.source.name}) in the DCP as an "
                         f"ST 429-5 track file")
            if subs.others:
                notes.append("one MainSubtitle per reel: " + ", ".join(subs.others)
                             + " not in this DCP")
        cpl_path = work / f"cpl_{cpl_id}.xml"
        cpl_path.write_text(cpl.cpl_xml(cpl_id, options.title, options.kind, options.issuer,
                                        issued, str(uuid.uuid4()), reel), encoding="utf-8")
        assets = [pkl.PklAsset(cpl_id, cpl_path, "text/xml", pkl.sha1_b64(cpl_path)),
                  pkl.PklAsset(str(pid), pmxf, "application/mxf", reel.picture_hash),
                  pkl.PklAsset(str(sid), smxf, "application/mxf", reel.sound_hash)]
        if subs:
            assets.append(pkl.PklAsset(reel.subtitle_id, tracks[2], "application/mxf",
                                       reel.subtitle_hash))
        pkl_path = work / f"pkl_{pkl_id}.xml"
        pkl_path.write_text(pkl.pkl_xml(pkl_id, options.title, options.issuer, issued, assets),
                            encoding="utf-8")
        (work / "VOLINDEX.xml").write_text(assetmap.volindex_xml(), encoding="utf-8")
        am = [(pkl_id, pkl_path)] + [(a.id, a.path) for a in assets]
        # ASSETMAP last: its presence marks the folder complete, and only after the rename
        (work / "ASSETMAP.xml").write_text(
            assetmap.assetmap_xml(am_id, options.issuer, issued, pkl_id, am), encoding="utf-8")
        os.chmod(work, 0o755)
        os.rename(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    files = [DcpFile(path=p.name, size=p.stat().st_size, sha256=_sha256(p),
                     sha1_b64=pkl.sha1_b64(p)) for p in sorted(out_dir.iterdir())]
    res = DcpResult(path=str(out_dir), cpl_id=cpl_id, pkl_id=pkl_id, picture_id=str(pid),
                    sound_id=str(sid), frames=frames, duration_s=frames / 24,
                    container=options.container, size=size, source_fps=str(info.fps),
                    converted_fps=fps_filter is not None, notes=notes, files=files,
                    subtitle_id=reel.subtitle_id, subtitle_language=reel.subtitle_language,
                    subtitle_reel_id=str(reel_id) if subs else "")
    _write_provenance(res, pic, out_dir)
    if progress:
        progress(1.0)
    return res
