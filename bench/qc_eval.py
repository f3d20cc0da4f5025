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

Footage the embedded engine did not draw (``--footage``): real operations on its rendered
clips (decoded, changed, re-encoded with ffmpeg: recolour a character's hair or garment
pixels, another character in its place, a white-balance change, shift, zoom), scored
through the detector path (``qc_clip(..., regions="detector")``: the engine's figure
regions are not used; ``qc.detect`` finds the characters):

    .venv/bin/python -m bench.qc_eval --footage          # 10 shots x 13 operations
    .venv/bin/python -m bench.qc_eval --footage --quick  # 2 shots, what the tests run

Per-take QC time, the proxy masks (visible hair, figure silhouettes) off vs on, side by side
in one run (``--timing``):

    .venv/bin/python -m bench.qc_eval --timing
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
    from studio_kit.production.routing import build_request
    from studio_kit.project.series_folder import Project
    from studio_kit.qc.runner import qc_clip, references_for
    from studio_kit.store.vault import Vault

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
    from studio_kit.project.series_folder import Project

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


# -- footage the embedded engine did not draw: real operations on rendered clips -----------
#: footage operations: name -> (amount levels, counts for recall when amount >= 0.3)
FOOTAGE_OPS = {
    "hair_recolour": "hue of the character's hair pixels rotated by 120 x amount degrees "
                     "(saturation raised to at least 0.6 x amount)",
    "garment_recolour": "the same on the garment pixels",
    "white_balance": "every pixel multiplied by the gains of a light 50 x amount % warmer "
                     "in Kelvin (the engine's own light model, kelvin_gains)",
    "swap": "another bible character drawn in the character's place",
    "shift": "the picture moved 14 px right and 6 px up (edges repeated)",
    "zoom": "cropped to 1 / 1.08 of the frame about the centre and scaled back up",
    "shift+hair_recolour": "shifted as above, and the hair recoloured",
}
FOOTAGE_PLAN = [("none", 0.0), ("shift", 0.0), ("zoom", 0.0),
                ("hair_recolour", 0.05), ("garment_recolour", 0.05), ("white_balance", 0.1),
                ("hair_recolour", 0.3), ("hair_recolour", 0.6),
                ("garment_recolour", 0.3), ("garment_recolour", 0.6),
                ("white_balance", 0.3), ("swap", 1.0), ("shift+hair_recolour", 0.3)]
SWAP_TO = {"mara": "elodie", "elodie": "theo", "theo": "mara"}
#: every shot of the sample episode (None: the storyboard's; was 5 shots, which left out the
#: extreme wide, the night wide and the beanie over-the-shoulder shots)
FOOTAGE_SHOTS: list[str] | None = None
QUICK_FOOTAGE_SHOTS = ["s02-cliff-mara", "s09-cafe-elodie"]


def decode(path) -> list[np.ndarray]:
    """Every frame of a clip, full size (PyAV)."""
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def encode(frames: list[np.ndarray], out, fps: float = 24.0) -> Path:
    """Re-encode frames with ffmpeg (H.264, the embedded engine's settings)."""
    from studio_kit.engines.base import RenderFormat
    from studio_kit.engines.local import encode_stream

    h, w = frames[0].shape[:2]
    encode_stream(frames, out, RenderFormat(width=w, height=h, fps=fps))
    return Path(out)


def part_masks(request, kind: str, n: int) -> list[np.ndarray]:
    """Per frame, the pixels of the characters' hair (``hair_hue``) or garments
    (``garment_hue``): where the engine's drawing changes when only that colour changes."""
    from studio_kit.engines.base import Drift
    from studio_kit.engines.local.engine import validate_request

    a = validate_request(request.model_copy(update={"drift": Drift()}))
    b = validate_request(request.model_copy(update={"drift": Drift(amount=1.0,
                                                                   kinds=[kind])}))
    fps = request.format.fps
    return [np.abs(a.frame(i / fps).astype(np.int16) - b.frame(i / fps)).max(axis=-1) > 6
            for i in range(n)]


