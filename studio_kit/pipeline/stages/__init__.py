"""The episode's stages, one small object each (see :mod:`studio_kit.pipeline.graph`).

- :mod:`.base` - :class:`Stage` (name, requires, ``run(ctx)`` -> products, ``run_shot``).
- :mod:`.timing` - ``dialogue`` (per shot), ``timing`` (durations, the picture plan).
- :mod:`.pictures` - ``prompt`` (per shot), ``generate`` (THE shot path: failover, QC,
  regeneration).
- :mod:`.shots` - ``sign`` (C2PA per shot, the shot records), ``grade`` (per shot).
- :mod:`.sound` - ``mix`` (on a worker thread), ``conform``, ``captions``, ``deliver_sound``.
- :mod:`.masters` - ``deliver_shots``, ``assemble``, ``masters`` (mux + ProRes),
  ``certify``, ``summary``, ``report``.
"""

from __future__ import annotations

from .base import Stage
from .masters import (
    AssembleStage,
    CertifyStage,
    DeliverShotsStage,
    MastersStage,
    ReportStage,
    SummaryStage,
)
from .pictures import GenerateStage, PromptStage
from .shots import GradeStage, SignStage
from .sound import CaptionsStage, ConformStage, DeliverSoundStage, MixStage
from .timing import DialogueStage, PicturePlan, TimingStage

__all__ = [
    "AssembleStage", "CaptionsStage", "CertifyStage", "ConformStage", "DeliverShotsStage",
    "DeliverSoundStage", "DialogueStage", "GenerateStage", "GradeStage", "MastersStage",
    "MixStage", "PicturePlan", "PromptStage", "ReportStage", "SignStage", "Stage",
    "SummaryStage", "TimingStage",
]
