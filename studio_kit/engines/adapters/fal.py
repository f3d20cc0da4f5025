"""fal's queue API (queue.fal.run), used for Kling and Pika.

Submit ``POST /{model_id}``; status and result live under the app id (the model id's first
two path segments): ``GET /{app}/requests/{id}/status``, ``GET /{app}/requests/{id}``,
``PUT /{app}/requests/{id}/cancel``. A webhook is passed as ``?fal_webhook=``.
"""

from __future__ import annotations

import httpx

from ...registry import ENGINES
from ...store.vault import Vault
from ..base import EngineCapabilities, EngineRequest
from .http import HttpEngine, JobState, data_uri, data_uris, nearest, prompt_text

ASPECTS = ["16:9", "9:16", "1:1"]


class FalQueueEngine(HttpEngine):
    key_env = "FAL_KEY"
    default_base_url = "https://queue.fal.run"
    text_model = ""
    image_model = ""

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Key {key}"} if key else {}

    @staticmethod
    def app_id(model_id: str) -> str:
        return "/".join(model_id.split("/")[:2])

    #: a model taking several subject images (``input_image_urls``), or "" if none
    elements_model = ""
    max_elements = 4

    def reference_slots(self, continues: bool) -> int:
        """A start frame goes alone (image-to-video); otherwise up to ``max_elements``
        subject images when the service has an elements model."""
        if not self.capabilities.reference_images:
            return 0
        if continues or not self.elements_model:
            return 1
        return self.max_elements

    def uses_elements(self, request: EngineRequest) -> bool:
        return bool(self.elements_model and len(request.references) > 1
                    and not request.options.get("continues"))

    def model_for(self, request: EngineRequest) -> str:
        if "model" in request.options:
            return str(request.options["model"])
        if self.uses_elements(request):
            return self.elements_model
        return self.image_model if request.references else self.text_model

    def body(self, request: EngineRequest, vault: Vault) -> dict:
        f = request.format
        body = {"prompt": prompt_text(request)[:2500],
                "duration": str(int(self.billed_duration(request))),
                "aspect_ratio": nearest(ASPECTS, f.width, f.height),
                "seed": request.seed}
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if self.uses_elements(request):
            body["input_image_urls"] = data_uris(vault, request.references[:self.max_elements])
        elif request.references:
            body["image_url"] = data_uri(vault, request.references[0])
        return body

    async def submit(self, client: httpx.AsyncClient, request: EngineRequest,
                     vault: Vault) -> str:
        model_id = self.model_for(request)
        params = {}
        if request.options.get("webhook_url"):
            params["fal_webhook"] = request.options["webhook_url"]
        data = await self.call(client, "POST", f"/{model_id}", json=self.body(request, vault),
                               params=params, idempotent=False)
        rid = str(self.need(data, "request_id"))
        # the remote id carries the app so a resumed process can poll without the request
        return f"{self.app_id(model_id)}|{rid}"

    @staticmethod
    def _split(remote_id: str) -> tuple[str, str]:
        app, _, rid = remote_id.rpartition("|")
        return app, rid

    async def status(self, client: httpx.AsyncClient, remote_id: str) -> JobState:
        app, rid = self._split(remote_id)
        data = await self.call(client, "GET", f"/{app}/requests/{rid}/status", idempotent=True,
                               remote_id=remote_id)
        st = str(self.need(data, "status", remote_id=remote_id))
        if st == "IN_QUEUE":
            return JobState("pending", 0.0, raw=data)
        if st == "IN_PROGRESS":
            return JobState("running", None, raw=data)
        if st == "COMPLETED":
            if data.get("error"):
                return JobState("failed", error=str(data["error"]), raw=data)
            return JobState("succeeded", 1.0, raw=data)
        return JobState("running", None, raw=data)

    async def output_url(self, client: httpx.AsyncClient, remote_id: str,
                         state: JobState) -> str:
        app, rid = self._split(remote_id)
        # a refused or failed model run answers the result call with 4xx/5xx + detail
        data = await self.call(client, "GET", f"/{app}/requests/{rid}", idempotent=True,
                               remote_id=remote_id)
        return str(self.need(data, "video", "url", remote_id=remote_id))

    async def cancel(self, client: httpx.AsyncClient, remote_id: str) -> None:
        app, rid = self._split(remote_id)
        await self.call(client, "PUT", f"/{app}/requests/{rid}/cancel", idempotent=True,
                        remote_id=remote_id, expect_json=False)


@ENGINES.register("kling")
class KlingEngine(FalQueueEngine):
    name = "kling"
    model = "fal-ai/kling-video/v2.1/standard"
    text_model = "fal-ai/kling-video/v2.1/standard/text-to-video"
    image_model = "fal-ai/kling-video/v2.1/standard/image-to-video"
    elements_model = "fal-ai/kling-video/v1.6/standard/elements"  # up to 4 subject images
    durations = (5.0, 10.0)
    # $0.25 per 5 s (standard tier), approximate; override in routing.yaml
    capabilities = EngineCapabilities(max_duration_s=10, max_width=1920, max_height=1080,
                                      fps=[24.0, 30.0], reference_images=True,
                                      max_references=4, price_per_second=0.05, paid=True)


@ENGINES.register("pika")
class PikaEngine(FalQueueEngine):
    name = "pika"
    model = "fal-ai/pika/v2.2"
    text_model = "fal-ai/pika/v2.2/text-to-video"
    image_model = "fal-ai/pika/v2.2/image-to-video"
    durations = (5.0, 10.0)
    capabilities = EngineCapabilities(max_duration_s=10, max_width=1920, max_height=1080,
                                      fps=[24.0], reference_images=True,
                                      price_per_second=0.04, paid=True)

    def body(self, request: EngineRequest, vault: Vault) -> dict:
        body = super().body(request, vault)
        body["duration"] = int(body["duration"])
        body["resolution"] = "1080p" if request.format.height > 720 else "720p"
        return body
