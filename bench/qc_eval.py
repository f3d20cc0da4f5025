"""Measured evaluation of the consistency and continuity checks on the embedded engine.

Shots of the sample episode are rendered by the ``local`` engine (real H.264 clips) with a
known drift (kind x amount), then scored by the ``character`` and ``continuity`` scorers
against their locked references. A clip is *flagged* when any of those scores fails.

Labels: amount <= 0.1 is below the visible threshold (a flag there is a false alarm);
amount >= 0.3 is above it and counts for recall when the drift visibly changed the picture
(>= 0.1 % of the pixels of the middle frame changed by 3 CIEDE2000 or more; e.g. hair-hue
drift on a character whose hair is under a beanie, or a figure too small or too fogged to
see, is not visible, and is reported apart as 'invisible').

    .venv/bin/python -m bench.qc_eval            # full set (all shots, 2 seeds, 6 levels)
    .venv/bin/python -m bench.qc_eval -j2        # the same on two processes
    .venv/bin/python -m bench.qc_eval --quick    # the reduced set the default tests run
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS = ["hair_hue", "garment_hue", "face", "light_direction", "colour_temperature"]
FULL_LEVELS = [0.0, 0.05, 0.1, 0.3, 0.5, 1.0]
QUICK_SHOTS = ["s02-cliff-mara", "s08-cafe-mara"]
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "lighthouse"


@dataclass
class Case:
    shot: str
    seed: int
    kind: str
    amount: float
    flagged: bool
    visible: bool
    failures: list[str]
    scores: dict[str, float]


@dataclass
class EvalResult:
    cases: list[Case] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def positives(self) -> list[Case]:
        return [c for c in self.cases if c.amount >= 0.3 and c.visible]

    @property
    def negatives(self) -> list[Case]:
        return [c for c in self.cases if c.amount <= 0.1]

    @property
    def recall(self) -> float:
        p = self.positives
        return sum(c.flagged for c in p) / len(p) if p else float("nan")

    @property
    def false_alarm_rate(self) -> float:
        n = self.negatives
        return sum(c.flagged for c in n) / len(n) if n else float("nan")

    def table(self) -> str:
        rows = ["| drift kind | amount | cases | flagged | rate |", "|---|---|---|---|---|"]
        kinds = ["none", *KINDS]
        for kind in kinds:
            for amount in sorted({c.amount for c in self.cases}):
                cs = [c for c in self.cases if c.kind == kind and c.amount == amount]
                if not cs:
                    continue
                vis = [c for c in cs if c.visible or amount <= 0.1]
                if not vis:
                    continue
                f = sum(c.flagged for c in vis)
                rows.append(f"| {kind} | {amount:g} | {len(vis)} | {f} | {f / len(vis):.0%} |")
        inv = [c for c in self.cases if c.amount >= 0.3 and not c.visible]
        summary = (f"\n**recall (amount >= 0.3, visible): {self.recall:.1%}** "
                   f"({sum(c.flagged for c in self.positives)}/{len(self.positives)}); "
                   f"**false alarms (amount <= 0.1): {self.false_alarm_rate:.1%}** "
                   f"({sum(c.flagged for c in self.negatives)}/{len(self.negatives)}); "
                   f"invisible drifts left out: {len(inv)}; {len(self.cases)} clips in "
                   f"{self.seconds:.0f} s")
        return "\n".join(rows) + summary


def _visible(base, drifted, frame_at) -> bool:
    """Does the drift show? At least 0.1 % of the middle frame's pixels change by 3 CIEDE2000
    or more (noticeable at a glance, side by side)."""
    from studio_kit.colorimetry import delta_e, srgb_to_lab

    t = base.duration / 2
    a, b = frame_at(base, t), frame_at(drifted, t)
    changed = np.abs(a.astype(np.int16) - b).max(axis=-1) > 0
    if changed.mean() < 0.001:
        return False
    d = delta_e(srgb_to_lab(a[changed]), srgb_to_lab(b[changed]))
    return float((d >= 3.0).sum()) / changed.size >= 0.001


def _eval_shot(args: tuple) -> list[Case]:
    """All drift cases of one (shot, seed): its own temporary vault (parallel-safe)."""
    (sid, seed, levels, kinds, width, height, duration_s, tier, sample, progress) = args
    warnings.filterwarnings("ignore")
    from studio_kit.engines.base import Drift, RenderFormat
    from studio_kit.engines.local import LocalEngine, frame_at
    from studio_kit.project import Project
    from studio_kit.qc.runner import qc_clip, references_for
    from studio_kit.routing import build_request
    from studio_kit.vault import Vault

    project = Project.load(sample)
    fmt = RenderFormat(width=width, height=height, fps=24)
    engine = LocalEngine()
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        vault = Vault(Path(tmp) / "vault")
        base = build_request(project, "01", sid, duration_s=duration_s)
        base = base.model_copy(update={"format": fmt, "seed": seed})
        scene_ref, char_refs = references_for("local", base, vault)
        plan = [("none", 0.0)] + [(k, a) for k in kinds for a in levels if a > 0]
        for kind, amount in plan:
            req = base if kind == "none" else base.model_copy(
                update={"drift": Drift(amount=amount, kinds=[kind])})
            res = asyncio.run(engine.generate(req, vault))
            report = qc_clip(vault.get(res.asset), req, "local", vault=vault, tier=tier,
                             scorers=["character", "continuity"], scene_ref=scene_ref,
                             character_refs=char_refs)
            visible = kind != "none" and amount >= 0.3 and _visible(base, req, frame_at)
            case = Case(sid, seed, kind, amount, not report.passed, visible,
                        [s.metric for s in report.failures],
                        {s.metric: round(s.value, 2) for s in report.scores if not s.skipped})
            cases.append(case)
            if progress:
                print(f"{sid} seed {seed} {kind} {amount:g}: "
                      f"{'FLAG' if case.flagged else 'pass'} {case.failures} {case.scores}",
                      flush=True)
    return cases


def run_eval(shots: list[str] | None = None, seeds: tuple[int, ...] = (0, 7),
             levels: list[float] | None = None, kinds: list[str] | None = None,
             width: int = 640, height: int = 360, duration_s: float = 0.25,
             tier: str = "standard", sample: Path = SAMPLE, progress: bool = False,
             workers: int = 1) -> EvalResult:
    from studio_kit.project import Project

    levels = levels or FULL_LEVELS
    kinds = kinds or KINDS
    shots = shots or [s.id for s in Project.load(sample).storyboard("01").shots]
    jobs = [(sid, seed, levels, kinds, width, height, duration_s, tier, sample, progress)
            for sid in shots for seed in seeds]
    result = EvalResult()
    t0 = time.perf_counter()
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            for cases in pool.map(_eval_shot, jobs):
                result.cases.extend(cases)
    else:
        for job in jobs:
            result.cases.extend(_eval_shot(job))
    result.seconds = time.perf_counter() - t0
    return result


def run_quick(**kw) -> EvalResult:
    """The reduced set the default test suite runs."""
    return run_eval(shots=QUICK_SHOTS, seeds=(0,), levels=[0.1, 0.3], **kw)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv
    workers = 2 if "-j2" in argv else 1
    result = run_quick(progress=verbose) if "--quick" in argv else \
        run_eval(progress=verbose, workers=workers)
    print(result.table())


if __name__ == "__main__":
    main()
