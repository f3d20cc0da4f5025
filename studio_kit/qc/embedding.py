"""Pluggable learned-embedding identity scorer, used only when a model is configured locally.

Configure one of:
- ``STUDIO_QC_EMBEDDING_MODEL=/path/to/model.onnx`` (an image -> vector ONNX model taking
  a float32 NCHW 0..1 RGB batch; needs ``onnxruntime`` installed) - nothing is downloaded;
- a Python embedder registered with ``register_embedder(name, fn)`` and selected with
  ``ctx.options["embedder"] = name`` (``fn(image uint8 HxWx3) -> 1-D vector``).

Without either, the scorer reports 'skipped'. The score is the cosine similarity between
the character's figure crop in the shot and in the reference frame.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np

from ..registry import SCORERS
from ..settings import settings
from .base import QCContext, QCScore, Scorer
from .measure import sample_times

Embedder = Callable[[np.ndarray], np.ndarray]
_EMBEDDERS: dict[str, Embedder] = {}
ENV = "STUDIO_QC_EMBEDDING_MODEL"


def register_embedder(name: str, fn: Embedder) -> None:
    _EMBEDDERS[name] = fn


@cache
def _onnx_embedder(path: str) -> Embedder | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    size = [d if isinstance(d, int) else 224 for d in inp.shape[2:4]] or [224, 224]

    def embed(image: np.ndarray) -> np.ndarray:
        from PIL import Image

        im = Image.fromarray(image).resize((size[1], size[0]))
        x = (np.asarray(im, np.float32) / 255.0).transpose(2, 0, 1)[None]
        return np.asarray(session.run(None, {inp.name: x})[0]).reshape(-1)

    return embed


def configured_embedder(ctx: QCContext | None = None) -> tuple[str, Embedder] | None:
    name = (ctx.options.get("embedder") if ctx else None)
    if name and name in _EMBEDDERS:
        return name, _EMBEDDERS[name]
    model = settings().qc_embedding_model  # $STUDIO_QC_EMBEDDING_MODEL
    path = str(model) if model else None
    if path and Path(path).is_file():
        fn = _onnx_embedder(path)
        if fn is not None:
            return Path(path).name, fn
    return None


def figure_crop(frame: np.ndarray, box, scale: float) -> np.ndarray | None:
    x0, y0, x1, y1 = (int(round(float(v) * scale)) for v in box)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return frame[max(y0, 0):y1, max(x0, 0):x1]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


@SCORERS.register("embedding")
class EmbeddingScorer(Scorer):
    name = "embedding"

    def score(self, ctx: QCContext) -> list[QCScore]:
        emb = configured_embedder(ctx)
        if emb is None:
            return [self.skip("character.embedding",
                              f"no embedding model configured (set {ENV})")]
        refs = ctx.options.get("reference_crops", {})
        if ctx.regions is None or not refs:
            return [self.skip("character.embedding", "no reference crop or figure regions")]
        name, fn = emb
        sims = {}
        for rc in ctx.spec.characters:
            cid = rc.character.id
            if cid not in refs:
                continue
            ref_vec = fn(refs[cid])
            vals = []
            for t in sample_times(ctx.media.duration_s, 3):
                i = min(int(round(t * ctx.media.fps)), len(ctx.media.frames) - 1)
                crop = figure_crop(ctx.media.frames[i], ctx.regions(cid, i / ctx.media.fps)
                                   ["figure"], ctx.media.scale)
                if crop is not None:
                    vals.append(cosine(fn(crop), ref_vec))
            if vals:
                sims[cid] = float(np.median(vals))
        if not sims:
            return [self.skip("character.embedding", "no character visible")]
        return [self.make(ctx, "character.embedding", min(sims.values()), model=name,
                          per_character=sims)]
