"""Reframing a 16:9 master to a narrower aspect (9:16, 1:1, 4:5) that follows the subject.

Where the subject is, per master frame:

- a shot the embedded engine rendered: its stored request (``render.json`` shot
  ``request``, a vault hash) replayed through ``engines.local.figure_regions`` - the
  character's face box exactly as drawn, at the shot's own clock;
- a shot another engine made (a cloud take) for a stored request: QC's detector
  (``qc.detect.FigureLocator``: the intended shot registered onto the take, Haar faces
  confirming), the first character's face box;
- anything else (no request, a take it cannot place, cards): OpenCV's face detector
  already used by QC (``qc.detect.detect_faces``) on decoded master frames, sampled a few
  times a second.

The crop path is then made per item of the timeline (reset at every cut): the centre track
is smoothed (Gaussian, no jitter), followed with a dead zone (the crop holds still while the
subject stays well inside it) and a bounded pan speed (``PlatformSpec.max_pan`` widths/s).
The crop is applied in one ffmpeg pass: a ``sendcmd`` script changes the ``crop`` filter's
``x`` only on the frames where it moves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..qc.detect import detect_faces

Box = tuple[float, float, float, float]
#: detector samples per second of footage the engine did not draw
DETECT_PER_S = 6.0
#: engine geometry samples per second (interpolated between)
ENGINE_PER_S = 8.0
#: footage wider than this is scaled down to it for the face detector (boxes mapped back)
DETECT_WIDTH = 320
#: Gaussian smoothing of the subject centre (seconds)
SMOOTH_S = 0.2
#: the crop moves only once the subject centre leaves this fraction of its free room
DEAD_ZONE = 0.35


class CropPath(BaseModel):
    """Where the crop window sits in every master frame (pixels of the master)."""

    width: int
    height: int
    crop_w: int
    crop_h: int
    fps: float
    max_pan_px_s: float
    x: list[int] = Field(default_factory=list)
    y: list[int] = Field(default_factory=list)
    subject: list[Box | None] = Field(default_factory=list)
    cuts: list[int] = Field(default_factory=list, description="Frames where the path resets.")

    def speeds_px_s(self) -> np.ndarray:
        """Pan speed between consecutive frames, cuts excluded."""
        x = np.asarray(self.x, float)
        v = np.abs(np.diff(x)) * self.fps
        for c in self.cuts:
            if 0 < c <= len(v):
                v[c - 1] = 0.0
        return v

    def inside(self) -> np.ndarray:
        """Per frame with a subject: whether its box is inside the crop."""
        out = []
        for x, y, b in zip(self.x, self.y, self.subject, strict=False):
            if b is None:
                continue
            out.append(b[0] >= x - 0.5 and b[2] <= x + self.crop_w + 0.5
                       and b[1] >= y - 0.5 and b[3] <= y + self.crop_h + 0.5)
        return np.asarray(out, bool)


def crop_size(width: int, height: int, out_w: int, out_h: int) -> tuple[int, int]:
    """The largest window of the output's aspect inside the master (even sizes)."""
    if out_w * height <= out_h * width:  # narrower: full height
        cw = int(round(height * out_w / out_h)) // 2 * 2
        return max(2, cw), height
    ch = int(round(width * out_h / out_w)) // 2 * 2
    return width, max(2, ch)


@dataclass
class _Span:
    item: Any  # timeline item
    start: int  # first master frame it owns
    end: int  # one past its last


def _spans(timeline) -> list[_Span]:
    """Each master frame to one item: in an overlap (transition) the earlier item keeps the
    first half, the later the second."""
    items = sorted(timeline.items, key=lambda it: it.record_start)
    spans = []
    for i, it in enumerate(items):
        start, end = it.record_start, it.record_end
        if i > 0 and items[i - 1].record_end > start:
            start = (start + items[i - 1].record_end) // 2
        if i + 1 < len(items) and items[i + 1].record_start < end:
            end = (items[i + 1].record_start + end) // 2
        if end > start:
            spans.append(_Span(it, start, end))
    return spans


