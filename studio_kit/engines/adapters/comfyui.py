"""A self-hosted ComfyUI server running a text-to-video graph that loads character LoRAs.

Protocol: ``POST /prompt`` {prompt: <API-format graph>, client_id} -> {prompt_id};
``GET /history/{prompt_id}`` (empty until finished) -> outputs and status;
``GET /view?filename=&subfolder=&type=output`` for the file; ``POST /queue`` {delete: [id]}
and ``POST /interrupt`` to cancel. Progress could also come over ``/ws``; polling the
history is enough for whole-shot jobs and survives a restart of our process.

The graph (Wan 2.1 text-to-video with core nodes) gets one ``LoraLoader`` per character in
the shot that has a trained LoRA (``Character.lora``), chained between the model loaders
and the sampler; each LoRA's trigger word is put in front of the prompt. A project can
supply its own API-format graph (``options["workflow"]``) with the same placeholders.
"""

from __future__ import annotations

import copy
import uuid
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlencode

import httpx

from ...registry import ENGINES
from ...store.vault import Vault
from ..base import EngineCapabilities, EngineRequest
from .http import HttpEngine, JobState, prompt_text

VIDEO_EXT = (".mp4", ".webm", ".mov", ".mkv")

BASE_GRAPH: dict[str, Any] = {
    "1": {"class_type": "UNETLoader",
          "inputs": {"unet_name": "wan2.1_t2v_1.3B_fp16.safetensors", "weight_dtype": "default"}},
    "2": {"class_type": "CLIPLoader",
          "inputs": {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan"}},
    "3": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
    "8": {"class_type": "EmptyHunyuanLatentVideo",
          "inputs": {"width": 832, "height": 480, "length": 81, "batch_size": 1}},
    "9": {"class_type": "KSampler",
          "inputs": {"model": ["1", 0], "positive": ["6", 0], "negative": ["7", 0],
                     "latent_image": ["8", 0], "seed": 0, "steps": 30, "cfg": 6.0,
                     "sampler_name": "uni_pc", "scheduler": "simple", "denoise": 1.0}},
    "10": {"class_type": "VAEDecode", "inputs": {"samples": ["9", 0], "vae": ["3", 0]}},
    "11": {"class_type": "CreateVideo", "inputs": {"images": ["10", 0], "fps": 16}},
    "12": {"class_type": "SaveVideo",
           "inputs": {"video": ["11", 0], "filename_prefix": "studio/shot",
                      "format": "mp4", "codec": "h264"}},
}


def build_graph(request: EngineRequest, fps: int = 16) -> dict[str, Any]:
    """The API-format graph for one shot: prompt, size, length, seed and LoRA chain."""
    g = copy.deepcopy(request.options.get("workflow") or BASE_GRAPH)
    triggers = []
    model_src: list = ["1", 0]
    clip_src: list = ["2", 0]
    wanted = request.options.get("lora")  # LoRA ids from conditioning; None: every one
    for i, rc in enumerate(request.spec.characters):
        lora = rc.character.lora
        if lora is None or (wanted is not None and lora.name not in wanted):
            continue
        node = f"lora_{i}"
        g[node] = {"class_type": "LoraLoader",
                   "inputs": {"model": model_src, "clip": clip_src,
                              "lora_name": PurePosixPath(lora.uri).name,
                              "strength_model": lora.strength, "strength_clip": lora.strength}}
        model_src, clip_src = [node, 0], [node, 1]
        triggers.append(lora.trigger)
    g["9"]["inputs"]["model"] = model_src
    g["6"]["inputs"]["clip"] = clip_src
    g["7"]["inputs"]["clip"] = clip_src
    text = prompt_text(request)
    g["6"]["inputs"]["text"] = ", ".join([*triggers, text]) if triggers else text
    g["7"]["inputs"]["text"] = request.negative_prompt
    w, h = request.format.width, request.format.height
    g["8"]["inputs"].update(width=w - w % 16, height=h - h % 16,
                            length=int(round(request.duration * fps / 4)) * 4 + 1)
    g["9"]["inputs"]["seed"] = request.seed
    g["11"]["inputs"]["fps"] = fps
    return g


@ENGINES.register("comfyui")
class ComfyUIEngine(HttpEngine):
    name = "comfyui"
    model = "wan2.1-t2v-1.3b+lora"
    key_env = "COMFYUI_API_KEY"  # optional: only when the server sits behind an auth proxy
    key_optional = True
    default_base_url = "http://127.0.0.1:8188"
    # self-hosted: no per-call bill (set price_per_second in routing.yaml to account for
    # GPU rent if you want it in the estimate)
    capabilities = EngineCapabilities(max_duration_s=10, max_width=1280, max_height=720,
                                      fps=[16.0, 24.0], reference_images=False, lora=True,
                                      price_per_second=0.0, paid=False)

    def expected_duration(self, request: EngineRequest) -> float:
        """The graph's frame count at its rate (``build_graph``)."""
        fps = int(request.format.fps)
        length = build_graph(request, fps=fps)["8"]["inputs"].get("length")
        return float(length) / fps if isinstance(length, int) and fps else request.duration

    async def submit(self, client: httpx.AsyncClient, request: EngineRequest,
                     vault: Vault) -> str:
        body = {"prompt": build_graph(request, fps=int(request.format.fps)),
                "client_id": str(uuid.uuid4())}
        data = await self.call(client, "POST", "/prompt", json=body, idempotent=False)
        if data.get("node_errors"):
            from .errors import InvalidRequest

            raise InvalidRequest(f"comfyui: the graph was refused: {data['node_errors']}",
                                 engine=self.name)
        return str(self.need(data, "prompt_id"))

    async def status(self, client: httpx.AsyncClient, remote_id: str) -> JobState:
        data = await self.call(client, "GET", f"/history/{remote_id}", idempotent=True,
                               remote_id=remote_id)
        if not isinstance(data, dict):
            from .errors import MalformedResponse

            raise MalformedResponse(f"comfyui: history is not an object: {str(data)[:80]}",
                                    engine=self.name, remote_id=remote_id)
        entry = data.get(remote_id)
        if not entry:
            return JobState("running", None, raw=data)  # queued or executing
        st = entry.get("status") or {}
        if st.get("status_str") == "error":
            msgs = [m for m in st.get("messages", []) if m and m[0] == "execution_error"]
            why = msgs[0][1].get("exception_message", "execution error") if msgs else "error"
            return JobState("failed", error=str(why), raw=data)
        if not st.get("completed", True):
            return JobState("running", None, raw=data)
        for node_out in (entry.get("outputs") or {}).values():
            for key in ("videos", "gifs", "images"):
                for f in node_out.get(key, []) or []:
                    name = str(f.get("filename", ""))
                    if name.lower().endswith(VIDEO_EXT):
                        q = urlencode({"filename": name, "subfolder": f.get("subfolder", ""),
                                       "type": f.get("type", "output")})
                        return JobState("succeeded", 1.0, output_url=f"/view?{q}", raw=data)
        return JobState("succeeded", 1.0, output_url=None, raw=data)

    async def cancel(self, client: httpx.AsyncClient, remote_id: str) -> None:
        await self.call(client, "POST", "/queue", json={"delete": [remote_id]},
                        idempotent=True, remote_id=remote_id, expect_json=False)
        await self.call(client, "POST", "/interrupt", idempotent=True, remote_id=remote_id,
                        expect_json=False)
