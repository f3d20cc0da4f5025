"""Runway (api.dev.runwayml.com): image_to_video / text_to_video tasks, polled at /v1/tasks."""

from __future__ import annotations

import httpx

from ...registry import ENGINES
from ...store.vault import Vault
from ..base import EngineCapabilities, EngineRequest
from .http import HttpEngine, JobState, data_uri, nearest, prompt_text

RATIOS = ["1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"]
_PENDING = {"PENDING", "THROTTLED"}


@ENGINES.register("runway")
class RunwayEngine(HttpEngine):
    name = "runway"
    model = "gen4_turbo"
    key_env = "RUNWAYML_API_SECRET"
    default_base_url = "https://api.dev.runwayml.com"
    api_version = "2024-11-06"
    durations = (5.0, 10.0)
    # gen4_turbo: 5 credits per second at $0.01 per credit (approximate; override in
    # routing.yaml engines.runway.price_per_second)
    capabilities = EngineCapabilities(max_duration_s=10, max_width=1584, max_height=1280,
                                      fps=[24.0], reference_images=True,
                                      price_per_second=0.05, paid=True)

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", "X-Runway-Version": self.api_version}

    async def submit(self, client: httpx.AsyncClient, request: EngineRequest,
                     vault: Vault) -> str:
        f = request.format
        body = {"model": request.options.get("model", self.model),
                "promptText": prompt_text(request)[:1000],
                "ratio": nearest(RATIOS, f.width, f.height),
                "duration": int(self.billed_duration(request)),
                "seed": request.seed}
        if request.references:
            body["promptImage"] = [{"uri": data_uri(vault, request.references[0]),
                                    "position": "first"}]
            path = "/v1/image_to_video"
        else:
            path = "/v1/text_to_video"
        data = await self.call(client, "POST", path, json=body, idempotent=False)
        return str(self.need(data, "id"))

    async def status(self, client: httpx.AsyncClient, remote_id: str) -> JobState:
        data = await self.call(client, "GET", f"/v1/tasks/{remote_id}", idempotent=True,
                               remote_id=remote_id)
        st = str(self.need(data, "status", remote_id=remote_id))
        prog = data.get("progress")
        if st in _PENDING:
            return JobState("pending", prog, raw=data)
        if st == "RUNNING":
            return JobState("running", prog, raw=data)
        if st == "SUCCEEDED":
            out = self.need(data, "output", remote_id=remote_id)
            url = out[0] if isinstance(out, list) and out else None
            return JobState("succeeded", 1.0, output_url=url, raw=data)
        if st in ("FAILED", "CANCELLED"):
            code = str(data.get("failureCode") or "")
            return JobState("failed", error=f"{data.get('failure') or st} ({code})".strip(),
                            moderated=code.upper().startswith("SAFETY"), raw=data)
        return JobState("running", prog, raw=data)

    async def cancel(self, client: httpx.AsyncClient, remote_id: str) -> None:
        await self.call(client, "DELETE", f"/v1/tasks/{remote_id}", idempotent=True,
                        remote_id=remote_id, expect_json=False)
