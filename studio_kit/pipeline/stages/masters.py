"""Picture and masters: ``assemble`` (the graded shots, cards and transitions cut into one
picture by smart render: only transition regions are re-encoded, kept as
``transition_region`` pieces), ``masters`` (the H.264/AAC MP4 master with dub and caption
tracks, ``mux``; the ProRes 422 HQ master beside it on a worker thread, ``prores``, whose
pieces a new picture starts encoding before the sound is ready), ``certify`` (C2PA on both
masters, the signed shots as ingredients) and ``summary`` (streams, durations, loudness of
the delivered master)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ... import provenance as pv
from ...edit import mux
from ...edit.assemble import assemble
from ...edit.mux import true_peak_dbtp
from ...edit.pieces import VaultPieces
from ...edit.probe import probe
from ...edit.timeline import Timeline
from ...store.hashing import file_hash
from ...store.yamlio import atomic_write_text
from ..context import RenderContext
from ..models import RenderResult, StageRow
from ..runner import StageContext, StageProduct, StageRunner
from .base import Stage
from .shots import h264_tag
from .timing import PicturePlan


def assemble_picture(r: RenderContext, plan: PicturePlan, graded: dict[str, str]):
    timeline = plan.with_clips({sid: r.vault.get(d) for sid, d in graded.items()})
    tl_inputs = timeline.model_dump(mode="json")
    for item in tl_inputs["items"]:
        if item.get("clip"):
            item["clip"] = Path(item["clip"]).name  # vault objects are named by digest

    def fn(ctx: StageContext) -> StageProduct:
        dst = ctx.file("picture.mp4")
        res = assemble(timeline, dst, work_dir=ctx.workdir / "work",
                       pieces=VaultPieces(r.vault, "transition_region", force=r.options.force))
        return StageProduct(files={"picture": dst}, meta={
            "frames": res.frames, "duration_s": res.duration_s,
            "copied_frames": res.copied_frames, "rendered_frames": res.rendered_frames,
            "regions": res.regions, "regions_reused": res.regions_reused,
            "timeline": res.timeline.model_dump(mode="json")})

    return r.runner.run("assemble", tl_inputs, fn, version=h264_tag())


def prores_pieces_early(r: RenderContext, picture):
    """A new picture's ProRes pieces need no sound: encode them on the picture thread while
    the sound is conformed (the ``prores`` stage then only concatenates). Nothing when the
    picture came from the cache (the ProRes master then comes from it too)."""
    if not r.options.prores or picture.cache_hit or r.options.force:
        return None  # (a forced prores stage re-encodes every piece itself)
    return r.picture_pool.submit(mux.prores_pieces, picture.path("picture"),
                                 VaultPieces(r.vault, "prores_piece"),
                                 work_dir=r.vault.root / "tmp")


def wait_quietly(future) -> None:
    """Join an early, optional job: if it failed, the stage that needs its work redoes it
    and reports the error there (with the stage's context)."""
    try:
        future.result()
    except Exception:  # noqa: BLE001 - re-raised by the stage that redoes the work
        pass


def prores_master(r: RenderContext, picture, sound, primary: str, *,
                  runner: StageRunner | None = None):
    inputs = {"picture": picture.digest("picture"),
              "sound": sound.outputs if sound else None, "primary": primary}

    def fn(ctx: StageContext) -> StageProduct:
        dubs = {k[4:]: r.vault.get(d) for k, d in (sound.outputs if sound else {}).items()
                if k.startswith("dub:")}
        dst = ctx.file("master.mov")
        report = mux.ProresReport()
        info = mux.prores_master(picture.path("picture"), dst,
                                 audio=sound.path("master") if sound else None,
                                 audio_language=primary, dubs=dubs,
                                 pieces=VaultPieces(r.vault, "prores_piece",
                                                    force=r.options.force),
                                 report=report)
        return StageProduct(files={"master": dst}, meta={"info": info.model_dump(mode="json"),
                                                         "pieces": report.model_dump()})

    return (runner or r.runner).run("prores", inputs, fn, version="2")


def mux_master(r: RenderContext, picture, sound, captions, primary: str):
    inputs = {"picture": picture.digest("picture"),
              "sound": sound.outputs if sound else None,
              "captions": captions.outputs if captions else None, "primary": primary,
              "ceiling_dbtp": r.project.series.loudness.peak}

    def fn(ctx: StageContext) -> StageProduct:
        dubs = {k[4:]: r.vault.get(d) for k, d in (sound.outputs if sound else {}).items()
                if k.startswith("dub:")}
        subs = {}
        for key, d in (captions.outputs if captions else {}).items():
            lang, fmt = key.split(":")
            if fmt == "srt":  # ffmpeg's srt demuxer wants the extension
                subs[lang] = ctx.file(f"{lang}.srt")
                shutil.copyfile(r.vault.get(d), subs[lang])
        dst = ctx.file("master.mp4")
        report = mux.MuxReport()
        info = mux.mux_master(
            picture.path("picture"), dst, audio=sound.path("master") if sound else None,
            audio_language=primary, dubs=dubs, subtitles=subs,
            title=f"{r.project.series.title} - {r.episode} {r.sb.title}".strip(),
            aac_cache=VaultPieces(r.vault, "aac_track", force=r.options.force), report=report,
            ceiling_dbtp=r.project.series.loudness.peak)  # held on the delivered AAC
        return StageProduct(files={"master": dst}, meta={"info": info.model_dump(mode="json"),
                                                         "aac": report.model_dump()})

    return r.runner.run("mux", inputs, fn, version="3")


def certify_masters(r: RenderContext, mp4, mov, signed: dict[str, str], creds,
                    result: RenderResult):
    """Sign the MP4 master (the signed shots as ingredients) and the ProRes master (the MP4
    master as its parent)."""
    cards = sum(1 for s in r.sb.acts if s.kind.value == "act" and s.title) + \
        int(r.sb.title_card) + int(bool(r.sb.hook_card))
    transitions = sorted({s.transition.kind.value for s in r.sb.shots})
    actions = [
        pv.EditAction(action="c2pa.color_adjustments",
                      description="each shot matched to its scene's reference look "
                                  "(CIELAB transfer) plus the series look LUT"),
        pv.EditAction(action="c2pa.edited",
                      description=f"assembled from the storyboard: transitions "
                                  f"{', '.join(transitions)}; {cards} title/act/hook cards"),
        pv.EditAction(action="c2pa.edited",
                      description="sound: dialogue (TTS), music, ambience and effects mixed "
                                  f"and mastered to {r.project.series.loudness.lufs:g} LUFS; "
                                  f"dubs: {', '.join(r.languages[1:]) or 'none'}; captions"),
        pv.EditAction(action="c2pa.transcoded",
                      description="H.264/AAC MP4 master with dub and subtitle tracks"),
    ]
    inputs = {"mp4": mp4.digest("master"), "mov": mov.digest("master") if mov else None,
              "shots": signed, "actions": [a.model_dump(mode="json") for a in actions],
              "cert": file_hash(creds.cert_chain), "alg": creds.alg}
    name = f"episode-{r.episode}"

    def fn(ctx: StageContext) -> StageProduct:
        # vault objects are read in place (no copies): they have no suffix, so the MIME
        # type is given; signing writes new files in the stage's scratch folder
        ingredients = [pv.MasterIngredient(shot_id=sid, path=r.vault.get(digest),
                                           format="video/mp4")
                       for sid, digest in signed.items()]
        src = mp4.path("master")
        dst = pv.sign_master(src, ctx.file(f"{name}.mp4"), ingredients=ingredients,
                             actions=actions, creds=creds,
                             extra={"series": r.project.series.title, "episode": r.episode,
                                    "shots": list(signed)})
        files = {"mp4": dst, "mp4_report": pv.write_report(
            pv.verify(dst, development=creds.development), ctx.file(f"{name}.mp4.c2pa.json"))}
        if mov is not None:
            files["mov"] = pv.sign_derivative(
                mov.path("master"), ctx.file(f"{name}.mov"), parent=dst, creds=creds,
                action=pv.EditAction(action="c2pa.transcoded",
                                     description="ProRes 422 HQ master"))
            files["mov_report"] = pv.write_report(
                pv.verify(files["mov"], development=creds.development),
                ctx.file(f"{name}.mov.c2pa.json"))
        return StageProduct(files=files)

    return r.runner.run("certify", inputs, fn, version="2")


def qc_summary(r: RenderContext, master_digest: str, sound):
    """Streams, durations and loudness of the delivered master (one JSON record)."""
    def fn(ctx: StageContext) -> StageProduct:
        info = probe(r.vault.get(master_digest), packets=True)  # read in place
        v = info.video
        audio = info.of_type("audio")
        video_s = v.frames / (v.fps or r.format.fps)
        meta = {"video": {"codec": v.codec, "width": v.width, "height": v.height,
                          "fps": v.fps, "frames": v.frames, "duration_s": round(video_s, 4)},
                "audio": [{"codec": a.codec, "language": a.language,
                           "duration_s": round(a.duration_s, 4),
                           "true_peak_dbtp": round(true_peak_dbtp(  # as delivered (decoded)
                               r.vault.get(master_digest), stream=n), 2)}
                          for n, a in enumerate(audio)],
                "subtitles": [s.language for s in info.of_type("subtitle")],
                "av_offset_s": round(max((abs(a.duration_s - video_s) for a in audio),
                                         default=0.0), 4),
                "loudness": sound.meta["loudness"] if sound else {}}
        return StageProduct(meta=meta)

    return r.runner.run("summary", {"master": master_digest}, fn, version="2")


class DeliverShotsStage(Stage):
    """The signed shots and their C2PA reports copied into the output folder's shots/."""

    name = "deliver_shots"
    requires = ("sign", "grade")

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        creds = ctx.credentials() if ctx.options.sign else None
        for sid, digest in ctx.product("sign", "signed").items():
            ctx.export(digest, ctx.ep_dir / "shots" / f"{sid}.mp4")
            ctx.result.shot_reports[sid] = str(ctx.export(
                ctx.shot_reports[sid], ctx.ep_dir / "shots" / f"{sid}.mp4.c2pa.json"))
        return {"creds": creds}


class AssembleStage(Stage):
    """The picture (smart render); the edit as assembled is written beside the master
    (``<episode>.timeline.json``) and each shot's start moves to the master's clock. A new
    picture's ProRes pieces start encoding on the picture thread."""

    name = "assemble"
    requires = ("timing", "grade", "deliver_shots")
    runner_stages = ("assemble",)

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        result, plan = ctx.result, ctx.product("timing", "plan")
        picture = assemble_picture(ctx, plan, ctx.product("grade", "graded"))
        result.duration_s = picture.meta["duration_s"]
        early = prores_pieces_early(ctx, picture)
        timeline = Timeline.model_validate(picture.meta["timeline"])
        result.timeline = str(ctx.ep_dir / f"{ctx.name}.timeline.json")  # the edit as cut
        atomic_write_text(Path(result.timeline), timeline.model_dump_json(indent=1))
        content = plan.content_starts(timeline)
        for rec in result.shots:  # the shot's content on the master's clock
            rec.start_s = round(content[rec.shot_id], 4)
        return {"picture": picture, "timeline": timeline, "prores_pieces": early}


class MastersStage(Stage):
    """The MP4 master (``mux``) and, beside it on the worker thread, the ProRes master
    (``prores``, when ``options.prores``)."""

    name = "masters"
    requires = ("assemble", "conform", "captions")
    runner_stages = ("mux", "prores")

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        picture = ctx.product("assemble", "picture")
        sound = ctx.product("conform", "sound")
        captions = ctx.product("captions", "captions")
        primary = ctx.languages[0]
        early = ctx.product("assemble", "prores_pieces")
        if early is not None:
            wait_quietly(early)  # its pieces are in the vault now; the stage concatenates
        mov_future = ctx.in_thread(prores_master, picture, sound, primary) \
            if ctx.options.prores else None
        mp4 = mux_master(ctx, picture, sound, captions, primary)
        mov = ctx.joined(mov_future) if mov_future else None
        return {"mp4": mp4, "mov": mov}


class CertifyStage(Stage):
    """Both masters signed (when ``options.sign``) and copied into the output folder."""

    name = "certify"
    requires = ("sign", "deliver_shots", "masters")
    runner_stages = ("certify",)

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        result, ep_dir, name = ctx.result, ctx.ep_dir, ctx.name
        mp4, mov = ctx.product("masters", "mp4"), ctx.product("masters", "mov")
        creds = ctx.product("deliver_shots", "creds")
        if creds is not None:
            cert = certify_masters(ctx, mp4, mov, ctx.product("sign", "signed"), creds, result)
            mp4_digest, mov_digest = cert.digest("mp4"), cert.outputs.get("mov")
            result.provenance_report = str(ctx.export(cert.digest("mp4_report"),
                                                      ep_dir / f"{name}.mp4.c2pa.json"))
            if "mov_report" in cert.outputs:
                ctx.export(cert.digest("mov_report"), ep_dir / f"{name}.mov.c2pa.json")
        else:
            mp4_digest = mp4.digest("master")
            mov_digest = mov.digest("master") if mov else None
        result.master = str(ctx.export(mp4_digest, ep_dir / f"{name}.mp4"))
        if mov_digest:
            result.prores = str(ctx.export(mov_digest, ep_dir / f"{name}.mov"))
        return {"mp4": mp4_digest, "mov": mov_digest}


class SummaryStage(Stage):
    """The delivered master's streams, durations and loudness (``<episode>.qc.json``)."""

    name = "summary"
    requires = ("conform", "certify")
    runner_stages = ("summary",)

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        summary = qc_summary(ctx, ctx.product("certify", "mp4"),
                             ctx.product("conform", "sound"))
        atomic_write_text(ctx.ep_dir / f"{ctx.name}.qc.json",
                          json.dumps(summary.meta, indent=2))
        return {"summary": summary.meta}


class ReportStage(Stage):
    """The render record's last fields: each shot's kept QC scores, the stage rows (cache
    hits and times) and their summary."""

    name = "report"
    requires = ("sign", "summary")

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        result = ctx.result
        qc_reports = ctx.product("sign", "qc_reports")
        for rec in result.shots:
            qc = qc_reports.get(rec.shot_id)
            if qc is not None:
                scores = [x for x in qc["scores"] if not x.get("skipped")]
                rec.qc = {x["metric"]: x["value"] for x in scores}
                rec.qc_passed = all(x["passed"] for x in scores)
        result.stages = [StageRow(stage=o.stage, subject=o.subject, cache_hit=o.cache_hit,
                                  seconds=round(o.seconds, 4)) for o in ctx.runner.results]
        result.stage_summary = ctx.runner.summary()
        return {"result": result}
