"""Replicate (api.replicate.com/v1): predictions on an official model, polled by id."""

from __future__ import annotations

import httpx

from ...registry import ENGINES
from ...store.vault import Vault
from ..base import EngineCapabilities, EngineRequest
from .http import HttpEngine, JobState, data_uri, data_uris, nearest, prompt_text

ASPECTS = ["16:9", "9:16", "1:1"]
MAX_SUBJECTS = 4  # kling-v1.6-standard: optional start_image + up to 4 reference_images


@ENGINES.register("replicate")
class ReplicateEngine(HttpEngine):
    name = "replicate"
    model = "kwaivgi/kling-v1.6-standard"
    key_env = "REPLICATE_API_TOKEN"
    default_base_url = "https://api.replicate.com"
    durations = (5.0, 10.0)
    # about $0.28 per 5 s clip for this model (approximate; override in routing.yaml)
    capabilities = EngineCapabilities(max_duration_s=10, max_width=1920, max_height=1080,
                                      fps=[24.0, 30.0], reference_images=True,
                                      max_references=MAX_SUBJECTS + 1,
                                      price_per_second=0.056, paid=True)

    def reference_slots(self, continues: bool) -> int:
        """A start frame (when continuing) plus up to four subject images."""
        return MAX_SUBJECTS + 1 if continues else MAX_SUBJECTS

    def prediction_input(self, request: EngineRequest, vault: Vault) -> dict:
        f = request.format
        inp: dict = {"prompt": prompt_text(request)[:2500],
                     "duration": int(self.billed_duration(request)),
                     "aspect_ratio": nearest(ASPECTS, f.width, f.height)}
        if request.negative_prompt:
            inp["negative_prompt"] = request.negative_prompt
        refs = list(request.references)
        if refs and request.options.get("continues"):
            # the previous shot's last frame: the clip starts from it
            inp["start_image"] = data_uri(vault, refs.pop(0))
        if refs:
            # subjects (characters, the set) the clip must show: up to 4
            inp["reference_images"] = data_uris(vault, refs[:MAX_SUBJECTS])
        return inp

    async def submit(self, client: httpx.AsyncClient, request: EngineRequest,
                     vault: Vault) -> str:
        body: dict = {"input": self.prediction_input(request, vault)}
        if request.options.get("webhook_url"):
            body["webhook"] = request.options["webhook_url"]
            body["webhook_events_filter"] = ["completed"]
        model = request.options.get("model", self.model)
        data = await self.call(client, "POST", f"/v1/models/{model}/predictions", json=body,
                               idempotent=False)
        return str(self.need(data, "id"))

    async def find_submission(self, client: httpx.AsyncClient, request: EngineRequest,
                              vault: Vault) -> str | None:
        """The id of a prediction of this model with exactly this input among the account's
        latest (``GET /v1/predictions``): a submission whose answer was lost."""
        want = self.prediction_input(request, vault)
        model = request.options.get("model", self.model)
        data = await self.call(client, "GET", "/v1/predictions", idempotent=True)
        for pred in (data.get("results") or []) if isinstance(data, dict) else []:
            if isinstance(pred, dict) and pred.get("input") == want and \
                    pred.get("model") in (None, model) and pred.get("id"):
                return str(pred["id"])
        return None

    async def status(self, client: httpx.AsyncClient, remote_id: str) -> JobState:
        data = await self.call(client, "GET", f"/v1/predictions/{remote_id}", idempotent=True,
                               remote_id=remote_id)
        st = str(self.need(data, "status", remote_id=remote_id))
        if st == "starting":
            return JobState("pending", 0.0, raw=data)
        if st == "processing":
            return JobState("running", None, raw=data)
        if st == "succeeded":
            out = data.get("output")
            url = out[0] if isinstance(out, list) and out else out
            return JobState("succeeded", 1.0, output_url=url if isinstance(url, str) else None,
                            raw=data)
        if st in ("failed", "canceled"):
            return JobState("failed", error=str(data.get("error") or st), raw=data)
        return JobState("running", None, raw=data)

    async def cancel(self, client: httpx.AsyncClient, remote_id: str) -> None:
        await self.call(client, "POST", f"/v1/predictions/{remote_id}/cancel",
                        idempotent=True, remote_id=remote_id, expect_json=False)
