"""Run QC on a generated shot: decode, find figure regions, get references, score, record.

References are locked frames measured once per (scene or character + outfit, camera angle,
the shot's time of day and action, engine, format) and cached in the vault's stage cache (stage ``qc-reference``), so every
shot of that framing is compared with the same frame. With the local engine they are
rendered: a drift-free still of the scene at the shot's angle without figures, and of each
character alone on their mark in that scene at that angle (framing matters: atmosphere
between camera and figure changes colours, and small faces measure differently). For other
engines they are drawn by the embedded engine from the bible (the bible is the truth), or
passed in (measured on an approved frame with ``character_reference`` /
``scene_reference``).

Figure regions: the engine's own (``figure_regions``) when the clip is the engine's drawing
of the request; otherwise (a cloud engine, a clip altered after rendering) the detector of
``qc.detect`` finds the characters (see ``figure_regions_for``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..engines.base import (
    ClipEncoder,
    DrawingEngine,
    Drift,
    EngineRequest,
    EngineResult,
    ResolvedCharacter,
    ShotSpec,
)
from ..engines.factory import get_engine
from ..errors import StudioError
from ..models import Camera, CastMember, Tier
from ..registry import ENGINES
from ..store.hashing import stable_hash
from ..store.vault import Vault
from .base import (
    QCContext,
    QCReport,
    RegionsFn,
    ShotMedia,
    load_media,
    record_report,
    run_scorers,
)
from .references import CharacterReference, SceneReference, character_reference, scene_reference


def _drawing_engine(engine_name: str) -> DrawingEngine | None:
    """The engine as a ``DrawingEngine`` (it draws frames and figure regions on demand),
    or None when it cannot (a cloud engine) or is not registered."""
    if engine_name not in ENGINES:
        return None
    obj = ENGINES.get(engine_name)
    if isinstance(obj, type) and not issubclass(obj, DrawingEngine):
        return None  # not built: a cloud engine's constructor reads its configuration
    eng = get_engine(engine_name)
    return eng if isinstance(eng, DrawingEngine) else None


def nominal(request: EngineRequest) -> EngineRequest:
    """The request as intended: drift removed (QC must not learn the drift from the engine)."""
    return request.model_copy(update={"drift": Drift()})


def regions_for(engine_name: str, request: EngineRequest) -> RegionsFn | None:
    mod = _drawing_engine(engine_name)
    if mod is None:
        return None
    req = nominal(request)

    def regions(character_id: str, t: float) -> dict:
        return mod.figure_regions(req, character_id, t)

    return regions


def _reference_request(spec: ShotSpec, base: EngineRequest, cast: list[ResolvedCharacter],
                       tag: str) -> EngineRequest:
    """The shot as a still: the same set, time of day, action (the embedded engine stages
    figures and frames the camera by it) and angle, only ``cast`` in it, no dialogue, no
    camera move, seed 0."""
    shot = spec.shot.model_copy(update={
        "id": f"ref-{tag}"[:64],
        "characters": [CastMember(character=rc.character.id, outfit=rc.outfit_id,
                                  mark=rc.mark) for rc in cast],
        "camera": Camera(angle=spec.shot.camera.angle,
                         subject=spec.shot.camera.subject
                         if spec.shot.camera.subject in {rc.character.id for rc in cast}
                         else None),
        "dialogue": [], "duration_s": 1.0, "engine": None, "seed": None, "notes": "",
        "source": None, "continue_from_previous": False})
    ref_spec = ShotSpec(episode=spec.episode, shot=shot, scene=spec.scene, characters=cast,
                        bible_version=spec.bible_version)
    return EngineRequest(spec=ref_spec, seed=0, format=base.format, duration_s=1.0)


def _ref_key(kind: str, engine_name: str, request: EngineRequest) -> str:
    """Cache key of a reference still: what it draws (the reference request's shot), not
    which shot asked for it."""
    shot = request.spec.shot.model_dump(mode="json")
    return stable_hash(kind, 18, engine_name, request.format.model_dump(mode="json"),
                       request.spec.scene, request.spec.characters, shot)


def _encoded_still(mod: DrawingEngine, request: EngineRequest, vault: Vault):
    """The reference frame as the engine delivers it: rendered, encoded with the engine's
    own settings and decoded like any shot (so codec and colour-matrix effects cancel)."""
    frame = mod.frame_at(request, 0.0)
    if not isinstance(mod, ClipEncoder):
        return frame, 1.0, None
    with vault.writer(".mp4") as (tmp, _out):
        mod.encode_stream([frame] * 3, tmp, request.format)
        media = load_media(tmp)
        native = media.native_frames([1]).get(1)
    return media.frames[1], media.scale, native


def _cached(vault: Vault, key: str, make) -> dict:
    """A reference from the vault's ``qc-reference`` cache (``store.cache.Cache``: under
    ``--force`` it is drawn and measured again, once per forced run), else ``make()``."""
    from ..store.cache import Cache

    return Cache(vault, "qc-reference").get_or_make(key, "reference", make)


def references_for(engine_name: str, request: EngineRequest, vault: Vault
                   ) -> tuple[SceneReference | None, dict[str, CharacterReference]]:
    """Scene and character references for a shot (rendered by engines that can)."""
    mod = _drawing_engine(engine_name)
    if mod is None:
        return None, {}
    spec = request.spec

    def make_scene() -> dict:
        req = _reference_request(spec, request, [], spec.scene.id)
        frame, _scale, _native = _encoded_still(mod, req, vault)
        return scene_reference(spec.scene.id, frame, [],
                               source=f"{engine_name} still").model_dump()

    # the shot's time of day and action are part of the framing: the embedded engine lights
    # by the one and stages figures and the camera by the other
    scene_key = _ref_key("qc-scene-ref", engine_name,
                         _reference_request(spec, request, [], spec.scene.id))
    scene_ref = SceneReference.model_validate(_cached(vault, scene_key, make_scene))
    chars: dict[str, CharacterReference] = {}
    for rc in spec.characters:
        cid = rc.character.id

        def make_char(rc: ResolvedCharacter = rc) -> dict:
            req = _reference_request(spec, request, [rc], rc.character.id)
            frame, scale, native = _encoded_still(mod, req, vault)
            regions = mod.figure_regions(req, rc.character.id, 0.0)
            from .masks import hair_masks_for

            masks = hair_masks_for(req, frame.shape[:2])
            return character_reference(rc.character.id, frame, regions, scale,
                                       source=f"{engine_name} still", native=native,
                                       hair_mask=None if masks is None
                                       else masks.intended(rc.character.id, 0.0)
                                       ).model_dump()

        # "-2": the visible-hair colour (qc.masks) is part of the reference
        key = _ref_key("qc-char-ref-2", engine_name,
                       _reference_request(spec, request, [rc], rc.character.id))
        chars[cid] = CharacterReference.model_validate(_cached(vault, key, make_char))
    return scene_ref, chars


def reference_engine(engine_name: str) -> str:
    """The engine that draws a shot's references: the engine itself when it can render a
    still (the embedded one), else the embedded engine from the bible (the bible is the
    truth; a cloud engine cannot draw a locked reference frame on demand)."""
    mod = _drawing_engine(engine_name)
    return engine_name if mod is not None else "local"


#: mean absolute luma difference (0..255) under which a clip is the engine's own drawing
#: of the request (H.264 at the local engine's settings stays under 1.5)
ENGINE_DREW_TOLERANCE = 3.0


def engine_drew(mod: DrawingEngine, request: EngineRequest, media: ShotMedia) -> bool:
    """Is the clip what the engine draws for this request (not altered after rendering)?
    Two frames (a quarter and three quarters in) against the engine's own rendering."""
    import cv2
    import numpy as np

    if not isinstance(mod, DrawingEngine):
        return False
    if (media.width, media.height) != (request.format.width, request.format.height):
        return False
    h, w = media.frames.shape[1:3]
    for q in (0.25, 0.75):
        i = min(int(q * len(media.frames)), len(media.frames) - 1)
        drawn = mod.frame_at(request, i / media.fps)
        if drawn.shape[:2] != (h, w):
            drawn = cv2.resize(drawn, (w, h), interpolation=cv2.INTER_AREA)
        d = np.abs(drawn.astype(np.float32) - media.frames[i].astype(np.float32)).mean()
        if d > ENGINE_DREW_TOLERANCE:
            return False
    return True


