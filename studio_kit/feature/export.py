"""Feature exports: MP4 (H.264/AAC, chapters, captions per language, C2PA with the episodes'
masters as ingredients), ProRes 422 HQ master, and the DCP through ``studio_kit.dcp``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from ..edit.captions import Caption, read_srt, to_srt
from ..edit.mux import iso639_2
from ..models.feature import Feature
from ..progress import ProgressCallback, ProgressEvent
from ..store.yamlio import atomic_write_text
from .assemble import FeatureResult, _run, assemble_feature, resolve_sources


class ExportResult(BaseModel):
    mp4: str
    captions: dict[str, str] = Field(default_factory=dict)
    prores: str | None = None
    dcp: str | None = None
    dcp_provenance: str | None = None
    dcp_subtitles: dict[str, str] = Field(default_factory=dict, description=(
        "language -> its DCP subtitles: the ST 429-5 track file inside the DCP (sub_*.mxf) "
        "for the DCP's language, an ST 428-7 document beside the DCP for the others"))
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


#: the export's stages in order, with their share of the work (measured roughly on the
#: 10-minute feature: JPEG 2000 at 2K dominates a DCP export, then the ProRes encode)
STAGE_WEIGHTS: dict[str, float] = {"pictures": 3.0, "credits": 0.5, "sound": 2.0,
                                   "encodes": 1.0, "prores": 2.0, "dcp": 8.0}


def stage_spans(*, prores: bool, dcp: bool) -> dict[str, tuple[float, float]]:
    """Each stage's (start, end) on the export's 0..1 progress, for these outputs (the
    ProRes encode counts as part of ``encodes``)."""
    w = dict(STAGE_WEIGHTS)
    pr = w.pop("prores")
    if prores:
        w["encodes"] += pr
    if not dcp:
        w.pop("dcp")
    total, t, out = sum(w.values()), 0.0, {}
    for k, v in w.items():
        out[k] = (t / total, (t + v) / total)
        t += v
    return out


class _Progress:
    """The export's progress: each stage's own fraction (``say(stage, f)``, or an event of
    the assembly's) re-emitted as a ``progress`` event whose ``fraction`` is the whole
    export's, never going back; ``stage`` is pictures | credits | sound | encodes | dcp,
    then one ``done`` event of the stage ``export``."""

    def __init__(self, cb: ProgressCallback | None, spans: dict, subject: str) -> None:
        self.cb, self.spans, self.subject, self.last = cb, spans, subject, 0.0

    def __call__(self, stage: str | ProgressEvent, f: float = 0.0) -> None:
        if isinstance(stage, ProgressEvent):  # from assemble_feature
            stage, f = stage.stage, stage.fraction
        lo, hi = self.spans[stage]
        self.last = max(self.last, lo + (hi - lo) * min(1.0, max(0.0, f)))
        if self.cb:
            self.cb(ProgressEvent(stage, self.subject, "progress", self.last))

    def done(self) -> None:
        self.last = 1.0
        if self.cb:
            self.cb(ProgressEvent("export", self.subject, "done", 1.0))


def export_feature(feature: Feature, root: str | Path, out_dir: str | Path, *,
                   prores: bool = True, dcp: bool = False, sign: bool = True,
                   file: str | None = None,
                   progress: ProgressCallback | None = None) -> ExportResult:
    """The MP4, the ProRes master and the DCP of a feature. ``progress``: ``progress``
    events per stage (pictures, credits, sound, encodes, dcp; see :func:`stage_spans`)
    whose ``fraction`` is the whole export's, monotonic, then a ``done`` event of the stage
    ``export`` (subject: the feature's id)."""
    root, out_dir = Path(root), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    say = _Progress(progress, stage_spans(prores=prores, dcp=dcp), feature.id)
    joined = out_dir / f".{feature.id}.joined.mp4"
    res = assemble_feature(feature, root, joined, file=file, progress=say)
    say("encodes", 0.0)
    caps = feature_captions(feature, root, res, out_dir)
    mp4 = out_dir / f"{feature.id}.mp4"
    enc_steps = 3 if prores else 2  # mux, sign, prores (fractions of the encodes stage)
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
        say("encodes", 1 / enc_steps)
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
    say("encodes", 2 / enc_steps)
    result = ExportResult(mp4=str(mp4), captions=caps, signed=signed, assembly=res)
    if prores:
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
    say("encodes", 1.0)
    if dcp:
        say("dcp", 0.0)
        from ..dcp import DcpOptions, export_dcp

        # from the signed MP4: the DCP's provenance report links it to the feature's
        # manifest and, through it, to the episodes (a DCP cannot carry C2PA itself). The
        # captions of the feature's first language (else the first captioned) go inside it
        # as its MainSubtitle (an ST 429-5 track file, studio_kit/dcp/timed_text.py).
        lang = feature.languages[0] if feature.languages else "en"
        d = export_dcp(mp4, mp4, out_dir / f"{feature.id}_DCP",
                       DcpOptions(title=feature.title, kind="feature", language=lang),
                       subtitles={k: Path(v) for k, v in caps.items()} or None,
                       progress=lambda f: say("dcp", f))
        result.dcp_provenance = d.provenance_json
        result.notes += d.notes
        if d.subtitle_id:
            result.dcp_subtitles[d.subtitle_language] = str(
                Path(d.path) / f"sub_{d.subtitle_id}.mxf")
        others = {k: v for k, v in caps.items() if k not in result.dcp_subtitles}
        if others:  # one MainSubtitle per reel: the others as ST 428-7 documents beside it
            from ..dcp.subtitle import write_subtitles

            for k, path in others.items():
                x = write_subtitles(Path(path), out_dir / f"{feature.id}_DCP.{k}.dcst.xml",
                                    title=feature.title, language=k, max_s=d.duration_s)
                result.dcp_subtitles[k] = str(x)
            result.notes.append(
                f"DCP subtitles in {', '.join(others)}: SMPTE ST 428-7 documents beside the "
                "DCP (a reel carries one MainSubtitle; docs/dcp.md)")
        result.dcp = str(d.path)
    say.done()
    return result
