"""Single-frame previews for the scene workshop, and the spec for a scene on its own."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from pydantic import ValidationError

from ...errors import StudioError
from ...models import (
    Camera,
    CameraAngle,
    CastMember,
    Character,
    Garment,
    MarkKind,
    Outfit,
    Scene,
    Shot,
    Wardrobe,
)
from ..base import Drift, EngineRequest, RenderFormat, ResolvedCharacter, ShotSpec
from .engine import validate_request

PREVIEW_FORMAT = RenderFormat(width=640, height=360, fps=24.0)
STAND_IN_ID = "stand-in"


def _stand_in() -> ResolvedCharacter:
    garments = [Garment(name="grey top", kind="top", colours=["#9a9a9a"]),
                Garment(name="grey trousers", kind="trousers", colours=["#5c5c5c"])]
    ch = Character(id=STAND_IN_ID, name="Stand-in", appearance={"skin": "#b8a898",
                                                                "hair_style": "short",
                                                                "hair_colour": "#4a4a4a"},
                   wardrobe=Wardrobe(outfits={"default": Outfit(garments=garments)}))
    return ResolvedCharacter(character=ch, outfit_id="default", garments=garments)


def spec_for_scene(scene: Scene, *, stand_in: bool = True,
                   angle: CameraAngle | str = CameraAngle.wide) -> ShotSpec:
    """A ShotSpec showing a scene alone (no shot): a wide view, optionally with a neutral
    grey stand-in on the first person mark so the lighting can be judged on a figure."""
    chars: list[ResolvedCharacter] = []
    cast: list[CastMember] = []
    if stand_in:
        rc = _stand_in()
        mark = next((m.name for m in scene.set_layout if m.kind == MarkKind.person), None)
        rc.mark = mark
        chars.append(rc)
        cast.append(CastMember(character=STAND_IN_ID, mark=mark))
    shot = Shot(id="scene-preview", scene=scene.id, characters=cast,
                camera=Camera(angle=CameraAngle(angle)), duration_s=1.0)
    return ShotSpec(episode="00", shot=shot, scene=scene, characters=chars)


def scene_preview_spec(project, scene_id: str | Scene, *, stand_in: bool = True,
                       angle: CameraAngle | str = CameraAngle.wide) -> ShotSpec:
    """The spec for previewing ``scene_id`` of a Project without any shot (a Scene
    object, e.g. one being edited and not saved yet, is used as it is)."""
    if isinstance(scene_id, Scene):
        return spec_for_scene(scene_id, stand_in=stand_in, angle=angle)
    scene = project.scenes.get(scene_id)
    if scene is None:
        raise StudioError(f"unknown scene {scene_id!r}", file=project.root / "scenes",
                          field="scene",
                          hint=f"known scenes: {', '.join(sorted(project.scenes)) or 'none'}")
    return spec_for_scene(scene, stand_in=stand_in, angle=angle)


def _set_path(data: dict, path: list[str], value: Any) -> None:
    cur = data
    for key in path[:-1]:
        if not isinstance(cur.get(key), dict):
            cur[key] = {}
        cur = cur[key]
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    cur[path[-1]] = value


def apply_overrides(spec: ShotSpec, overrides: dict[str, Any] | None) -> ShotSpec:
    """Edited values on top of a spec: keys are dotted scene paths ("lighting.key",
    "atmosphere.density", "time_of_day", "palette") or, prefixed with "shot." or
    "camera.", shot paths ("camera.angle", "camera.movement.type")."""
    if not overrides:
        return spec
    scene = spec.scene.model_dump()
    shot = spec.shot.model_dump()
    for key, value in overrides.items():
        parts = key.split(".")
        if parts[0] == "shot":
            _set_path(shot, parts[1:], value)
        elif parts[0] == "camera":
            _set_path(shot, parts, value)
        else:
            _set_path(scene, parts, value)
            if parts == ["time_of_day"] and "shot.time_of_day" not in overrides:
                shot["time_of_day"] = None  # the edited light shows, not the heading's
    try:
        new_scene = Scene.model_validate(scene)
        new_shot = Shot.model_validate(shot)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise StudioError(f"preview override is not valid: {first['msg']}",
                          field=".".join(map(str, first["loc"])),
                          hint="check the value against the scene/shot schema") from None
    return spec.model_copy(update={"scene": new_scene, "shot": new_shot})


def preview_frame(spec: ShotSpec | Scene, t: float = 0.0, *,
                  format: RenderFormat = PREVIEW_FORMAT,  # noqa: A002 - the engine's word
                  overrides: dict[str, Any] | None = None, seed: int = 0,
                  drift: Drift | None = None,
                  visemes: list[tuple[float, str]] | None = None) -> np.ndarray:
    """One frame (H, W, 3) uint8 of a shot (or a scene alone) at time ``t``."""
    if isinstance(spec, Scene):
        spec = spec_for_scene(spec)
    spec = apply_overrides(spec, overrides)
    req = EngineRequest(spec=spec, seed=seed, format=format, drift=drift or Drift(),
                        visemes=visemes, duration_s=max(spec.shot.duration_s, t + 1e-3))
    r = validate_request(req)
    return r.frame(t)


def png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def preview_png(spec: ShotSpec | Scene, t: float = 0.0, **kw: Any) -> bytes:
    """``preview_frame`` encoded as PNG bytes."""
    return png_bytes(preview_frame(spec, t, **kw))