def figure_regions_for(engine_name: str, request: EngineRequest, media: ShotMedia,
                       mode: str = "auto") -> tuple[RegionsFn | None, dict[str, Any]]:
    """Where the characters are in a delivered clip, and what found them.

    ``mode``: ``engine`` (the engine's own regions), ``detector`` (``qc.detect``: the
    Haar face detector and the figure locator) or ``auto`` (the engine's regions when the
    engine exports them and the clip is its own drawing of the request, else the
    detector). Returns (regions function or None, info for the scores' details)."""
    if mode not in ("auto", "engine", "detector"):
        raise StudioError(f"unknown QC regions mode {mode!r}", field="options.regions",
                          hint="auto, engine or detector")
    mod = _drawing_engine(engine_name)
    if mode == "engine" or (mode == "auto" and mod is not None
                            and engine_drew(mod, request, media)):
        fn = regions_for(engine_name, request)
        if fn is not None:
            return fn, {"source": f"{engine_name} engine's figure regions"}
        if mode == "engine":
            return None, {"source": "none",
                          "missing": f"the {engine_name} engine gives no figure regions"}
    from ..engines.base import EngineError
    from .detect import FigureLocator

    try:
        locator = FigureLocator(request, media)
    except (EngineError, StudioError) as exc:
        return None, {"source": "none",
                      "missing": f"the bible's proxy of the shot cannot be drawn: {exc}"}
    info: dict[str, Any] = {"source": "detector (Haar faces + figure locator)",
                            "locator": locator}
    return locator.regions_fn(), info


