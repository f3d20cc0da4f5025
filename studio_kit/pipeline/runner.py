"""The stage runner: content-addressed, resumable, recorded in the ledger.

A stage is a function from inputs to files. Its cache key is a stable hash of its name,
its version and its inputs (upstream stages are named by their output hashes, so a change
anywhere propagates exactly as far as it must). Before running, the runner asks the vault
for a record under that key; on a hit the stage is skipped. Outputs are stored in the
vault before the record is written, so an interrupted run resumes from the last finished
stage. Every stage, hit or miss, becomes one ``stage_results`` row in the ledger.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..progress import ProgressCallback, ProgressEvent, fraction_reporter
from ..store.cache import Cache, force_vault
from ..store.hashing import stable_hash
from ..store.ledger import Ledger
from ..store.vault import Vault

__all__ = ["ProgressCallback", "ProgressEvent", "StageContext", "StageOutput",
           "StageProduct", "StageRunner", "stage_key"]


@dataclass
class StageProduct:
    """What a stage function returns: files to store, objects already stored, metadata."""

    files: dict[str, Path] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageOutput:
    stage: str
    subject: str | None
    key: str
    outputs: dict[str, str]
    meta: dict[str, Any]
    cache_hit: bool
    seconds: float
    vault: Vault = field(repr=False)

    def path(self, name: str) -> Path:
        return self.vault.get(self.outputs[name])

    def digest(self, name: str) -> str:
        return self.outputs[name]


class StageContext:
    """Given to a stage function: a scratch folder and a progress reporter."""

    def __init__(self, workdir: Path, report: Callable[[float, str], None]) -> None:
        self.workdir = workdir
        self._report = report

    def progress(self, fraction: float, message: str = "") -> None:
        self._report(max(0.0, min(1.0, fraction)), message)

    def file(self, name: str) -> Path:
        return self.workdir / name


StageFn = Callable[[StageContext], StageProduct]


def stage_key(stage: str, version: str, inputs: Any) -> str:
    return stable_hash("stage", stage, version, inputs)


class StageRunner:
    """Runs stages against one vault, recording each in the ledger under ``run_id``."""

    def __init__(self, vault: Vault, ledger: Ledger | None = None, run_id: int | None = None,
                 progress: ProgressCallback | None = None, *, force: bool = False) -> None:
        self.vault = force_vault(vault, force)  # --force: the vault's one scope
        self.ledger = ledger
        self.run_id = run_id
        self.progress = progress
        self.force = force
        self.results: list[StageOutput] = []

    def _emit(self, event: ProgressEvent) -> None:
        if self.progress is not None:
            self.progress(event)

    def run(self, stage: str, inputs: Any, fn: StageFn, *, subject: str | None = None,
            version: str = "1") -> StageOutput:
        """Return the stage's outputs for ``inputs``: from the cache, or by running ``fn``."""
        key = stage_key(stage, version, inputs)
        self._emit(ProgressEvent(stage, subject, "start"))
        t0 = time.perf_counter()
        # the stage is a namespace of store.cache (counted; the vault's --force scope: a
        # forced run re-makes each stage record once)
        cache = Cache(self.vault, stage)
        rec = cache.lookup(key)
        if rec is not None:
            out = StageOutput(stage, subject, key, dict(rec.outputs), dict(rec.meta), True,
                              time.perf_counter() - t0, self.vault)
            self._record(out)
            self._emit(ProgressEvent(stage, subject, "hit", 1.0, out.seconds))
            return out
        workdir = self.vault.work_dir(f"{stage}-")  # named for this process (kill -9 cleanup)

        try:
            product = fn(StageContext(workdir, fraction_reporter(self.progress, stage, subject)))
            meta = dict(product.meta)
            outputs = dict(cache.put(key, digests=product.digests, files=product.files,
                                     meta=meta).outputs)  # objects first, then the record
            seconds = time.perf_counter() - t0
        except BaseException as exc:
            seconds = time.perf_counter() - t0
            if self.ledger is not None:
                self.ledger.stage_result(self.run_id, stage, key, cache_hit=False,
                                         subject=subject, seconds=seconds, status="failed")
            self._emit(ProgressEvent(stage, subject, "failed", seconds=seconds,
                                     message=str(exc).splitlines()[0] if str(exc) else ""))
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        out = StageOutput(stage, subject, key, outputs, meta, False, seconds, self.vault)
        self._record(out)
        self._emit(ProgressEvent(stage, subject, "done", 1.0, seconds))
        return out

    def _record(self, out: StageOutput) -> None:
        self.results.append(out)
        if self.ledger is not None:
            self.ledger.stage_result(self.run_id, out.stage, out.key, cache_hit=out.cache_hit,
                                     subject=out.subject, seconds=round(out.seconds, 4),
                                     outputs=out.outputs)

    # -- summaries ---------------------------------------------------------------------
    def summary(self) -> dict[str, int]:
        hits = sum(r.cache_hit for r in self.results)
        return {"stages": len(self.results), "hits": hits, "misses": len(self.results) - hits}
