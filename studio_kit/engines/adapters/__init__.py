"""Cloud and self-hosted engine adapters (Runway, Luma, Kling and Pika via fal, Replicate,
ComfyUI) on one HTTP base; see docs/routing.md."""

from . import comfyui, fal, luma, replicate, runway  # noqa: F401  (register the engines)
from .errors import *  # noqa: F403
from .http import HttpEngine, HttpJobClient, JobState

__all__ = ["HttpEngine", "HttpJobClient", "JobState"]