def qc_clip(path: str | Path, request: EngineRequest, engine_name: str, *, vault: Vault,
            tier: Tier | str = Tier.standard, asset: str | None = None,
            scorers: list[str] | None = None, options: dict[str, Any] | None = None,
            scene_ref: SceneReference | None = None,
            character_refs: dict[str, CharacterReference] | None = None,
            regions: str | None = None) -> QCReport:
    """Score a clip of ``request`` made by ``engine_name`` (any engine).

    ``regions`` (or ``options["regions"]``): ``auto`` (default), ``engine`` or
    ``detector``; see ``figure_regions_for``. References default to locked frames drawn by
    ``reference_engine(engine_name)``."""
    opts = dict(options or {})
    mode = regions or opts.pop("regions", "auto")
    media = load_media(path)
    if scene_ref is None and character_refs is None:
        scene_ref, character_refs = references_for(reference_engine(engine_name), request,
                                                   vault)
    fn, info = figure_regions_for(engine_name, request, media, mode)
    if fn is None:
        opts["regions_missing"] = info["missing"]
    elif "locator" in info:
        opts.setdefault("hair_mask", info["locator"].hair_mask_at)
        opts.setdefault("figures_mask", info["locator"].figures_mask_at)
    else:
        from .masks import hair_masks_for

        masks = hair_masks_for(request, media.frames.shape[1:3]) \
            if _drawing_engine(engine_name) is not None else None
        if masks is not None:
            opts.setdefault("hair_mask", masks.intended)
            opts.setdefault("figures_mask", masks.figures)
    ctx = QCContext(spec=request.spec, media=media, tier=tier, request=request,
                    regions=fn, character_refs=character_refs or {}, scene_ref=scene_ref,
                    asset=asset, options=opts)
    report = run_scorers(ctx, scorers)
    where = {"source": info["source"]}
    if "locator" in info:
        where["figures"] = info["locator"].summary()
    for s in report.scores:
        if s.scorer in ("character", "continuity", "lipsync") and not s.skipped:
            s.details["regions"] = where
    return report


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
