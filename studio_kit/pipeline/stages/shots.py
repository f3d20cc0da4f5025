"""The kept takes, finished per shot: ``sign`` (a C2PA manifest in each generated clip,
and the shot's record) and ``grade`` (each scene's reference look, cached per scene as
``reference``; each shot matched to it and to the series look, keyframed where the
assembler cuts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ... import provenance as pv
from ...edit import grade as g
from ...edit.assemble import keyframe_times
from ...edit.decisions import grade_stage_extras
from ...errors import StudioError
from ...store.hashing import file_hash, is_digest, stable_hash
from ...video_encoding import H264_PARAMS
from ..context import RenderContext
from ..models import ShotRecord
from ..runner import StageContext, StageProduct
from .base import Stage


def h264_tag() -> str:
    """Stages whose output is an H.264 encode re-run when the canonical parameters change."""
    return "1-" + stable_hash(repr(H264_PARAMS))[:8]


def sign_shot(r: RenderContext, shot_id: str, clip_digest: str, info) -> str | None:
    if not r.options.sign:
        return None
    creds = r.credentials()
    inputs = {"clip": clip_digest, "info": info.model_dump(mode="json"),
              "cert": file_hash(creds.cert_chain), "alg": creds.alg}

    def fn(ctx: StageContext) -> StageProduct:
        dst = ctx.file(f"{shot_id}.mp4")
        pv.sign_shot(r.vault.get(clip_digest), dst, info, creds)
        report = pv.write_report(pv.verify(dst, development=creds.development),
                                 ctx.file(f"{shot_id}.mp4.c2pa.json"))
        return StageProduct(files={"signed": dst, "report": report})

    out = r.runner.run("sign", inputs, fn, subject=shot_id, version="2")
    r.shot_reports[shot_id] = out.digest("report")
    return out.digest("signed")


def grade(r: RenderContext, shot, clip_digest: str, reference, keyframes: list[float],
          match_clip: str | None = None) -> str:
    """Match the clip to its scene's reference look (or the ``match_to`` shot's take,
    ``match_clip``) and the series look (one LUT), with the shot's own grade and trim."""
    lut_hash = r.look()[1]
    trim = (shot.trim_in_s, shot.trim_out_s)
    if trim[0]:  # keyframe times in the trimmed clip
        keyframes = [0.0, *(k - trim[0] for k in keyframes if k - trim[0] > 0)]
    inputs = {"clip": clip_digest, "reference": reference.model_dump(mode="json"),
              "look": lut_hash,
              "keyframes": [round(k, 6) for k in keyframes],
              **grade_stage_extras(shot, match_clip)}

    def fn(ctx: StageContext) -> StageProduct:
        ref = g.measure_clip(r.vault.get(match_clip)) if match_clip else reference
        dst, cube_path = ctx.file(f"{shot.id}.graded.mp4"), ctx.file(f"{shot.id}.cube")
        before = g.grade_shot(r.vault.get(clip_digest), dst, ref, cube=cube_path,
                              look=r.look()[2], keyframes=keyframes,
                              name=f"{shot.id} grade", adjust=shot.grade, trim=trim)
        return StageProduct(files={"graded": dst, "lut": cube_path},
                            meta={"before": before.model_dump(mode="json")})

    return r.runner.run("grade", inputs, fn, subject=shot.id,
                        version=h264_tag()).digest("graded")


def scene_references(r: RenderContext, clips: dict[str, str]) -> dict[str, Any]:
    """Each scene's reference look: its reference_frame image, else its first shot
    (one cached ``reference`` stage per scene, keyed by that image or clip)."""
    firsts: dict[str, str] = {}
    for s in r.sb.shots:
        if s.id in clips:
            firsts.setdefault(s.scene, s.id)
    refs: dict[str, Any] = {}
    for scene_id, first in firsts.items():
        scene = r.project.scenes[scene_id]
        image = reference_image(r, scene)
        inputs = {"image": file_hash(image)} if image else {"clip": clips[first]}

        def fn(ctx: StageContext, image=image, first=first) -> StageProduct:
            stats = g.measure_image(image) if image else \
                g.measure_clip(r.vault.get(clips[first]))
            return StageProduct(meta={"lab": stats.model_dump(mode="json")})

        out = r.runner.run("reference", inputs, fn, subject=scene_id)
        refs[scene_id] = g.LabStats.model_validate(out.meta["lab"])
    return refs


