"""Reframing a 16:9 master to a narrower aspect (9:16, 1:1, 4:5) that follows the subject.

Where the subject is, per master frame:

- a shot the embedded engine rendered: its stored request (``render.json`` shot
  ``request``, a vault hash) replayed through ``engines.local.figure_regions`` - the
  character's face box exactly as drawn, at the shot's own clock;
- a shot another engine made (a cloud take) for a stored request: QC's detector
  (``qc.detect.FigureLocator``: the intended shot registered onto the take, Haar faces
  confirming), the first character's face box;
- anything else (no request, a take it cannot place): OpenCV's face detector already
  used by QC (``qc.detect.faces_in``, through ``FaceFinder``) on decoded master frames,
  sampled a few times a second;
- the edit's own cards (title, act, hook): text, no subject; the crop stays centred.

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

from ..qc.detect import face_contrast, faces_in

Box = tuple[float, float, float, float]
#: detector samples per second of footage the engine did not draw
DETECT_PER_S = 6.0
#: engine geometry samples per second (interpolated between)
ENGINE_PER_S = 8.0
#: the face detector's whole-frame search runs on frames this wide (boxes mapped back)
DETECT_WIDTH = 320
#: Gaussian smoothing of the subject centre (seconds)
SMOOTH_S = 0.2
#: finds of the subject further apart than this (seconds) are not interpolated between
GAP_S = 1.0
#: frames settled at a time while the path is built frame by frame
SETTLE_EVERY = 24
#: the crop moves only once the subject centre leaves this fraction of its free room
DEAD_ZONE = 0.35
#: a sample is first searched around the last find: its box grown by this many face
#: sizes on each side, faces 0.6-1.6x its size
SEARCH_MARGIN = 1.0
#: the whole frame is searched at least this often (seconds: the subject found again
#: where the window around it lost it)
FULL_SEARCH_S = 2.0


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


class FaceFinder:
    """The subject's face in the sampled frames of one span, in order (QC's Haar cascade,
    ``qc.detect.faces_in``, on the equalised luma at ``DETECT_WIDTH``).

    A sample is searched first around the last find (``SEARCH_MARGIN`` face sizes each
    side, faces 0.6-1.6x its size: about a sixth of the frame for a head-and-shoulders
    subject, and a few pyramid levels instead of all), and the whole frame when that finds
    nothing, at the span's first sample (``reset``) and every ``FULL_SEARCH_S``; a
    whole-frame search takes the face nearest the last find if one is near, else the
    largest. So the subject is kept while it stays findable (a second, bigger face does
    not steal the crop) and is found again where it went. On the walking-person clip of
    the bench this finds the face on more samples than the whole-frame search alone
    (93 % vs 86 %: the cascade is at the edge of its size there, and the two searches miss
    different samples) in about 70 % of its time. The tracks of ``subject_track`` and
    ``reframe_stream`` both come from this, fed the same frames in the same order, so
    they agree."""

    def __init__(self, samples_per_s: float) -> None:
        self.full_every = max(1, int(round(FULL_SEARCH_S * samples_per_s)))
        self.reset()

    @classmethod
    def at(cls, fps: float) -> FaceFinder:
        """A finder for samples every ``detect_step(fps)`` frames of footage at ``fps``."""
        return cls(fps / detect_step(fps))

    def reset(self) -> None:
        self.last: Box | None = None
        self.since_full = 0

    def find(self, gray: np.ndarray, reset: bool = False) -> Box | None:
        """The subject's box in one sample (its luma at ``detect_scale``; the box in its
        pixels), or None."""
        if reset:
            self.reset()
        eq = face_contrast(gray)
        box = None
        if self.last is not None and self.since_full < self.full_every:
            box = self._around(eq, self.last)
            self.since_full += 1
        if box is None:
            box = self._subject(faces_in(eq, min_size=8), self.last)
            self.since_full = 0
        self.last = box or self.last
        return box

    @staticmethod
    def _subject(found: list[Box], last: Box | None) -> Box | None:
        """Of a whole-frame search's faces: the one nearest the last find when it is within
        the search window's reach (the subject, where the window missed it), else the
        largest."""
        if not found:
            return None
        if last is not None:
            size = max(last[2] - last[0], last[3] - last[1])
            cx, cy = (last[0] + last[2]) / 2, (last[1] + last[3]) / 2

            def dist(b: Box) -> float:
                return float(np.hypot((b[0] + b[2]) / 2 - cx, (b[1] + b[3]) / 2 - cy))

            near = min(found, key=dist)
            if dist(near) <= (SEARCH_MARGIN + 0.5) * size:
                return near
        return found[0]

    @staticmethod
    def _around(eq: np.ndarray, last: Box) -> Box | None:
        h, w = eq.shape[:2]
        size = max(last[2] - last[0], last[3] - last[1])
        m = SEARCH_MARGIN * size
        x0, y0 = max(0, int(last[0] - m)), max(0, int(last[1] - m))
        x1, y1 = min(w, int(last[2] + m + 1)), min(h, int(last[3] + m + 1))
        found = faces_in(eq[y0:y1, x0:x1], min_size=max(8, int(0.6 * size)),
                         max_size=int(1.6 * size) + 1)
        if not found:
            return None
        b = found[0]
        return (b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0)


def _detected_boxes(frames: dict[int, np.ndarray], span: _Span, fps: float,
                    scale: float = 1.0) -> list[Box | None]:
    """Faces found by ``FaceFinder`` on the sampled frames (luma decoded ``scale`` times
    the master's size; boxes mapped back), held until the next sample."""
    finder = FaceFinder.at(fps)
    out: list[Box | None] = []
    last: Box | None = None
    for n in range(span.start, span.end):
        if n in frames:
            found = finder.find(frames[n])
            last = None if found is None else tuple(v / scale for v in found)
        out.append(last)
    return out


def decode_frames(master: Path, wanted: set[int], scale: float = 1.0,
                  fmt: str = "rgb24") -> dict[int, np.ndarray]:
    """The wanted frames as ``fmt`` (RGB; ``gray``: the luma), scaled by ``scale`` in the
    conversion (swscale)."""
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
                    w, h = scaled_size(f.width, f.height, scale)
                frames[n] = f.to_ndarray(width=w, height=h, format=fmt)
            if n >= max(wanted):
                break
    return frames


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """A frame's size scaled by ``scale`` (at least 2 px each way): what ``decode_frames``
    and the detector's samples are decoded at."""
    return max(2, int(round(width * scale))), max(2, int(round(height * scale)))


def subject_track(render: dict, timeline, vault, master: Path) -> list[Box | None]:
    """The subject's box in every master frame (None where there is none)."""
    track, to_detect = planned_track(render, timeline, vault)
    if to_detect:
        fps = float(timeline.fps)
        scale = detect_scale(timeline)
        frames = decode_frames(master, detect_samples(to_detect, fps), scale, fmt="gray")
        for span in to_detect:
            track[span.start:span.end] = _detected_boxes(frames, span, fps, scale)
    return track[:timeline.total_frames]


def detect_step(fps: float) -> int:
    """Frames between the face detector's samples (``DETECT_PER_S``)."""
    return max(1, int(round(fps / DETECT_PER_S)))


def detect_samples(spans: list[_Span], fps: float) -> set[int]:
    """The master frames the face detector looks at (every ``detect_step`` in each span,
    from its first frame)."""
    step = detect_step(fps)
    return {n for s in spans for n in range(s.start, s.end, step)}


def detect_scale(timeline) -> float:
    """The size of the detector's samples (master widths): ``DETECT_WIDTH`` at most."""
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
        if span.item.kind != "shot":  # a card the edit drew: text, no subject (centred)
            continue
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
        first = a == sp.start
        self.x += self._on_grid(xs, None if first else self.x[-1], self.W - self.crop_w)
        self.y += self._on_grid(ys, None if first else self.y[-1], self.H - self.crop_h)

    def _on_grid(self, pos: np.ndarray, prev: int | None, hi: int) -> list[int]:
        """The follower's positions on the 4:2:0 chroma grid (even pixels: where a crop of
        the picture can sit, so the path is the picture's), each step at most the speed
        bound's whole even pixels per frame: rounding alone could step past the bound."""
        step = max(2, int(self.vmax) // 2 * 2)
        hi = hi // 2 * 2
        out = []
        for v in pos:
            p = min(max(int(2 * np.floor(v / 2 + 0.5)), 0), hi)
            if prev is not None:
                p = min(max(p, prev - step), prev + step)
            out.append(p)
            prev = p
        return out

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