def recolour(frames: list[np.ndarray], masks: list[np.ndarray], amount: float
             ) -> list[np.ndarray]:
    """Rotate the hue of the masked pixels by 120 x amount degrees (OpenCV HSV), raising
    their saturation to at least 0.6 x amount (dark, greyish hair shows the change)."""
    import cv2

    out = []
    for f, m in zip(frames, masks, strict=True):
        hsv = cv2.cvtColor(f, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
        hsv[..., 0] = np.where(m, (hsv[..., 0] + 256.0 * amount / 3.0) % 256.0, hsv[..., 0])
        hsv[..., 1] = np.where(m, np.maximum(hsv[..., 1], 255.0 * 0.6 * amount), hsv[..., 1])
        out.append(cv2.cvtColor(np.clip(hsv + 0.5, 0, 255).astype(np.uint8),
                                cv2.COLOR_HSV2RGB_FULL))
    return out


def white_balance(frames: list[np.ndarray], kelvin: float, amount: float) -> list[np.ndarray]:
    from studio_kit.engines.local import kelvin_gains

    g = (np.array(kelvin_gains(int(round(kelvin * (1 + 0.5 * amount)))))
         / np.array(kelvin_gains(int(round(kelvin)))))
    return [np.clip(f.astype(np.float32) * g + 0.5, 0, 255).astype(np.uint8) for f in frames]


def warp(frames: list[np.ndarray], dx: float = 0.0, dy: float = 0.0, zoom: float = 1.0
         ) -> list[np.ndarray]:
    """Shift by (dx, dy) px and/or zoom about the centre (crop + scale back), edges
    repeated."""
    import cv2

    h, w = frames[0].shape[:2]
    m = np.array([[zoom, 0, (1 - zoom) * w / 2 + dx], [0, zoom, (1 - zoom) * h / 2 + dy]])
    return [cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE) for f in frames]


def swapped(request, project) -> object:
    """The request with each character replaced by another bible character (same id and
    mark, the other's appearance and default outfit)."""
    chars = []
    for rc in request.spec.characters:
        other = project.characters[SWAP_TO.get(rc.character.id, "mara")]
        outfit = other.wardrobe.default
        chars.append(rc.model_copy(update={
            "character": other.model_copy(update={"id": rc.character.id}),
            "outfit_id": outfit, "garments": other.wardrobe.outfits[outfit].garments}))
    return request.model_copy(update={"spec": request.spec.model_copy(
        update={"characters": chars})})


def footage_op(op: str, amount: float, request, clip, project, workdir: Path) -> Path:
    """Apply one footage operation to a rendered clip; the re-encoded clip's path."""
    import asyncio

    from studio_kit.engines.local import LocalEngine
    from studio_kit.store.vault import Vault

    frames = decode(clip)
    if op == "none":
        return Path(clip)
    if op == "swap":
        vault = Vault(workdir / "swap-vault")
        res = asyncio.run(LocalEngine().generate(swapped(request, project), vault))
        return vault.get(res.asset)
    if op.startswith("shift"):
        frames = warp(frames, dx=14 * frames[0].shape[1] / 640,
                      dy=-6 * frames[0].shape[1] / 640)
    if op == "zoom":
        frames = warp(frames, zoom=1.08)
    if op.endswith("recolour"):
        kind = "hair_hue" if "hair" in op else "garment_hue"
        masks = part_masks(request, kind, len(frames))
        if op.startswith("shift"):
            masks = [m > 0 for m in warp([mm.astype(np.uint8) * 255 for mm in masks],
                                         dx=14 * frames[0].shape[1] / 640,
                                         dy=-6 * frames[0].shape[1] / 640)]
            masks = [m[..., 0] if m.ndim == 3 else m for m in masks]
        frames = recolour(frames, masks, amount)
    if op == "white_balance":
        frames = white_balance(frames, request.spec.scene.lighting.colour_temperature_k, amount)
    return encode(frames, workdir / f"{op}-{amount:g}.mp4", request.format.fps)


