"""Smart-render assembly: stream-copy every frame no transition touches, re-encode only
the transition regions, concatenate everything with the concat demuxer and ``-c copy``.

Each item (shot or card) is cut into head / body / tail. The body is referenced in the
concat list with ``inpoint``/``outpoint`` on the original clip (no copy is even written);
heads and tails that a picture transition touches are decoded with PyAV, blended in
Y'CbCr (see :mod:`frames`) and encoded with the canonical H.264 parameters, so the result
has one set of parameter sets and decodes as one stream. Each such region is its own file
(starting with an IDR frame) kept in a piece cache under a key of its sources' content, so
a re-assembly after an edit re-encodes only the regions that changed.

A stream-copied body must start on a keyframe. When the frame after a transition is not a
keyframe the re-encoded region is extended (plain frames, no blend) to the next keyframe;
clips with foreign encode parameters (size, rate, SPS/PPS) are conformed once first.
The output's frame count is checked against the timeline: record times are exact frames.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from ..errors import StudioError
from ..models import TransitionKind
from ..store.hashing import file_hash, stable_hash
from ..store.yamlio import atomic_write_text
from ..video_encoding import H264_PARAMS, ffmpeg_build, h264_args
from .cards import card_key, render_card
from .frames import FrameEncoder, blend, read_frames, run_ffmpeg
from .pieces import DirPieces, PieceCache
from .probe import StreamInfo, probe
from .timeline import ItemKind, ShotTime, Timeline, TimelineItem


class Segment(BaseModel):
    kind: str = Field(description="copy (stream copy of a clip range) or render (re-encoded)")
    file: str
    items: list[str]
    frames: int
    inpoint: int | None = None
    outpoint: int | None = None


class AssemblyResult(BaseModel):
    path: str
    timeline: Timeline
    frames: int
    duration_s: float
    copied_frames: int
    rendered_frames: int
    segments: list[Segment]
    regions: int = Field(0, description="Re-rendered regions (transitions and their runs).")
    regions_reused: int = Field(0, description="Regions taken from the piece cache.")
    conformed: list[str] = Field(default_factory=list, description="Clips re-encoded first.")
    elapsed_s: float = 0.0

    @property
    def shot_times(self) -> dict[str, ShotTime]:
        """Exact output times of every shot and card (for the audio stage)."""
        return self.timeline.shot_times()


# -- render plan ---------------------------------------------------------------------------


@dataclass
class _Plain:
    clip: str
    start: int
    end: int


@dataclass
class _Blend:
    kind: TransitionKind
    a_clip: str
    a_start: int
    b_clip: str
    b_start: int
    n: int


@dataclass
class _FadeOut:
    """The episode's closing fade: ``n`` frames of ``clip`` from ``start`` going to black
    (white for a dip), the last one fully black."""

    kind: TransitionKind
    clip: str
    start: int
    n: int


@dataclass
class _Group:
    ops: list[_Plain | _Blend | _FadeOut] = field(default_factory=list)
    items: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(o.end - o.start if isinstance(o, _Plain) else o.n for o in self.ops)


def _plan(tl: Timeline, infos: dict[str, StreamInfo]) -> list[_Group | Segment]:
    plan: list[_Group | Segment] = []
    group = _Group()
    items = tl.items
    for i, item in enumerate(items):
        assert item.clip is not None
        prev = items[i - 1].transition if i else None
        head = prev.frames if prev is not None and prev.overlaps else 0
        closing = item.transition.frames if item.transition.fades_out else 0
        tail = item.transition.frames if item.transition.overlaps else closing
        a, b = item.source_in, item.source_in + item.frames
        body_from, body_to = a + head, b - tail
        keys = infos[item.clip].keyframe_indices
        key = next((k for k in keys if k >= body_from), None)
        if key is not None and key < body_to:
            if key > body_from:
                group.ops.append(_Plain(item.clip, body_from, key))
                group.items.append(item.id)
            if group.ops:
                plan.append(group)
                group = _Group()
            plan.append(Segment(kind="copy", file=item.clip, items=[item.id],
                                frames=body_to - key, inpoint=key, outpoint=body_to))
        elif body_to > body_from:
            group.ops.append(_Plain(item.clip, body_from, body_to))
            group.items.append(item.id)
        if closing:
            group.ops.append(_FadeOut(item.transition.kind, item.clip, body_to, closing))
            group.items.append(item.id)
        elif tail:
            nxt = items[i + 1]
            assert nxt.clip is not None
            group.ops.append(_Blend(item.transition.kind, item.clip, body_to, nxt.clip,
                                    nxt.source_in, tail))
            group.items += [item.id, nxt.id]
    if group.ops:
        plan.append(group)
    return plan


def _group_frames(group: _Group, fps: Fraction, threaded: bool) -> Iterator[np.ndarray]:
    """The region's frames, decoded and blended lazily (a 1080p frame is 3 MB)."""
    for op in group.ops:
        if isinstance(op, _Plain):
            yield from read_frames(op.clip, op.start, op.end, fps, threaded=threaded)
        elif isinstance(op, _FadeOut):
            frames = read_frames(op.clip, op.start, op.start + op.n, fps, threaded=threaded)
            for j, fa in enumerate(frames):
                # the first half of a fade/dip blend goes from the picture to black/white
                yield blend(op.kind, fa, fa, 0.5 * (j + 1) / op.n)
        else:
            frames_a = read_frames(op.a_clip, op.a_start, op.a_start + op.n, fps,
                                   threaded=threaded)
            frames_b = read_frames(op.b_clip, op.b_start, op.b_start + op.n, fps,
                                   threaded=threaded)
            for j, (fa, fb) in enumerate(zip(frames_a, frames_b, strict=True)):
                yield blend(op.kind, fa, fb, (j + 1) / (op.n + 1))


