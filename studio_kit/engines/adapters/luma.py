"""Luma Dream Machine (api.lumalabs.ai/dream-machine/v1): generations with keyframes."""

from __future__ import annotations

import httpx

from ...registry import ENGINES
from ...store.vault import Vault
from ..base import EngineCapabilities, EngineRequest
from .http import HttpEngine, JobState, data_uri, nearest, prompt_text

ASPECTS = ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21"]


@ENGINES.register("luma")
class LumaEngine(HttpEngine):
    name = "luma"
    model = "ray-2"
    key_env = "LUMAAI_API_KEY"
    default_base_url = "https://api.lumalabs.ai/dream-machine/v1"
    durations = (5.0, 9.0)
    # ray-2 at 720p is roughly $0.71 per 5 s clip (approximate; override in routing.yaml)
    capabilities = EngineCapabilities(max_duration_s=9, max_width=1920, max_height=1080,
                                      fps=[24.0], reference_images=True,
                                      price_per_second=0.142, paid=True)

    def generation_body(self, request: EngineRequest, vault: Vault) -> dict:
        f = request.format
        body: dict = {"prompt": prompt_text(request)[:2000],
                      "model": request.options.get("model", self.model),
                      "aspect_ratio": nearest(ASPECTS, f.width, f.height),
                      "resolution": "1080p" if f.height > 720 else "720p",
                      "duration": f"{int(self.billed_duration(request))}s",
                      "loop": False}
        if request.references:
            # Luma documents https URLs for keyframes; the vault image goes as a data URI
            # unless the caller publishes it and passes options["keyframe_url"].
            url = request.options.get("keyframe_url") or data_uri(vault, request.references[0])
            body["keyframes"] = {"frame0": {"type": "image", "url": url}}
        if request.options.get("webhook_url"):
            body["callback_url"] = request.options["webhook_url"]
        return body

    async def submit(self, client: httpx.AsyncClient, request: EngineRequest,
                     vault: Vault) -> str:
        data = await self.call(client, "POST", "/generations",
                               json=self.generation_body(request, vault), idempotent=False)
        return str(self.need(data, "id"))

    async def find_submission(self, client: httpx.AsyncClient, request: EngineRequest,
                              vault: Vault) -> str | None:
        """The id of one of the latest generations made from exactly this request body
        (``GET /generations``, each carries its ``request``): a submission whose answer
        was lost."""
        want = self.generation_body(request, vault)
        data = await self.call(client, "GET", "/generations", params={"limit": 20},
                               idempotent=True)
        for gen in (data.get("generations") or []) if isinstance(data, dict) else []:
            if isinstance(gen, dict) and gen.get("request") == want and gen.get("id"):
                return str(gen["id"])
        return None

    async def status(self, client: httpx.AsyncClient, remote_id: str) -> JobState:
        data = await self.call(client, "GET", f"/generations/{remote_id}", idempotent=True,
                               remote_id=remote_id)
        st = str(self.need(data, "state", remote_id=remote_id))
        if st == "queued":
            return JobState("pending", 0.0, raw=data)
        if st == "dreaming":
            return JobState("running", None, raw=data)
        if st == "completed":
            url = (data.get("assets") or {}).get("video")
            return JobState("succeeded", 1.0, output_url=url, raw=data)
        if st == "failed":
            return JobState("failed", error=str(data.get("failure_reason") or "failed"),
                            raw=data)
        return JobState("running", None, raw=data)

    async def cancel(self, client: httpx.AsyncClient, remote_id: str) -> None:
        await self.call(client, "DELETE", f"/generations/{remote_id}", idempotent=True,
                        remote_id=remote_id, expect_json=False)
