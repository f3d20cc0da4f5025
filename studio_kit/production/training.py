"""LoRA training for a character, as an engine job tracked in the ledger like a generation.

The trainer is Replicate's trainings API (``ostris/flux-dev-lora-trainer`` by default):

1. the character's reference images are zipped and uploaded (``POST /v1/files``);
2. ``POST /v1/models/{owner}/{name}/versions/{version}/trainings`` with ``destination``
   (the model that receives the weights) and ``input`` (``input_images``, ``trigger_word``,
   ``steps``, ``lora_rank``);
3. ``GET /v1/trainings/{id}`` is polled with backoff until ``succeeded``; ``output`` holds
   ``version`` and ``weights`` (the .safetensors URL).

The request hash (trainer, images, trigger, settings) makes the job idempotent: a finished
training is returned from the ledger without a call, an unfinished one (the process died)
is polled by its remote id. The result is saved as the character's ``lora`` (a ``LoraRef``)
in ``characters/<id>.yaml``; the ComfyUI adapter then loads it with a ``LoraLoader`` node.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from ..engines.adapters.errors import InvalidRequest, MalformedResponse
from ..engines.adapters.http import HttpJobClient, JobState
from ..errors import StudioError
from ..models import LoraRef
from ..store.hashing import file_hash, stable_hash
from ..store.ledger import Ledger
from ..store.vault import Vault


class TrainingSettings(BaseModel):
    destination: str = Field(description="owner/model on Replicate that receives the LoRA")
    trigger: str | None = Field(None, description="Defaults to the character id in capitals.")
    steps: int = Field(1000, ge=10, le=10000)
    rank: int = Field(16, ge=4, le=128)
    strength: float = Field(0.8, ge=0, le=2)


class ReplicateTrainer(HttpJobClient):
    name = "replicate-trainer"
    key_env = "REPLICATE_API_TOKEN"
    default_base_url = "https://api.replicate.com"
    trainer: ClassVar[str] = "ostris/flux-dev-lora-trainer"
    version: ClassVar[str] = \
        "26dce37af90b9d997eeb970d92e47de3064d46c300504ae376c75bef6a9022d2"
    price_per_second: ClassVar[float] = 0.001528  # H100 time, approximate

    async def upload_zip(self, client, data: bytes) -> str:
        resp = await self.call(client, "POST", "/v1/files", idempotent=False,
                               files={"content": ("images.zip", data, "application/zip")})
        return str(self.need(resp, "urls", "get"))

    async def submit(self, client, zip_url: str, s: TrainingSettings, trigger: str) -> str:
        body = {"destination": s.destination,
                "input": {"input_images": zip_url, "trigger_word": trigger,
                          "steps": s.steps, "lora_rank": s.rank}}
        data = await self.call(
            client, "POST", f"/v1/models/{self.trainer}/versions/{self.version}/trainings",
            json=body, idempotent=False)
        return str(self.need(data, "id"))

    async def status(self, client, remote_id: str) -> JobState:
        data = await self.call(client, "GET", f"/v1/trainings/{remote_id}", idempotent=True,
                               remote_id=remote_id)
        st = str(self.need(data, "status", remote_id=remote_id))
        if st in ("starting", "processing"):
            return JobState("running" if st == "processing" else "pending", raw=data)
        if st == "succeeded":
            return JobState("succeeded", 1.0, raw=data)
        return JobState("failed", error=str(data.get("error") or st), raw=data)

    async def cancel(self, client, remote_id: str) -> None:
        await self.call(client, "POST", f"/v1/trainings/{remote_id}/cancel", idempotent=True,
                        remote_id=remote_id, expect_json=False)


def _zip_images(paths: list) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i, p in enumerate(paths):
            zf.write(p, f"{i:03d}{p.suffix.lower()}")
    return buf.getvalue()


async def train_character_lora(project, character_id: str, settings: TrainingSettings, *,
                               vault: Vault | None = None, ledger: Ledger | None = None,
                               trainer: ReplicateTrainer | None = None,
                               save: bool = True, progress=None) -> LoraRef:
    """Train (or re-use) the character's LoRA and store it as ``Character.lora``."""
    ch = project.characters.get(character_id)
    if ch is None:
        raise StudioError(f"no character {character_id!r}", file=project.root / "characters",
                          hint=f"characters: {', '.join(sorted(project.characters))}")
    paths = [project.file(p) for p in ch.reference_images]  # inside the series folder
    path = project.root / "characters" / f"{ch.id}.yaml"
    if len(paths) < 2:
        raise InvalidRequest(f"{ch.id}: LoRA training needs at least 2 reference images, "
                             f"found {len(paths)}", file=path, field="reference_images",
                             hint="add photos or renders of the character and list them")
    vault = vault or project.vault()
    ledger = ledger or project.ledger()
    trainer = trainer or ReplicateTrainer()
    trigger = settings.trigger or ch.id.upper()
    h = stable_hash("lora-training", trainer.trainer, trainer.version, ch.id,
                    sorted(file_hash(p) for p in paths), settings.model_dump(), trigger)

    def ref_from(obj: dict[str, Any]) -> LoraRef:
        return LoraRef.model_validate(obj)

    done = ledger.paid_asset(h)
    if done and vault.has(done):
        ref = ref_from(json.loads(vault.get(done).read_text(encoding="utf-8")))
    else:
        pending = ledger.pending_call(h)
        remote_id = pending.get("remote_id") if pending else None
        if pending and remote_id:
            call_id = int(pending["id"])
        else:
            if pending:
                ledger.update_call(int(pending["id"]), status="orphaned")
            call_id = ledger.begin_call(engine=trainer.name, request_hash=h,
                                        model=f"{trainer.trainer}:{trainer.version[:12]}",
                                        shot_id=f"lora:{ch.id}")
        try:
            async with trainer.client() as client:
                if not remote_id:
                    url = await trainer.upload_zip(client, _zip_images(paths))
                    remote_id = await trainer.submit(client, url, settings, trigger)
                    ledger.update_call(call_id, status="submitted", remote_id=remote_id)
                state = await trainer.wait(client, remote_id, progress)
        except StudioError as err:
            ledger.update_call(call_id, status="failed", error=str(err)[:500])
            raise
        weights = trainer.need(state.raw, "output", "weights", remote_id=remote_id)
        if not str(weights).startswith(("http://", "https://")):
            raise MalformedResponse(f"training {remote_id}: weights is not a URL: {weights!r}",
                                    engine=trainer.name, remote_id=remote_id)
        seconds = float((state.raw.get("metrics") or {}).get("predict_time") or 0.0)
        cost = round(seconds * trainer.price_per_second, 6)
        ref = LoraRef(name=f"{ch.id}-lora", uri=str(weights), trigger=trigger,
                      strength=settings.strength)
        asset = vault.put_bytes(ref.model_dump_json().encode("utf-8"))
        ledger.update_call(call_id, status="succeeded", cost=cost, asset=asset,
                           remote_id=remote_id)
    if save:
        project.save_character(ch.model_copy(update={"lora": ref}))
    return ref