def _region_key(group: _Group, tl: Timeline, hashes: dict[str, str], preset: str,
                ref_extra: str | None) -> str:
    """Everything a region's encoded bytes depend on: the sources' content, the frame
    ranges and blends, the picture format, the encoder settings, and the parameter sets
    this encoder writes (another x264 build must not reuse regions it cannot join)."""
    ops = [("plain", hashes[o.clip], o.start, o.end) if isinstance(o, _Plain) else
           ("fade-out", o.kind.value, hashes[o.clip], o.start, o.n)
           if isinstance(o, _FadeOut) else
           ("blend", o.kind.value, hashes[o.a_clip], o.a_start, hashes[o.b_clip], o.b_start,
            o.n) for o in group.ops]
    return stable_hash("region", ops, tl.width, tl.height, str(tl.fps), repr(H264_PARAMS),
                       preset, ref_extra, ffmpeg_build())[:24]


#: Set when the fast transition preset turned out to write other parameter sets than the
#: shots (another x264 build); every later region then uses the shots' own preset.
_FAST_PRESET_OK: dict[str, bool] = {}


def _encode_region(group: _Group, tl: Timeline, work: Path, ref_extra: str | None,
                   threaded: bool) -> Path:
    """Encode one region into its own file (its first frame is an IDR frame, so the file
    can stand anywhere in the concatenation)."""
    presets = [H264_PARAMS.preset]
    fast = H264_PARAMS.transition_preset
    if _FAST_PRESET_OK.get(fast, True) and fast != H264_PARAMS.preset:
        presets.insert(0, fast)
    for preset in presets:
        out = work / f"region-{uuid.uuid4().hex}.mp4"
        # one x264 thread: regions are short and ``jobs`` of them are encoded at once, so
        # frame threads would only add start-up and synchronisation cost
        with FrameEncoder(out, tl.width, tl.height, tl.fps, preset=preset, threads=1) as enc:
            for frame in _group_frames(group, tl.fps, threaded):
                enc.write(frame)
        if enc.frames != group.frames:
            raise StudioError(f"region of {group.items} has {enc.frames} frames, expected "
                              f"{group.frames}", file=out, hint="conform the clips")
        if probe(out, packets=False).video.extradata_hex == ref_extra:
            return out  # same parameter sets as the shots: concatenable
        _FAST_PRESET_OK[fast] = False
        out.unlink()
    raise StudioError("the transition regions were encoded with other parameter sets",
                      file=work, hint="H264_PARAMS changed mid-run; re-run")