def _union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def _engine_boxes(request, rec: dict, span: _Span, fps: float, scale: tuple[float, float]
                  ) -> list[Box | None]:
    from ..engines.local import validate_request

    renderer = validate_request(request)  # built once: figure_regions rebuilds it per call
    ids = [c.character.id for c in request.spec.characters]
    dur = float(request.duration_s or request.spec.duration_s or rec.get("duration_s") or 1)
    sx, sy = scale
    fw, fh = request.format.width, request.format.height

    def at(n: int) -> tuple[str, Box] | None:
        t = min(max(n / fps - float(rec.get("start_s", 0.0)), 0.0), dur - 1e-3)
        for cid in ids:
            f = renderer.regions(cid, t).get("face")
            if f and f[2] > 0 and f[0] < fw and f[3] > 0 and f[1] < fh:
                # the first character in frame is the subject
                return cid, (f[0] * sx, f[1] * sy, f[2] * sx, f[3] * sy)
        return None

    # the geometry at ENGINE_PER_S instants (and the last frame), linear in between while
    # the subject stays the same character (figures move smoothly; a cut resets anyway)
    step = max(1, int(round(fps / ENGINE_PER_S)))
    keys = sorted({*range(span.start, span.end, step), span.end - 1})
    got = {n: at(n) for n in keys}
    out: list[Box | None] = []
    for k0, k1 in zip(keys, [*keys[1:], keys[-1] + 1], strict=True):
        a0, a1 = got[k0], got.get(k1)
        for n in range(k0, min(k1, span.end)):
            if a0 is None:
                out.append(None)
            elif a1 is None or a1[0] != a0[0] or k1 == k0:
                out.append(tuple(float(v) for v in a0[1]))
            else:
                w = (n - k0) / (k1 - k0)
                out.append(tuple(float(p0 + w * (p1 - p0)) for p0, p1 in zip(a0[1], a1[1],
                                                                          strict=True)))
    return out


def _located_boxes(request, rec: dict, vault, span: _Span, fps: float, size: tuple[int, int]
                   ) -> list[Box | None] | None:
    """Footage another engine made for a known request: QC's figure locator
    (``qc.detect.FigureLocator``: the intended shot registered onto the take, Haar faces
    confirming) gives the first character's face box; None if it cannot be placed."""
    from ..qc.base import load_media
    from ..qc.detect import FigureLocator

    try:
        media = load_media(vault.get(rec["asset"]), max_width=320)
        locator = FigureLocator(request, media)
    except Exception:  # noqa: BLE001 - no take file / proxy not drawable: detect on frames
        return None
    sx, sy = size[0] / media.width, size[1] / media.height
    ids = [c.character.id for c in request.spec.characters]
    dur = media.duration_s
    out: list[Box | None] = []
    for n in range(span.start, span.end):
        t = min(max(n / fps - float(rec.get("start_s", 0.0)), 0.0), max(dur - 1e-3, 0.0))
        box = None
        for cid in ids:
            face = locator.regions_at(cid, t).get("face")
            if face and face[2] > 0 and face[0] < media.width and face[3] > 0 \
                    and face[1] < media.height:
                box = (face[0] * sx, face[1] * sy, face[2] * sx, face[3] * sy)
                break
        out.append(box)
    return out


def _detected_boxes(frames: dict[int, np.ndarray], span: _Span, scale: float = 1.0
                    ) -> list[Box | None]:
    """Faces found by the QC detector on sampled frames (decoded ``scale`` times the
    master's size; boxes mapped back), held until the next sample."""
    out: list[Box | None] = []
    last: Box | None = None
    for n in range(span.start, span.end):
        if n in frames:
            found = detect_faces(frames[n], min_size=8)
            last = tuple(v / scale for v in found[0]) if found else None
        out.append(last)
    return out


