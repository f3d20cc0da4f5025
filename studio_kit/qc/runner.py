"""Run QC on a generated shot: decode, find figure regions, get references, score, record.

References are locked frames measured once per (scene or character + outfit, camera angle,
engine, format) and cached in the vault's stage cache (stage ``qc-reference``), so every
shot of that framing is compared with the same frame. With the local engine they are
rendered: a drift-free still of the scene at the shot's angle without figures, and of each
character alone on their mark in that scene at that angle (framing matters: atmosphere
between camera and figure changes colours, and small faces measure differently). For other
engines pass them in (measured on an approved frame with ``character_reference`` /
``scene_reference``).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from ..engines.base import Drift, EngineRequest, EngineResult, ResolvedCharacter, ShotSpec
from ..hashing import stable_hash
from ..models import Camera, CastMember, Shot, Tier
from ..registry import ENGINES
from ..vault import Vault
from .base import QCContext, QCReport, RegionsFn, load_media, record_report, run_scorers
from .references import CharacterReference, SceneReference, character_reference, scene_reference


def _engine_module(engine_name: str):
    if engine_name not in ENGINES:
        return None
    obj = ENGINES.get(engine_name)
    mod = getattr(obj, "__module__", "") or ""
    for name in (mod.rsplit(".", 1)[0], mod):
        try:
            m = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(m, "figure_regions"):
            return m
    return None


def nominal(request: EngineRequest) -> EngineRequest:
    """The request as intended: drift removed (QC must not learn the drift from the engine)."""
    return request.model_copy(update={"drift": Drift()})


def regions_for(engine_name: str, request: EngineRequest) -> RegionsFn | None:
    mod = _engine_module(engine_name)
    if mod is None:
        return None
    req = nominal(request)

    def regions(character_id: str, t: float) -> dict:
        return mod.figure_regions(req, character_id, t)

    return regions


def _reference_request(spec: ShotSpec, base: EngineRequest, cast: list[ResolvedCharacter],
                       tag: str) -> EngineRequest:
    shot = Shot(id=f"ref-{tag}"[:64], scene=spec.scene.id,
                characters=[CastMember(character=rc.character.id, outfit=rc.outfit_id,
                                       mark=rc.mark) for rc in cast],
                camera=Camera(angle=spec.shot.camera.angle,
                              subject=spec.shot.camera.subject
                              if spec.shot.camera.subject in {rc.character.id for rc in cast}
                              else None),
                duration_s=1.0)
    ref_spec = ShotSpec(episode=spec.episode, shot=shot, scene=spec.scene, characters=cast,
                        bible_version=spec.bible_version)
    return EngineRequest(spec=ref_spec, seed=0, format=base.format, duration_s=1.0)


def _encoded_still(mod, request: EngineRequest, vault: Vault):
    """The reference frame as the engine delivers it: rendered, encoded with the engine's
    own settings and decoded like any shot (so codec and colour-matrix effects cancel)."""
    frame = mod.frame_at(request, 0.0)
    encode = getattr(mod, "encode_stream", None)
    if encode is None:
        return frame, 1.0
    with vault.writer(".mp4") as (tmp, _out):
        encode([frame] * 3, tmp, request.format)
        media = load_media(tmp)
    return media.frames[1], media.scale


def _cached(vault: Vault, key: str, make) -> dict:
    rec = vault.lookup("qc-reference", key)
    if rec is not None:
        return json.loads(vault.get(rec.outputs["reference"]).read_text(encoding="utf-8"))
    data = make()
    digest = vault.put_bytes(json.dumps(data, sort_keys=True).encode("utf-8"))
    vault.remember("qc-reference", key, {"reference": digest})
    return data


def references_for(engine_name: str, request: EngineRequest, vault: Vault
                   ) -> tuple[SceneReference | None, dict[str, CharacterReference]]:
    """Scene and character references for a shot (rendered by engines that can)."""
    mod = _engine_module(engine_name)
    if mod is None or not hasattr(mod, "frame_at"):
        return None, {}
    spec = request.spec
    fmt = request.format.model_dump(mode="json")

    def make_scene() -> dict:
        req = _reference_request(spec, request, [], spec.scene.id)
        frame, _scale = _encoded_still(mod, req, vault)
        return scene_reference(spec.scene.id, frame, [],
                               source=f"{engine_name} still").model_dump()

    scene_key = stable_hash("qc-scene-ref", 13, engine_name, fmt, spec.scene,
                           spec.shot.camera.angle.value)
    scene_ref = SceneReference.model_validate(_cached(vault, scene_key, make_scene))
    chars: dict[str, CharacterReference] = {}
    for rc in spec.characters:
        cid = rc.character.id

        def make_char(rc: ResolvedCharacter = rc) -> dict:
            req = _reference_request(spec, request, [rc], rc.character.id)
            frame, scale = _encoded_still(mod, req, vault)
            regions = mod.figure_regions(req, rc.character.id, 0.0)
            return character_reference(rc.character.id, frame, regions, scale,
                                       source=f"{engine_name} still").model_dump()

        key = stable_hash("qc-char-ref", 16, engine_name, fmt, spec.scene, rc,
                         spec.shot.camera.angle.value, spec.shot.camera.subject)
        chars[cid] = CharacterReference.model_validate(_cached(vault, key, make_char))
    return scene_ref, chars


def qc_clip(path: str | Path, request: EngineRequest, engine_name: str, *, vault: Vault,
            tier: Tier | str = Tier.standard, asset: str | None = None,
            scorers: list[str] | None = None, options: dict[str, Any] | None = None,
            scene_ref: SceneReference | None = None,
            character_refs: dict[str, CharacterReference] | None = None) -> QCReport:
    media = load_media(path)
    if scene_ref is None and character_refs is None:
        scene_ref, character_refs = references_for(engine_name, request, vault)
    ctx = QCContext(spec=request.spec, media=media, tier=tier, request=request,
                    regions=regions_for(engine_name, request),
                    character_refs=character_refs or {}, scene_ref=scene_ref, asset=asset,
                    options=dict(options or {}))
    return run_scorers(ctx, scorers)


def qc_result(result: EngineResult, request: EngineRequest, *, vault: Vault, ledger=None,
              run_id: int | None = None, tier: Tier | str = Tier.standard,
              attempt: int | None = None, scorers: list[str] | None = None,
              options: dict[str, Any] | None = None) -> QCReport:
    """QC a generated shot from the vault and (optionally) record every score."""
    report = qc_clip(vault.get(result.asset), request, result.engine, vault=vault, tier=tier,
                     asset=result.asset, scorers=scorers, options=options)
    if ledger is not None:
        record_report(report, ledger, run_id=run_id, attempt=attempt)
    return report


#: the scorers a production QC pass runs by default (vlm and embedding skip themselves when
#: nothing is configured)
DEFAULT_SCORERS = ["technical", "character", "continuity", "embedding", "lipsync", "vlm"]