def _render_groups(groups: list[_Group], tl: Timeline, work: Path, ref_extra: str | None,
                   pieces: PieceCache, jobs: int) -> tuple[list[Segment], int]:
    """One file per re-rendered region, from the piece cache when its key is known, else
    encoded (``jobs`` regions at a time: decoding, blending and x264 of one region overlap
    those of another). Returns the segments and how many regions came from the cache."""
    hashes: dict[str, str] = {}
    for g in groups:
        for op in g.ops:
            for clip in ([op.clip] if isinstance(op, _Plain | _FadeOut)
                         else [op.a_clip, op.b_clip]):
                if clip not in hashes:
                    hashes[clip] = file_hash(clip)
    keys = [_region_key(g, tl, hashes, H264_PARAMS.transition_preset, ref_extra)
            for g in groups]
    files: list[Path | None] = [pieces.get(k) for k in keys]
    # one encode per distinct key (two regions can be identical, e.g. a repeated card)
    missing: list[int] = []
    for i, f in enumerate(files):
        if f is None and all(keys[j] != keys[i] for j in missing):
            missing.append(i)

    # several regions at once: each decodes on its own thread (cheaper); one region alone
    # (a re-render after an edit) lets the decoder use frame threads
    threaded = len(missing) < 2 or jobs < 2

    def encode(i: int) -> Path:
        return pieces.put(keys[i], _encode_region(groups[i], tl, work, ref_extra, threaded))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        made = dict(zip((keys[i] for i in missing), pool.map(encode, missing), strict=True))
    files = [f if f is not None else made[k] for f, k in zip(files, keys, strict=True)]
    segments = [Segment(kind="render", file=str(f), items=list(dict.fromkeys(g.items)),
                        frames=g.frames) for g, f in zip(groups, files, strict=True)]
    return segments, len(groups) - len(missing)


# -- clip preparation ----------------------------------------------------------------------


_REF_EXTRADATA: dict[tuple[int, int, int, int, str], str | None] = {}


def _reference_extradata(tl: Timeline, work: Path) -> str | None:
    """The avcC our encoder writes at this size and rate (clips must match it to be copied);
    learnt once per process by encoding a 2-frame clip."""
    memo = (tl.width, tl.height, tl.fps_num, tl.fps_den, repr(H264_PARAMS))
    if memo in _REF_EXTRADATA:
        return _REF_EXTRADATA[memo]
    ref = work / f"ref-{tl.width}x{tl.height}-{tl.fps_num}-{tl.fps_den}-" \
        f"{stable_hash(repr(H264_PARAMS))[:8]}.mp4"
    if not ref.exists():
        from .synth import make_clip

        make_clip(ref, seconds=float(2 / tl.fps), fps=tl.fps, width=tl.width,
                  height=tl.height, source="color")
    _REF_EXTRADATA[memo] = probe(ref).video.extradata_hex
    return _REF_EXTRADATA[memo]


def _conform(src: str, tl: Timeline, work: Path) -> str:
    key = stable_hash("conform", file_hash(src), tl.width, tl.height, str(tl.fps),
                      repr(H264_PARAMS))[:16]
    out = work / f"conform-{key}.mp4"
    if not out.exists():
        part = out.with_suffix(".part.mp4")
        p = H264_PARAMS
        run_ffmpeg(["-i", src, "-map", "0:v:0", "-an", "-vf",
                    f"scale={tl.width}:{tl.height}:out_color_matrix={p.colorspace}:"
                    f"out_range={p.color_range},format={p.pix_fmt}",
                    *h264_args(tl.fps), str(part)], what="conform a clip", file=src)
        part.replace(out)
    return str(out)


def _prepare(tl: Timeline, work: Path) -> tuple[dict[str, StreamInfo], list[str], str | None]:
    """Render cards, conform foreign clips, clamp items to their clips' lengths."""
    conformed: list[str] = []
    ref_extra = _reference_extradata(tl, work)
    infos: dict[str, StreamInfo] = {}
    for item in tl.items:
        if item.kind != ItemKind.shot:
            if item.clip is None:
                key = card_key(item.text or "", item.kind.value, tl.width, tl.height, tl.fps,
                               item.frames)
                out = work / f"card-{key}.mp4"
                if not out.exists():
                    render_card(item.text or "", out, width=tl.width, height=tl.height,
                                fps=tl.fps, frames=item.frames, kind=item.kind.value)
                item.clip = str(out)
        elif item.clip is None or not Path(item.clip).is_file():
            raise StudioError(f"shot {item.id}: no picture file", file=item.clip,
                              field=f"items.{item.id}.clip",
                              hint="render the shot first (studio render) or pass its clip")
        info = infos.get(item.clip) or probe(item.clip).video
        rate = Fraction(info.fps_num or 0, info.fps_den or 1)
        if (info.codec != "h264" or info.width != tl.width or info.height != tl.height
                or rate != tl.fps or info.extradata_hex != ref_extra
                or info.pix_fmt != H264_PARAMS.pix_fmt):
            conformed.append(item.clip)
            item.clip = _conform(item.clip, tl, work)
            info = probe(item.clip).video
        infos[item.clip] = info
        available = info.frames - item.source_in
        if available <= 0:
            raise StudioError(f"{item.id}: source_in {item.source_in} is past the clip's end "
                              f"({info.frames} frames)", file=item.clip, field="source_in",
                              hint="trim less")
        item.frames = min(item.frames, available)
    tl.layout()
    return infos, conformed, ref_extra


