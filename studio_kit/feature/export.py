"""Feature exports: MP4 (H.264/AAC, chapters, captions per language, C2PA with the episodes'
masters as ingredients), ProRes 422 HQ master, and the DCP through ``studio_kit.dcp``."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from ..edit.captions import Caption, read_srt, to_srt
from ..edit.mux import iso639_2
from ..store.yamlio import atomic_write_text
from .assemble import FeatureResult, _run, assemble_feature, resolve_sources
from .model import Feature


class ExportResult(BaseModel):
    mp4: str
    captions: dict[str, str] = Field(default_factory=dict)
    prores: str | None = None
    dcp: str | None = None
    dcp_provenance: str | None = None
    dcp_subtitles: dict[str, str] = Field(default_factory=dict, description=(
        "language -> ST 428-7 subtitle document written beside the DCP"))
    notes: list[str] = Field(default_factory=list)
    signed: bool = False
    assembly: FeatureResult


def feature_captions(feature: Feature, root: Path, result: FeatureResult,
                     out_dir: Path) -> dict[str, str]:
    """One SRT per language: the episodes' captions shifted to their place in the feature."""
    srcs = resolve_sources(feature, root)
    starts = {c.title: c.start_s for c in result.chapters}
    subs: dict[str, list[Caption]] = {}
    for s in srcs:
        rec = json.loads(Path(s.render_json).read_text())
        at = starts.get(f"{Path(s.series_dir).name} {s.episode}", 0.0)
        for lang, files in (rec.get("captions") or {}).items():
            path = files.get("srt") if isinstance(files, dict) else None
            if not path or not Path(path).is_file():
                continue
            for c in read_srt(Path(path).read_text()):
                subs.setdefault(lang, []).append(c.model_copy(
                    update={"start_s": c.start_s + at, "end_s": c.end_s + at}))
    out: dict[str, str] = {}
    for lang, items in subs.items():
        p = out_dir / f"{feature.id}.{lang}.srt"
        atomic_write_text(p, to_srt(items))
        out[lang] = str(p)
    return out


def export_feature(feature: Feature, root: str | Path, out_dir: str | Path, *,
                   prores: bool = True, dcp: bool = False, sign: bool = True,
                   file: str | None = None,
                   progress: Callable[[str, float], None] | None = None) -> ExportResult:
    root, out_dir = Path(root), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda stage, f: None)
    say("assemble", 0.0)
    joined = out_dir / f".{feature.id}.joined.mp4"
    res = assemble_feature(feature, root, joined, file=file)
    say("captions", 0.4)
    caps = feature_captions(feature, root, res, out_dir)
    mp4 = out_dir / f"{feature.id}.mp4"
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".{feature.id}.") as tmpd:
        part = Path(tmpd) / mp4.name
        args = ["-i", str(joined)]
        for p in caps.values():
            args += ["-i", p]
        args += ["-map", "0:v", "-map", "0:a"]
        for i, lang in enumerate(caps):
            args += ["-map", f"{i + 1}:0", f"-metadata:s:s:{i}", f"language={iso639_2(lang)}"]
        args += ["-map_chapters", "0", "-c", "copy", "-c:s", "mov_text",
                 "-movflags", "+faststart", str(part)]
        _run(args, "write the feature MP4")
        signed = False
        if sign:
            from .. import provenance as pv

            srcs = resolve_sources(feature, root)
            ings = [pv.MasterIngredient(shot_id=f"{Path(s.series_dir).name}-{s.episode}",
                                        path=Path(s.master)) for s in srcs]
            creds = pv.load_credentials(root)
            actions = [pv.EditAction(action="c2pa.edited", description=(
                f"feature {feature.id}: episodes joined, sound mastered once"))]
            pv.sign_master(part, part, ingredients=ings, actions=actions, creds=creds)
            signed = True
        part.replace(mp4)
    result = ExportResult(mp4=str(mp4), captions=caps, signed=signed, assembly=res)
    if prores:
        say("prores", 0.6)
        mov = out_dir / f"{feature.id}.prores.mov"
        tmp = out_dir / f".{feature.id}.prores.part.mov"
        _run(["-i", str(joined), "-map", "0:v", "-map", "0:a", "-c:v", "prores_ks",
              "-profile:v", "3", "-pix_fmt", "yuv422p10le", "-c:a", "pcm_s24le",
              str(tmp)], "encode the ProRes 422 HQ master")
        if sign:  # QuickTime carries C2PA too: the episodes are its ingredients as well
            pv.sign_master(tmp, tmp, ingredients=ings, actions=[pv.EditAction(
                action="c2pa.transcoded", description=(
                    f"feature {feature.id}: ProRes 422 HQ master of the joined episodes"))],
                creds=creds)
        tmp.replace(mov)
        result.prores = str(mov)
    if dcp:
        say("dcp", 0.7)
        from ..dcp import DcpOptions, export_dcp

        # from the signed MP4: the DCP's provenance report links it to the feature's
        # manifest and, through it, to the episodes (a DCP cannot carry C2PA itself)
        d = export_dcp(mp4, mp4, out_dir / f"{feature.id}_DCP",
                       DcpOptions(title=feature.title, kind="feature"),
                       progress=lambda f: say("dcp", 0.7 + 0.3 * f))
        result.dcp_provenance = d.provenance_json
        if caps:  # ST 428-7 documents beside the DCP (see studio_kit/dcp/subtitle.py)
            from ..dcp.subtitle import write_subtitles

            for lang, path in caps.items():
                x = write_subtitles(Path(path), out_dir / f"{feature.id}_DCP.{lang}.dcst.xml",
                                    title=feature.title, language=lang, max_s=d.duration_s)
                result.dcp_subtitles[lang] = str(x)
            result.notes.append(
                "DCP subtitles are written as SMPTE ST 428-7 documents beside the DCP, not "
                "wrapped in it: the registries' MXF writer cannot write the ST 429-5 timed "
                "text track file (docs/dcp.md)")
        result.dcp = str(d.path)
    say("done", 1.0)
    return result