def reference_image(r: RenderContext, scene) -> Path | None:
    ref = scene.reference_frame
    if not ref:
        return None
    path = r.project.root / ref
    if not path.is_file() and is_digest(ref) and r.vault.has(ref):
        path = r.vault.get(ref)
    if not path.is_file():
        raise StudioError(f"scene {scene.id}: reference frame {ref!r} not found",
                          file=r.project.root / "scenes" / f"{scene.id}.yaml",
                          field="reference_frame",
                          hint="a project-relative image path or a vault hash")
    return path


class SignStage(Stage):
    """Each kept take signed (C2PA, when ``options.sign``) and its :class:`ShotRecord`:
    engine, seed, cost, failover and attempts (the record is filled on)."""

    name = "sign"
    requires = ("timing", "prompt", "generate")
    runner_stages = ("sign",)

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        sb, proj, result = ctx.sb, ctx.project, ctx.result
        timing_of = ctx.product("timing", "timing_of")
        takes = ctx.product("generate", "takes")
        generated: dict[str, str] = {}
        signed: dict[str, str] = {}
        requests: dict[str, tuple[Any, Any]] = {}
        qc_reports: dict[str, dict[str, Any]] = {}
        for job in ctx.product("prompt", "jobs"):
            shot, take = job.shot, takes[job.shot.id]
            t = timing_of[shot.id]
            res, request, prompt = take.result, take.request, take.prompt
            generated[shot.id] = res.asset
            requests[shot.id] = (job.spec, request)
            if take.qc is not None:
                qc_reports[shot.id] = take.qc
            failures = take.failures + [f"{e}: not used ({why})"
                                        for e, why in job.left_out.items()]
            prompt_hash = stable_hash("prompt", prompt["prompt"],
                                      prompt.get("negative_prompt", ""))
            info = pv.ShotProvenance(episode=ctx.episode, shot_id=shot.id, engine=res.engine,
                                     model=res.model, prompt_hash=prompt_hash,
                                     seed=request.seed, bible_version=job.spec.bible_version,
                                     request_hash=res.request_hash, series=proj.series.title)
            s = sign_shot(ctx, shot.id, res.asset, info)
            if s:
                signed[shot.id] = s
            result.shots.append(ShotRecord(
                shot_id=shot.id, act=sb.act_of(shot.id).id, scene=shot.scene,
                start_s=t.start_s, duration_s=t.duration_s, engine=res.engine,
                model=res.model, seed=request.seed, prompt_hash=prompt_hash,
                cost=res.cost + take.spent, asset=res.asset, signed=s, failover=failures,
                attempts=take.attempts, request=take.request_digest,
                direction=job.direction))
            result.total_cost += res.cost + take.spent
        return {"generated": generated, "signed": signed, "requests": requests,
                "qc_reports": qc_reports}


class GradeStage(Stage):
    """Each shot graded to its scene's reference look (keyframes where the assembler cuts);
    a shot's ``grade.match_to`` matches another shot's take instead."""

    name = "grade"
    requires = ("timing", "sign")
    runner_stages = ("reference", "grade")
    per_shot = True

    def run(self, ctx: RenderContext) -> dict[str, Any]:
        generated = ctx.product("sign", "generated")
        graded: dict[str, str] = {}
        refs = scene_references(ctx, generated)
        for rec in ctx.result.shots:
            sid = rec.shot_id
            graded[sid] = self._grade(ctx, sid, refs, generated)
            rec.graded = graded[sid]
        return {"graded": graded, "references": refs}

    def run_shot(self, ctx: RenderContext, shot_id: str) -> str:
        generated = ctx.product("sign", "generated")
        refs = ctx.products.get("grade", {}).get("references") or \
            scene_references(ctx, generated)
        return self._grade(ctx, shot_id, refs, generated)

    @staticmethod
    def _grade(ctx: RenderContext, sid: str, refs: dict[str, Any],
               generated: dict[str, str]) -> str:
        shot = ctx.sb.shot(sid)
        match = shot.grade.match_to if shot.grade is not None else None
        timeline = ctx.product("timing", "plan").timeline
        return grade(ctx, shot, generated[sid], refs[shot.scene],
                     keyframe_times(timeline, sid), generated.get(match or ""))
