"""The engine interface: a request -> a result (a video in the vault, metadata, cost).

Every engine (the embedded local renderer, cloud adapters, a self-hosted ComfyUI, a
third-party package's engine named through the ``studio_kit.engines`` entry point group) is
an ``Engine`` registered in ``studio_kit.registry.ENGINES`` and declares its capabilities.
Engines are async: cloud engines spend their time waiting on HTTP.

The contract, explicit (callers never probe with ``hasattr``):

- every engine has ``name``, ``model``, ``capabilities``, ``check``, ``billed_duration``,
  ``estimate_cost``, ``key_problem``, ``reference_slots`` (defaults here) and ``generate``;
- optional capabilities are ``typing.Protocol`` s checked with ``isinstance``:
  ``ResumableEngine`` (a remote job collected by its id after a restart: ``run_job``),
  ``DrawingEngine`` (draws any frame of a request on demand, with the figures' regions:
  QC renders its references with it) and ``ClipEncoder`` (encodes frames as its clips are
  encoded, so a reference still carries the same codec effects).

See docs/engine.md ("Writing a third-party engine").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ..errors import EngineError
from ..models import Character, Garment, Scene, Shot
from ..progress import FractionFn
from ..store.hashing import stable_hash
from ..store.vault import Vault

if TYPE_CHECKING:  # numpy is not imported with the interface
    import numpy as np


class EngineCapabilities(BaseModel):
    max_duration_s: float
    max_width: int = 3840
    max_height: int = 2160
    fps: list[float] = Field(default_factory=lambda: [24.0, 25.0, 30.0])
    reference_images: bool = False
    max_references: int = Field(
        1, ge=0, description="How many reference images the engine takes when "
        "reference_images (the first is the start frame for image-to-video engines).")
    lora: bool = False
    max_prompt_chars: int | None = Field(
        None, gt=0, description="The longest prompt the engine takes (characters); None: "
        "the compiler's table for the engine's name, else its default.")
    price_per_second: float = 0.0
    currency: str = "USD"
    paid: bool = False


class ResolvedCharacter(BaseModel):
    """A character as it appears in one shot: bible entry, outfit, set mark."""

    character: Character
    outfit_id: str
    garments: list[Garment]
    mark: str | None = None


class ShotSpec(BaseModel):
    """A shot with everything it refers to resolved, so an engine needs no project."""

    episode: str
    shot: Shot
    scene: Scene
    characters: list[ResolvedCharacter] = Field(default_factory=list)
    bible_version: str = Field("", description="Hash of the characters and scene used.")


class RenderFormat(BaseModel):
    width: int = 1280
    height: int = 720
    fps: float = 24.0


class Drift(BaseModel):
    """Deliberate perturbation of identity and continuity, for testing quality checks.

    ``amount`` 0 = faithful, 1 = very visible. The local engine applies it; cloud engines
    ignore it (they drift on their own).
    """

    amount: float = Field(0.0, ge=0, le=1)
    kinds: list[str] = Field(
        default_factory=lambda: ["hair_hue", "garment_hue", "face", "light_direction",
                                 "colour_temperature"])


class EngineRequest(BaseModel):
    spec: ShotSpec
    prompt: str = ""
    negative_prompt: str = ""
    references: list[str] = Field(
        default_factory=list, description="Vault hashes of images, in priority order "
        "(studio_kit.production.conditioning); with options['continues'] the first is the previous "
        "shot's last frame.")
    seed: int = 0
    format: RenderFormat = Field(default_factory=RenderFormat)
    duration_s: float | None = Field(default=None, description="Defaults to the shot's.")
    drift: Drift = Field(default_factory=Drift)
    visemes: list[tuple[float, str]] | None = Field(
        default=None, description="(time s, viseme) for the mouth, from the audio stage.")
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.duration_s if self.duration_s is not None else self.spec.shot.duration_s

    def request_hash(self, engine: str, model: str = "") -> str:
        """Identity of a paid request: the same hash is never paid for twice."""
        return stable_hash("engine-request", engine, model, self.model_dump(mode="json"))


class EngineResult(BaseModel):
    asset: str = Field(description="Vault hash of the video file.")
    engine: str
    model: str = ""
    duration_s: float
    width: int
    height: int
    fps: float
    cost: float = 0.0
    currency: str = "USD"
    request_hash: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)


#: a job's fraction (studio_kit.progress: the fraction view of the one ProgressEvent)
ProgressFn = FractionFn


class Engine(ABC):
    """Base class: subclasses set ``name``, ``model``, ``capabilities`` and ``generate``."""

    name: str = ""
    model: str = ""
    capabilities: EngineCapabilities

    def check(self, request: EngineRequest) -> None:
        """Raise EngineError if the request is outside this engine's capabilities."""
        caps = self.capabilities
        d = request.duration
        sid = request.spec.shot.id
        if d <= 0:
            raise EngineError(f"shot {sid}: duration {d:g}s must be positive",
                              field="duration_s", hint="set duration_s above 0")
        if d > caps.max_duration_s:
            raise EngineError(
                f"shot {sid}: {d:g}s is longer than {self.name}'s maximum {caps.max_duration_s:g}s",
                field="duration_s", hint="split the shot or route it to another engine")
        f = request.format
        if not (16 <= f.width <= caps.max_width and 16 <= f.height <= caps.max_height) \
                or f.width % 2 or f.height % 2:
            raise EngineError(
                f"{f.width}x{f.height} is not a resolution {self.name} can render",
                field="format", hint=f"use even sizes up to {caps.max_width}x{caps.max_height}")
        if f.fps not in caps.fps:
            raise EngineError(f"{f.fps:g} fps not supported by {self.name}", field="format.fps",
                              hint=f"use one of {caps.fps}")

    def billed_duration(self, request: EngineRequest) -> float:
        """The seconds the engine bills for ``request`` (an engine that renders only some
        durations bills the next one up); default: the request's duration. Only
        ``request.duration`` is read (the budget passes a stand-in with that alone)."""
        return float(request.duration)

    def estimate_cost(self, request: EngineRequest) -> float:
        """What ``request`` costs: the price per second times the billed seconds."""
        return self.capabilities.price_per_second * self.billed_duration(request)

    def key_problem(self) -> str | None:
        """None when the engine can be called now, else the environment variable holding
        its API key that is not set (routing skips the engine, the estimate names it)."""
        return None

    def reference_slots(self, continues: bool) -> int:
        """How many reference images a request may carry (``production.conditioning``;
        ``continues``: the first is the previous shot's last frame)."""
        caps = self.capabilities
        return caps.max_references if caps.reference_images else 0

    @abstractmethod
    async def generate(self, request: EngineRequest, vault: Vault,
                       progress: ProgressFn | None = None) -> EngineResult:
        """Produce the clip, store it in the vault, return the result."""


