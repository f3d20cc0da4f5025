"""The ``local`` engine: renders a shot on the CPU and stores an H.264 clip in the vault."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ...errors import EngineError
from ...registry import ENGINES
from ...store.vault import Vault
from ..base import (
    Engine,
    EngineCapabilities,
    EngineRequest,
    EngineResult,
    ProgressFn,
    RenderFormat,
)
from .encode import encode_args, encode_stream, gop_size
from .render import Renderer

MODEL = "layered-2.5d-v1"
FPS = [23.976, 24.0, 25.0, 29.97, 30.0, 48.0, 50.0, 60.0]


def validate_request(request: EngineRequest) -> Renderer:
    """Semantic checks (scene, characters, marks, subject, visemes); returns the renderer."""
    spec = request.spec
    shot = spec.shot
    if shot.scene != spec.scene.id:
        raise EngineError(f"shot {shot.id}: unknown scene {shot.scene!r} (the spec carries "
                          f"scene {spec.scene.id!r})", field="scene",
                          hint="resolve the shot with Project.resolve_shot")
    return Renderer(request)


def render_frames(request: EngineRequest) -> Iterator[np.ndarray]:
    """The shot's frames, one at a time: frame i is at t = i / fps."""
    r = validate_request(request)
    for i in range(r.n_frames):
        yield r.frame(i / r.fps)


def frame_at(request: EngineRequest, t: float) -> np.ndarray:
    """The frame at time ``t`` (seconds from the shot start), identical to the clip's."""
    return validate_request(request).frame(t)


def figure_regions(request: EngineRequest, character_id: str,
                   t: float) -> dict[str, tuple[int, int, int, int]]:
    """Pixel boxes (x0, y0, x1, y1) of a character's parts in the frame at time ``t``."""
    return validate_request(request).regions(character_id, t)


@ENGINES.register("local")
class LocalEngine(Engine):
    """The embedded default engine: free, offline, deterministic."""

    name = "local"
    model = MODEL
    capabilities = EngineCapabilities(max_duration_s=120.0, max_width=3840, max_height=2160,
                                      fps=FPS, reference_images=False, lora=False,
                                      price_per_second=0.0, paid=False)

    def check(self, request: EngineRequest) -> None:
        super().check(request)
        validate_request(request)

    # the optional capabilities QC uses (engines.base.DrawingEngine, ClipEncoder)
    def frame_at(self, request: EngineRequest, t: float) -> np.ndarray:
        return frame_at(request, t)

    def figure_regions(self, request: EngineRequest, character_id: str,
                       t: float) -> dict[str, tuple[int, int, int, int]]:
        return figure_regions(request, character_id, t)

    def encode_stream(self, frames: Iterable[np.ndarray], out: str | Path,
                      fmt: RenderFormat) -> int:
        return encode_stream(frames, out, fmt)

    def render(self, request: EngineRequest, vault: Vault,
               progress: ProgressFn | None = None, threads: int | None = None) -> EngineResult:
        """Synchronous render (``generate`` runs this in a worker thread)."""
        super().check(request)
        r = validate_request(request)
        fmt = request.format

        def frames() -> Iterator[np.ndarray]:
            for i in range(r.n_frames):
                yield r.frame(i / r.fps)

        with vault.writer(".mp4") as (tmp, out):
            n = encode_stream(frames(), tmp, fmt, total=r.n_frames, progress=progress,
                              threads=threads)
        return EngineResult(
            asset=out[0], engine=self.name, model=self.model, duration_s=n / fmt.fps,
            width=fmt.width, height=fmt.height, fps=fmt.fps, cost=0.0,
            request_hash=request.request_hash(self.name, self.model),
            metadata={"frames": n, "seed": request.seed,
                      "drift": request.drift.model_dump(mode="json"),
                      "shot": request.spec.shot.id, "episode": request.spec.episode,
                      "bible_version": request.spec.bible_version,
                      "colour_temperature_k": r.kelvin, "key_azimuth_deg": r.azimuth,
                      "gop": gop_size(fmt.fps), "encode_args": encode_args(fmt)})

    async def generate(self, request: EngineRequest, vault: Vault,
                       progress: ProgressFn | None = None) -> EngineResult:
        """Render in a worker thread (progress is called from that thread)."""
        self.check(request)
        return await asyncio.to_thread(self.render, request, vault, progress)
