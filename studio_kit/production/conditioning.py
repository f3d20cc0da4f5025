"""What a shot's request carries besides the prompt: reference images and LoRA ids.

``shot_conditioning`` gathers, in priority order,

1. the previous shot's last frame, when the storyboard says the shot continues it
   (``Shot.continue_from_previous``; the caller passes the previous shot's clip);
2. the bible's reference images of the shot's characters (the camera subject first), each
   resolved inside the series folder and stored in the vault;
3. the scene's locked reference frame (a project path or a vault hash);

and keeps as many as the engine takes (``EngineCapabilities.reference_images`` /
``max_references``, or the engine's ``reference_slots``). LoRA ids (``Character.lora``)
go to engines that load LoRAs (``capabilities.lora``: ComfyUI). Everything left out is
said in ``Conditioning.notes`` (for the ledger, ``studio route`` and the surfaces).

``apply_conditioning`` puts the result on an ``EngineRequest`` (``references``, and
``options["continues"]`` / ``options["lora"]`` when they apply); each adapter spells them
in its service's body (see docs/routing.md). A request with nothing to add is returned
unchanged, so its hash (what was paid for) is the same as before conditioning existed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..engines.base import Engine, EngineRequest, ShotSpec
from ..errors import StudioError
from ..store.cache import Cache
from ..store.hashing import is_digest
from ..store.vault import Vault

LAST_FRAME_STAGE = "last-frame"
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


class Conditioning(BaseModel):
    references: list[str] = Field(default_factory=list,
                                  description="Vault hashes of images, in priority order.")
    lora: list[str] = Field(default_factory=list, description="LoRA ids (Character.lora.name).")
    notes: list[str] = Field(default_factory=list,
                             description="What was left out and why.")
    continues: bool = Field(False, description="references[0] is the previous shot's last "
                            "frame (image-to-video engines start from it).")


def _is_image(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(8)
    return any(head.startswith(m) for m in _IMAGE_MAGIC)


def _inside(root: Path, rel: str) -> Path | None:
    """``root/rel`` if it resolves inside ``root`` (symlinks followed), else None."""
    base = root.resolve()
    path = (base / rel).resolve()
    try:
        path.relative_to(base)
    except ValueError:
        return None
    return path


def _project_image(project: Any, vault: Vault, ref: str, what: str,
                   notes: list[str]) -> str | None:
    """Store a project image (or accept a vault hash) and return its digest, or note why not."""
    root = Path(project.root)
    if is_digest(ref) and vault.has(ref):
        return ref
    path = _inside(root, ref)
    if path is None:
        notes.append(f"{what} {ref!r} is outside the series folder: not sent")
        return None
    if not path.is_file():
        notes.append(f"{what} {ref!r} not found: not sent")
        return None
    if not _is_image(path):
        notes.append(f"{what} {ref!r} is not a PNG or JPEG image: not sent")
        return None
    return vault.put_file(path)


def last_frame(vault: Vault, clip_digest: str) -> str:
    """Vault hash of a PNG of the clip's last decoded frame (cached per clip; ``--force``
    draws it again once)."""
    frames = Cache(vault, LAST_FRAME_STAGE)
    rec = frames.lookup(clip_digest)
    if rec is not None:
        return rec.outputs["image"]
    import io

    import av
    from PIL import Image

    last = None
    try:
        with av.open(str(vault.get(clip_digest))) as box:
            stream = box.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in box.decode(stream):
                last = frame
            image = last.to_ndarray(format="rgb24") if last is not None else None
    except (av.error.FFmpegError, IndexError) as exc:
        raise StudioError(f"clip {clip_digest[:12]} does not decode: {exc}",
                          hint="regenerate the previous shot (its take is damaged)") from None
    if image is None:
        raise StudioError(f"clip {clip_digest[:12]} has no frames",
                          hint="regenerate the previous shot (its take is empty)")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=False)
    digest = vault.put_bytes(buf.getvalue(), ".png")
    frames.put(clip_digest, digests={"image": digest},
               meta={"clip": clip_digest, "size": list(image.shape[1::-1])})
    return digest


def reference_slots(engine: Engine, continues: bool) -> int:
    """How many reference images ``engine`` takes for this shot (0: none)."""
    return int(engine.reference_slots(continues))


def shot_conditioning(project: Any, spec: ShotSpec, engine: Engine, *, vault: Vault,
                      previous_clip: str | None = None) -> Conditioning:
    """The reference images and LoRA ids ``engine`` gets for ``spec`` (see module doc)."""
    name = engine.name or type(engine).__name__
    notes: list[str] = []
    images: list[str] = []
    shot = spec.shot
    continues = bool(shot.continue_from_previous and previous_clip)
    slots = reference_slots(engine, continues)
    if shot.continue_from_previous and not previous_clip:
        notes.append("continue_from_previous: no previous shot's clip to continue "
                     "(first shot, or the previous shot is not generated yet)")
    if continues:
        assert previous_clip is not None
        # decoded only for an engine that takes images
        images.append(last_frame(vault, previous_clip) if slots else "previous-last-frame")
    cast = sorted(spec.characters,
                  key=lambda rc: rc.character.id != shot.camera.subject)  # subject first
    for rc in cast:
        for ref in rc.character.reference_images:
            d = _project_image(project, vault, ref, f"{rc.character.id} reference image",
                               notes)
            if d and d not in images:
                images.append(d)
    if spec.scene.reference_frame:
        d = _project_image(project, vault, spec.scene.reference_frame,
                           f"scene {spec.scene.id} reference frame", notes)
        if d and d not in images:
            images.append(d)
    if images and slots == 0:
        notes.append(f"{name} takes no reference images: {len(images)} left out")
        images, continues = [], False
    elif len(images) > slots:
        notes.append(f"{name} takes {slots} reference image{'s' if slots != 1 else ''}: "
                     f"{len(images) - slots} of lower priority left out")
        images = images[:slots]
    loras = [rc.character.lora.name for rc in spec.characters if rc.character.lora]
    if loras and not engine.capabilities.lora:
        notes.append(f"{name} loads no LoRAs: {', '.join(loras)} not used")
        loras = []
    return Conditioning(references=images, lora=loras, notes=notes, continues=continues)


def apply_conditioning(request: EngineRequest, cond: Conditioning) -> EngineRequest:
    """``request`` with the conditioning's images and LoRA ids (unchanged if none)."""
    if not cond.references and not cond.lora:
        return request
    options = dict(request.options)
    if cond.continues and cond.references:
        options["continues"] = True
    if cond.lora:
        options["lora"] = list(cond.lora)
    return request.model_copy(update={"references": list(cond.references),
                                      "options": options})


__all__ = ["Conditioning", "apply_conditioning", "last_frame", "reference_slots",
           "shot_conditioning"]
