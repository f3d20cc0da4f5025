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
#: finds of the subject further apart than this (seconds) are not interpolated between
GAP_S = 1.0
#: frames settled at a time while the path is built frame by frame
SETTLE_EVERY = 24
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
    track, to_detect = planned_track(render, timeline, vault)
    if to_detect:
        fps = float(timeline.fps)
        frames = _decode(master, detect_samples(to_detect, fps), detect_scale(timeline))
        for span in to_detect:
            track[span.start:span.end] = _detected_boxes(frames, span, detect_scale(timeline))
    return track[:timeline.total_frames]


def detect_samples(spans: list[_Span], fps: float) -> set[int]:
    """The master frames the face detector looks at (``DETECT_PER_S`` in each span)."""
    step = max(1, int(round(fps / DETECT_PER_S)))
    return {n for s in spans for n in range(s.start, s.end, step)}


def detect_scale(timeline) -> float:
    return min(1.0, DETECT_WIDTH / timeline.width)


def planned_track(render: dict, timeline, vault) -> tuple[list[Box | None], list[_Span]]:
    """The subject's box where it is known without decoding the master (engine geometry,
    located takes) and the spans left for the face detector."""
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
    return track, to_detect


class PathBuilder:
    """The crop path built frame by frame: fed the subject box of each master frame in
    order, it gives each frame's final crop (x, y) once ``lookahead`` more frames are known
    (a span's end settles it at once). ``crop_path`` is this builder fed the whole track, so
    a path built while the master is decoded (``reframe_stream``) is the same path.

    Per timeline item (reset at every cut): the subject's centre and size are filled where
    it was not found (linear between finds up to ``GAP_S`` apart, held otherwise; the crop's
    centre before the first find), smoothed (Gaussian, ``SMOOTH_S``), then followed with a
    dead zone (``DEAD_ZONE`` of the room the subject's size leaves) and a bounded pan speed
    (``max_pan`` widths/s). Every step reads at most ``lookahead`` frames ahead."""

    def __init__(self, timeline, crop_w: int, crop_h: int, max_pan: float,
                 total: int | None = None) -> None:
        self.W, self.H, self.fps = timeline.width, timeline.height, float(timeline.fps)
        self.crop_w, self.crop_h = crop_w, crop_h
        self.total = timeline.total_frames if total is None else total
        self.vmax_s = max_pan * self.W
        self.vmax = self.vmax_s / self.fps
        self.sigma = max(0.5, SMOOTH_S * self.fps)
        self.radius = int(4.0 * self.sigma + 0.5)  # scipy's gaussian_filter1d support
        self.gap = max(1, int(round(GAP_S * self.fps)))
        self.lookahead = self.radius + self.gap
        self.spans = [sp for sp in _spans(timeline) if sp.start < self.total]
        self.boxes: list[Box | None] = []
        self.x: list[int] = []
        self.y: list[int] = []
        self._follow: dict[str, float | None] = {"x": None, "y": None}
        self._span = 0
        self._filled = np.empty((0, 4))
        self._last: tuple[int, np.ndarray] | None = None

    def feed(self, box: Box | None) -> int:
        """One more frame's subject box; returns how many frames are settled."""
        self.boxes.append(box)
        if len(self.boxes) - len(self.x) >= self.lookahead + SETTLE_EVERY:
            self._settle(final=False)
        return len(self.x)

    def finish(self) -> CropPath:
        self._settle(final=True)
        return self.path()

    def path(self) -> CropPath:
        return CropPath(width=self.W, height=self.H, crop_w=self.crop_w, crop_h=self.crop_h,
                        fps=self.fps, max_pan_px_s=self.vmax_s, x=list(self.x),
                        y=list(self.y), subject=list(self.boxes[:len(self.x)]),
                        cuts=[sp.start for sp in self.spans][1:])

    # -- settling ------------------------------------------------------------------------
    def _settle(self, final: bool) -> None:
        known = len(self.boxes)
        limit = min(self.total, known)
        while len(self.x) < limit:
            n = len(self.x)
            while self._span < len(self.spans) and self.spans[self._span].end <= n:
                self._span += 1
            sp = self.spans[self._span] if self._span < len(self.spans) else None
            if sp is None or n < sp.start:  # a frame no item owns: the centre
                stop = min(sp.start if sp is not None else limit, limit)
                self.x += [(self.W - self.crop_w) // 2] * (stop - n)
                self.y += [(self.H - self.crop_h) // 2] * (stop - n)
                continue
            if n == sp.start:
                self._follow = {"x": None, "y": None}
                self._filled = np.empty((0, 4))
                self._last = None
            end = min(sp.end, self.total)
            # frames [n, b) are settled: their smoothing reads the fill to b + radius,
            # the fill reads the boxes ``gap`` further (a span's end settles everything)
            b = end if (final or known >= end) else min(end, known - self.lookahead)
            if b <= n:
                break
            self._extend_fill(sp, min(end, b + self.radius))
            self._settle_run(sp, n, b)

    def _extend_fill(self, sp: _Span, upto: int) -> None:
        """The subject's centre x, y and size w, h filled for the span's frames up to
        ``upto``: a find as found; between finds up to ``gap`` apart, linear; after a find,
        held; before the first, the next find within ``gap``, else the crop's centre."""
        rows = []
        i = sp.start + len(self._filled)
        end = min(sp.end, len(self.boxes))
        while i < upto:
            bx = self.boxes[i]
            if bx is not None:
                v = np.array([(bx[0] + bx[2]) / 2, (bx[1] + bx[3]) / 2, bx[2] - bx[0],
                              bx[3] - bx[1]])
                self._last = (i, v)
                rows.append(v)
                i += 1
                continue
            q = next((j for j in range(i + 1, min(end, i + self.gap + 1))
                      if self.boxes[j] is not None), None)
            qv = None
            if q is not None:
                bq = self.boxes[q]
                qv = np.array([(bq[0] + bq[2]) / 2, (bq[1] + bq[3]) / 2, bq[2] - bq[0],
                               bq[3] - bq[1]])
            if self._last is not None and qv is not None and q - self._last[0] <= self.gap:
                t = (i - self._last[0]) / (q - self._last[0])
                rows.append(self._last[1] + t * (qv - self._last[1]))
            elif self._last is not None:
                rows.append(self._last[1])
            elif qv is not None:
                rows.append(qv)
            else:
                rows.append(np.array([self.W / 2, self.H / 2, 0.0, 0.0]))
            i += 1
        if rows:
            self._filled = np.vstack([self._filled, np.array(rows)])

    def _settle_run(self, sp: _Span, a: int, b: int) -> None:
        from scipy.ndimage import gaussian_filter1d

        r = self.radius
        lo = max(sp.start, a - r)
        hi = min(sp.start + len(self._filled), b + r)
        f = self._filled[lo - sp.start:hi - sp.start]
        win = slice(a - lo, b - lo)
        cx, cy, bw, bh = (gaussian_filter1d(f[:, k], self.sigma, mode="nearest")[win]
                          for k in range(4))
        xs = self._run("x", cx, bw, self.crop_w, self.W)
        ys = self._run("y", cy, bh, self.crop_h, self.H)
        self.x += [int(v) for v in np.clip(np.round(xs), 0, self.W - self.crop_w)]
        self.y += [int(v) for v in np.clip(np.round(ys), 0, self.H - self.crop_h)]

    def _run(self, axis: str, centres: np.ndarray, sizes: np.ndarray, crop: int, full: int
             ) -> np.ndarray:
        """The dead-zone follower with bounded speed over one run (its state carried)."""
        if crop >= full:
            return np.full(len(centres), (full - crop) / 2.0)
        half = crop / 2
        c = self._follow[axis]
        if c is None:
            c = float(np.clip(centres[0], half, full - half))
        out = np.empty(len(centres))
        for i, (s, size) in enumerate(zip(centres, sizes, strict=True)):
            d = s - c
            dz = max(0.0, (crop - size) / 2) * DEAD_ZONE
            if abs(d) > dz:
                c += float(np.sign(d) * min(abs(d) - dz, self.vmax))
            c = float(np.clip(c, half, full - half))
            out[i] = c - half
        self._follow[axis] = c
        return out


def crop_path(track: list[Box | None], timeline, crop_w: int, crop_h: int,
              max_pan: float) -> CropPath:
    """The smoothed, speed-bounded, steady crop path over the whole master
    (``PathBuilder`` fed the whole track)."""
    b = PathBuilder(timeline, crop_w, crop_h, max_pan, total=len(track))
    for box in track:
        b.feed(box)
    return b.finish()


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