def _visible_change(a_path, b_path) -> bool:
    """At least 0.1 % of the middle frame's pixels changed by 3 CIEDE2000 or more."""
    from studio_kit.colorimetry import delta_e, srgb_to_lab

    a, b = decode(a_path), decode(b_path)
    i = len(a) // 2
    x, y = a[i], b[min(i, len(b) - 1)]
    changed = np.abs(x.astype(np.int16) - y).max(axis=-1) > 0
    if changed.mean() < 0.001:
        return False
    d = delta_e(srgb_to_lab(x[changed]), srgb_to_lab(y[changed]))
    return float((d >= 3.0).sum()) / changed.size >= 0.001


def _footage_shot(args: tuple) -> list[Case]:
    (sid, seed, plan, width, height, duration_s, tier, sample, progress) = args
    warnings.filterwarnings("ignore")
    import asyncio

    from studio_kit.engines.base import RenderFormat
    from studio_kit.engines.local import LocalEngine
    from studio_kit.production.routing import build_request
    from studio_kit.project.series_folder import Project
    from studio_kit.qc.runner import qc_clip, references_for
    from studio_kit.store.vault import Vault

    project = Project.load(sample)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        vault = Vault(work / "vault")
        req = build_request(project, "01", sid, duration_s=duration_s)
        req = req.model_copy(update={"format": RenderFormat(width=width, height=height,
                                                            fps=24), "seed": seed})
        scene_ref, char_refs = references_for("local", req, vault)
        clip = vault.get(asyncio.run(LocalEngine().generate(req, vault)).asset)
        for op, amount in plan:
            out = footage_op(op, amount, req, clip, project, work)
            report = qc_clip(out, req, "local", vault=vault, tier=tier, regions="detector",
                             scorers=["character", "continuity"], scene_ref=scene_ref,
                             character_refs=char_refs)
            positive = op == "swap" or (op not in ("none", "shift", "zoom") and amount >= 0.3)
            visible = positive and _visible_change(
                clip, out if not op.startswith("shift+") else
                footage_op(op.split("+", 1)[1], amount, req, clip, project, work))
            case = Case(sid, seed, op, amount, not report.passed, visible,
                        [f.metric for f in report.failures],
                        {x.metric: round(x.value, 2) for x in report.scores if not x.skipped})
            case.positive = positive  # type: ignore[attr-defined]
            cases.append(case)
            if progress:
                print(f"{sid} {op} {amount:g}: {'FLAG' if case.flagged else 'pass'} "
                      f"{case.failures}", flush=True)
    return cases


@dataclass
class FootageResult(EvalResult):
    @property
    def positives(self) -> list[Case]:
        return [c for c in self.cases if getattr(c, "positive", False) and c.visible]

    @property
    def negatives(self) -> list[Case]:
        return [c for c in self.cases if not getattr(c, "positive", False)]

    def table(self) -> str:
        rows = ["| footage operation | amount | cases | flagged | rate |", "|---|---|---|---|---|"]
        for op, amount in dict.fromkeys((c.kind, c.amount) for c in self.cases):
            cs = [c for c in self.cases if c.kind == op and c.amount == amount
                  and (c.visible or not getattr(c, "positive", False))]
            if cs:
                f = sum(c.flagged for c in cs)
                rows.append(f"| {op} | {amount:g} | {len(cs)} | {f} | {f / len(cs):.0%} |")
        inv = [c for c in self.cases if getattr(c, "positive", False) and not c.visible]
        return "\n".join(rows) + (
            f"\n**recall (visible changes): {self.recall:.1%}** "
            f"({sum(c.flagged for c in self.positives)}/{len(self.positives)}); "
            f"**false alarms (no change, shift, zoom, recolour 0.05, white balance 0.1): "
            f"{self.false_alarm_rate:.1%}** "
            f"({sum(c.flagged for c in self.negatives)}/{len(self.negatives)}); "
            f"invisible changes left out: {len(inv)}; {len(self.cases)} clips in "
            f"{self.seconds:.0f} s")