# -- public API ----------------------------------------------------------------------------


def assemble(timeline: Timeline, out: str | Path, *, work_dir: str | Path | None = None,
             jobs: int = 2, pieces: PieceCache | None = None) -> AssemblyResult:
    """Assemble ``timeline`` into ``out`` (H.264 MP4, picture only) by smart rendering.

    ``work_dir`` keeps rendered cards, conformed clips and (without ``pieces``) the encoded
    transition regions (default: ``<out>.work/``). ``pieces`` keeps encoded regions between
    runs by content key (the pipeline passes the vault), so an edit re-encodes only the
    regions whose sources changed. The returned timeline carries exact record times.
    """
    t0 = time.perf_counter()
    out = Path(out)
    work = Path(work_dir) if work_dir else out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    tl = timeline.model_copy(deep=True)
    if not tl.items:
        raise StudioError("the timeline is empty", hint="add shots to the storyboard")
    infos, conformed, ref_extra = _prepare(tl, work)
    plan = _plan(tl, infos)

    tag = stable_hash("segments", tl.model_dump(mode="json"))[:10]
    groups = [p for p in plan if isinstance(p, _Group)]
    rendered, reused = _render_groups(groups, tl, work, ref_extra,
                                      pieces or DirPieces(work, ".mp4"), jobs)
    it = iter(rendered)
    segs = [p if isinstance(p, Segment) else next(it) for p in plan]

    fps = tl.fps
    lines = ["ffconcat version 1.0"]
    for seg in segs:
        lines.append(f"file '{_quote(Path(seg.file).resolve())}'")
        if seg.inpoint is not None and seg.outpoint is not None:
            lines.append(f"inpoint {_ts(seg.inpoint, fps)}")
            lines.append(f"outpoint {_ts(Fraction(2 * seg.outpoint - 1, 2), fps)}")
        lines.append(f"duration {_ts(seg.frames, fps)}")
    listing = work / f"concat-{tag}.ffconcat"
    atomic_write_text(listing, "\n".join(lines) + "\n")
    part = out.with_name(f".{out.name}.part.mp4")
    # auto_convert 0: no h264_mp4toannexb round trip, so copied packets stay byte-identical
    # (every input was checked to carry the same SPS/PPS, so none is needed in-band)
    run_ffmpeg(["-f", "concat", "-safe", "0", "-auto_convert", "0", "-i", str(listing), "-map", "0:v:0", "-c", "copy",
                "-movflags", "+faststart", str(part)], what="concatenate the segments",
               file=out)
    got = probe(part).video.frames
    if got != tl.total_frames:
        raise StudioError(f"assembled {got} frames, the timeline has {tl.total_frames}",
                          file=out, hint="a clip's timestamps are irregular; conform it")
    part.replace(out)
    copied = sum(s.frames for s in segs if s.kind == "copy")
    return AssemblyResult(path=str(out), timeline=tl, frames=got, duration_s=tl.duration_s,
                          copied_frames=copied, rendered_frames=got - copied, segments=segs,
                          regions=len(groups), regions_reused=reused,
                          conformed=conformed, elapsed_s=time.perf_counter() - t0)


def keyframe_times(timeline: Timeline, item_id: str) -> list[float]:
    """Clip-relative times where the assembler wants keyframes in ``item_id``'s clip (the
    first frame after an incoming picture transition), to force when (re-)encoding it."""
    tl = timeline
    i = next(n for n, it in enumerate(tl.items) if it.id == item_id)
    item: TimelineItem = tl.items[i]
    times = [tl.seconds(item.source_in)]
    prev = tl.items[i - 1].transition if i else None
    if prev is not None and prev.overlaps:
        times.append(tl.seconds(item.source_in + prev.frames))
    return times


def _ts(frames: int | Fraction, fps: Fraction) -> str:
    return f"{float(Fraction(frames) / fps):.9f}"


def _quote(path: Path) -> str:
    return str(path).replace("'", "'\\''")