# -- optional capabilities (checked with isinstance, never hasattr) ---------------------
@runtime_checkable
class ResumableEngine(Protocol):
    """An engine whose work is a remote job: submitted once, then collected by its id,
    also after the process stopped (``production.generation`` records the id in the ledger
    and calls ``run_job(remote_id=...)`` instead of paying again)."""

    async def run_job(self, request: EngineRequest, vault: Vault,
                      progress: ProgressFn | None = None, *, remote_id: str | None = None,
                      on_submitted: Callable[[str], None] | None = None) -> EngineResult:
        """Submit (``on_submitted(remote_id)`` once accepted) or resume ``remote_id``,
        wait, download into ``vault``; the result carries the cost."""
        ...


@runtime_checkable
class DrawingEngine(Protocol):
    """An engine that draws any frame of a request on demand, deterministically, and knows
    where each character's parts are: QC renders the scene and character references and
    checks a clip against the engine's own drawing (``qc.runner``)."""

    def frame_at(self, request: EngineRequest, t: float) -> np.ndarray:
        """The RGB frame (h, w, 3 uint8) at ``t`` seconds, identical to the clip's."""
        ...

    def figure_regions(self, request: EngineRequest, character_id: str,
                       t: float) -> dict[str, tuple[int, int, int, int]]:
        """Pixel boxes (x0, y0, x1, y1) of a character's parts at ``t``."""
        ...


@runtime_checkable
class ClipEncoder(Protocol):
    """An engine that encodes frames as its clips are encoded (a QC reference still goes
    through it so codec and colour-matrix effects cancel)."""

    def encode_stream(self, frames: Iterable[np.ndarray], out: str | Path,
                      fmt: RenderFormat) -> int:
        """Encode ``frames`` to ``out``; returns the number of frames written."""
        ...