def _decode(master: Path, wanted: set[int], scale: float = 1.0) -> dict[int, np.ndarray]:
    """The wanted frames as RGB, scaled by ``scale`` in the conversion (swscale)."""
    import av

    frames: dict[int, np.ndarray] = {}
    if not wanted:
        return frames
    with av.open(str(master)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        w = h = None
        for n, f in enumerate(c.decode(stream)):
            if n in wanted:
                if w is None:
                    w = max(2, int(round(f.width * scale)))
                    h = max(2, int(round(f.height * scale)))
                frames[n] = f.to_ndarray(width=w, height=h, format="rgb24")
            if n >= max(wanted):
                break
    return frames


def subject_track(render: dict, timeline, vault, master: Path) -> list[Box | None]:
    """The subject's box in every master frame (None where there is none)."""
    from ..engines.base import EngineRequest

    fps = float(timeline.fps)
    total = timeline.total_frames
    shots = {s["shot_id"]: s for s in render.get("shots", [])}
    track: list[Box | None] = [None] * total
    to_detect: list[_Span] = []
    for span in _spans(timeline):
        rec = shots.get(span.item.id)
        request = None
        if rec and rec.get("request"):
            try:
                request = EngineRequest.model_validate_json(
                    vault.get(rec["request"]).read_bytes())
            except Exception:  # noqa: BLE001 - a missing/old request: detect instead
                request = None
        if request is not None and rec.get("engine") != "local":
            located = _located_boxes(request, rec, vault, span, fps,
                                     (timeline.width, timeline.height))
            if located is not None:
                track[span.start:span.end] = located
            else:
                to_detect.append(span)
        elif request is not None:
            scale = (timeline.width / request.format.width,
                     timeline.height / request.format.height)
            track[span.start:span.end] = _engine_boxes(request, rec, span, fps, scale)
        else:
            to_detect.append(span)
    if to_detect:
        step = max(1, int(round(fps / DETECT_PER_S)))
        wanted = {n for s in to_detect for n in range(s.start, s.end, step)}
        scale = min(1.0, DETECT_WIDTH / timeline.width)
        frames = _decode(master, wanted, scale)
        for span in to_detect:
            track[span.start:span.end] = _detected_boxes(frames, span, scale)
    return track[:total]


def _follow(centres: np.ndarray, room: float, half: float, lo: float, hi: float,
            vmax: float) -> np.ndarray:
    """A dead-zone follower with bounded speed (px per frame), clamped to [lo, hi]."""
    c = float(np.clip(centres[0], lo, hi))
    out = np.empty_like(centres)
    for i, s in enumerate(centres):
        d = s - c
        dz = max(0.0, room) * DEAD_ZONE
        if abs(d) > dz:
            c += float(np.sign(d) * min(abs(d) - dz, vmax))
        c = float(np.clip(c, lo, hi))
        out[i] = c
    return out


def crop_path(track: list[Box | None], timeline, crop_w: int, crop_h: int,
              max_pan: float) -> CropPath:
    """The smoothed, speed-bounded, steady crop path over the whole master."""
    from scipy.ndimage import gaussian_filter1d

    W, H, fps = timeline.width, timeline.height, float(timeline.fps)
    total = len(track)
    vmax_s = max_pan * W
    vmax = vmax_s / fps
    xs = np.full(total, (W - crop_w) / 2.0)
    ys = np.full(total, (H - crop_h) / 2.0)
    cuts = []
    for span in _spans(timeline):
        cuts.append(span.start)
        seg = track[span.start:span.end]
        known = [i for i, b in enumerate(seg) if b is not None]
        if not known:
            continue
        cx = np.array([(b[0] + b[2]) / 2 if b else np.nan for b in seg])
        cy = np.array([(b[1] + b[3]) / 2 if b else np.nan for b in seg])
        idx = np.arange(len(seg))
        cx = np.interp(idx, known, cx[known])
        cy = np.interp(idx, known, cy[known])
        sigma = max(0.5, SMOOTH_S * fps)
        cx, cy = gaussian_filter1d(cx, sigma, mode="nearest"), gaussian_filter1d(
            cy, sigma, mode="nearest")
        bw = float(np.median([seg[i][2] - seg[i][0] for i in known]))
        bh = float(np.median([seg[i][3] - seg[i][1] for i in known]))
        if crop_w < W:
            fx = _follow(cx, (crop_w - bw) / 2, crop_w / 2, crop_w / 2, W - crop_w / 2, vmax)
            xs[span.start:span.end] = fx - crop_w / 2
        if crop_h < H:
            fy = _follow(cy, (crop_h - bh) / 2, crop_h / 2, crop_h / 2, H - crop_h / 2, vmax)
            ys[span.start:span.end] = fy - crop_h / 2
    x = [int(v) for v in np.clip(np.round(xs), 0, W - crop_w)]
    y = [int(v) for v in np.clip(np.round(ys), 0, H - crop_h)]
    return CropPath(width=W, height=H, crop_w=crop_w, crop_h=crop_h, fps=fps,
                    max_pan_px_s=vmax_s, x=x, y=y, subject=track, cuts=cuts[1:])


def sendcmd_script(path: CropPath) -> str:
    """The ``sendcmd`` commands that move the ``crop`` filter: one line per change."""
    lines = []
    px = py = None
    for n, (x, y) in enumerate(zip(path.x, path.y, strict=True)):
        t = max(0.0, (n - 0.5) / path.fps)
        parts = []
        if x != px:
            parts.append(f"crop x {x}")
        if y != py:
            parts.append(f"crop y {y}")
        if parts:
            lines.append(f"{t:.6f} " + ", ".join(parts) + ";")
        px, py = x, y
    return "\n".join(lines) + "\n"


def write_crop_plot_data(path: CropPath, dest: Path) -> Path:
    """The crop path as JSON (what a per-shot crop plot is drawn from)."""
    from ..store.yamlio import atomic_write_text

    atomic_write_text(dest, json.dumps(path.model_dump(), indent=None))
    return dest