def run_footage_eval(shots: list[str] | None = None, seeds: tuple[int, ...] = (0,),
                     plan: list[tuple[str, float]] | None = None, width: int = 640,
                     height: int = 360, duration_s: float = 0.25, tier: str = "standard",
                     sample: Path = SAMPLE, progress: bool = False) -> FootageResult:
    """Clips the embedded engine did not draw (footage operations on its clips), scored
    through the detector path (``regions="detector"``: no engine regions)."""
    from studio_kit.project.series_folder import Project

    shots = shots or FOOTAGE_SHOTS or [s.id for s in Project.load(sample).storyboard("01").shots]
    jobs = [(sid, seed, plan or FOOTAGE_PLAN, width, height, duration_s, tier, sample,
             progress) for sid in shots for seed in seeds]
    result = FootageResult()
    t0 = time.perf_counter()
    for job in jobs:
        result.cases.extend(_footage_shot(job))
    result.seconds = time.perf_counter() - t0
    return result


def run_footage_quick(**kw) -> FootageResult:
    return run_footage_eval(shots=QUICK_FOOTAGE_SHOTS, **kw)


TIMING_SHOTS = ["s02-cliff-mara", "s05-lamp-theo", "s07-cafe-wide"]


def run_timing(shots: list[str] | None = None, reps: int = 3, width: int = 640,
               height: int = 360, duration_s: float = 1.0, sample: Path = SAMPLE) -> str:
    """Per-take QC time (character + continuity + lipsync scorers, references cached) on a
    re-encoded (shifted) take of each shot, through the engine path and the detector path,
    with the proxy masks of ``qc.masks`` off ("before": hair by k-means / cells, background
    outside the figure boxes) and on ("after"), interleaved in one process."""
    warnings.filterwarnings("ignore")
    from studio_kit.engines.base import RenderFormat
    from studio_kit.engines.local import LocalEngine
    from studio_kit.production.routing import build_request
    from studio_kit.project.series_folder import Project
    from studio_kit.qc.runner import qc_clip, references_for
    from studio_kit.store.vault import Vault

    project = Project.load(sample)
    rows = ["| shot | path | masks off (before) s | masks on (after) s | ratio |",
            "|---|---|---|---|---|"]
    off = {"hair_mask": None, "figures_mask": None}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        vault = Vault(work / "vault")
        for sid in shots or TIMING_SHOTS:
            req = build_request(project, "01", sid, duration_s=duration_s)
            req = req.model_copy(update={"format": RenderFormat(width=width, height=height,
                                                                fps=24), "seed": 0})
            refs = references_for("local", req, vault)
            clip = vault.get(asyncio.run(LocalEngine().generate(req, vault)).asset)
            moved = footage_op("shift", 0.0, req, clip, project, work)
            for label, path, mode in (("engine", clip, "auto"), ("detector", moved,
                                                                  "detector")):
                t = {"off": [], "on": []}
                for _ in range(reps):
                    for key, opts in (("off", off), ("on", {})):
                        t0 = time.perf_counter()
                        qc_clip(path, req, "local", vault=vault, regions=mode,
                                scorers=["character", "continuity", "lipsync"],
                                scene_ref=refs[0], character_refs=refs[1],
                                options=dict(opts))
                        t[key].append(time.perf_counter() - t0)
                a, b = float(np.median(t["off"])), float(np.median(t["on"]))
                rows.append(f"| {sid} | {label} | {a:.2f} | {b:.2f} | {b / a:.2f}x |")
    return "\n".join(rows) + (f"\n(median of {reps}; {width}x{height}, {duration_s:g} s "
                              "takes at 24 fps)")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv
    workers = 2 if "-j2" in argv else 1
    if "--timing" in argv:
        print(run_timing())
        return
    if "--footage" in argv:
        result = run_footage_quick(progress=verbose) if "--quick" in argv else \
            run_footage_eval(progress=verbose)
    else:
        result = run_quick(progress=verbose) if "--quick" in argv else \
            run_eval(progress=verbose, workers=workers)
    print(result.table())


if __name__ == "__main__":
    main()
