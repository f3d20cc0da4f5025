"""Frame-level helpers shared by assembly and cards: read exact frame ranges of a clip with
PyAV, blend frames for transitions, and encode raw frames with the canonical parameters.

Frames are kept as yuv420p arrays in PyAV's packed layout (shape ``(H*3/2, W)``: the Y plane,
then the U and V planes flattened), so a transition never converts to RGB and back: the
blend happens in the same limited-range Y'CbCr the clips are stored in, as ffmpeg's xfade
does.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import StudioError
from ..models import TransitionKind
from ..video_encoding import H264_PARAMS, ffmpeg_exe, h264_args

#: Limited-range (tv) levels of black and white in Y'CbCr.
_BLACK = (16, 128)
_WHITE = (235, 128)


def read_frames(path: str | Path, start: int, end: int, fps: Fraction, *,
                threaded: bool = True) -> Iterator[np.ndarray]:
    """Yield frames ``start`` .. ``end - 1`` (0-based frame numbers) of ``path`` as yuv420p.

    ``threaded=False`` decodes on the calling thread only: ~20% less CPU on short ranges
    (frame threads decode ahead past ``end`` and start per container), for callers that
    already run several decodes at once."""
    import av

    if end <= start:
        return
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threaded:
            stream.thread_type = "AUTO"
        tb = stream.time_base
        first = stream.start_time or 0
        target = first + int(Fraction(start) / fps / tb)
        if start > 0:
            container.seek(target, stream=stream, backward=True, any_frame=False)
        got = start
        for frame in container.decode(stream):
            idx = round((frame.pts - first) * tb * fps)
            if idx < start:
                continue
            if idx >= end:
                break
            if idx != got:
                raise StudioError(f"frame {got} missing (found {idx})", file=path,
                                  hint="the clip has gaps or a variable frame rate; conform it")
            yield frame.to_ndarray(format="yuv420p")
            got += 1
        if got != end:
            raise StudioError(f"clip has {got} frames, {end} needed", file=path,
                              hint="the clip is shorter than its timeline item")


def _planes(frame: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat = frame.reshape(-1)  # a view: the planes are contiguous, one after the other
    n, c = h * w, (h // 2) * (w // 2)
    return (flat[:n].reshape(h, w), flat[n:n + c].reshape(h // 2, w // 2),
            flat[n + c:n + 2 * c].reshape(h // 2, w // 2))


def _solid(shape: tuple[int, int], levels: tuple[int, int]) -> np.ndarray:
    h, w = shape[0] * 2 // 3, shape[1]
    out = np.empty(shape, np.uint8)
    flat = out.reshape(-1)
    flat[:h * w] = levels[0]
    flat[h * w:] = levels[1]
    return out


def blend(kind: TransitionKind, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """One transition frame: ``t`` runs from 0 (all ``a``) to 1 (all ``b``)."""
    if kind == TransitionKind.dissolve:
        return _mix(a, b, t)
    if kind in (TransitionKind.fade, TransitionKind.dip_to_white):
        mid = _solid(a.shape, _BLACK if kind == TransitionKind.fade else _WHITE)
        return _mix(a, mid, 2 * t) if t < 0.5 else _mix(mid, b, 2 * t - 1)
    if kind == TransitionKind.wipe:  # left to right, hard edge
        h, w = a.shape[0] * 2 // 3, a.shape[1]
        out = a.copy()
        edge = round(t * w)
        for (pa, pb, po) in zip(_planes(a, h, w), _planes(b, h, w), _planes(out, h, w),
                                strict=True):
            cols = round(edge * pa.shape[1] / w)
            po[:, :cols] = pb[:, :cols]
        return out
    raise StudioError(f"{kind.value} is not a picture transition",
                      hint="only dissolve, fade, dip_to_white and wipe blend frames")


def _mix(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """(1 - t) * a + t * b, rounded, in 8.8 fixed point (4x faster than float32), with no
    temporary beyond the two products (the frames are 3 MB at 1080p)."""
    w = round(min(max(t, 0.0), 1.0) * 256)
    acc = np.multiply(a, np.uint16(256 - w), dtype=np.uint16)
    acc += np.multiply(b, np.uint16(w), dtype=np.uint16)
    acc += 128
    out = np.empty(a.shape, np.uint8)
    np.right_shift(acc, 8, out=out, casting="unsafe")
    return out


class FrameEncoder:
    """Encode raw frames to an MP4 with the canonical parameters (an ffmpeg process).

    ``input_pix_fmt``: ``yuv420p`` (PyAV's packed layout, as :func:`read_frames` yields) or
    ``rgb24`` (H x W x 3 uint8, converted with the BT.709 matrix to limited range) - the
    latter is what a renderer producing RGB frames (e.g. the local engine) can feed.
    ``threads``: x264 threads (0 = ffmpeg's choice; 1 when several encoders run at once).
    """

    def __init__(self, out: str | Path, width: int, height: int, fps: Fraction | float,
                 force_keyframes_s: tuple[float, ...] = (),
                 input_pix_fmt: str = "yuv420p", preset: str | None = None,
                 threads: int = 0) -> None:
        from ..video_encoding import fps_fraction

        fps = fps_fraction(fps)
        self.out = Path(out)
        self.frames = 0
        p = H264_PARAMS
        if input_pix_fmt == "yuv420p":
            tags = ["-color_range", p.color_range, "-colorspace", p.colorspace,
                    "-color_primaries", p.color_primaries, "-color_trc", p.color_trc]
            vf: list[str] = []
        elif input_pix_fmt == "rgb24":
            tags = []
            vf = ["-vf", f"scale=out_color_matrix={p.colorspace}:out_range={p.color_range},"
                  f"format={p.pix_fmt}"]
        else:
            raise StudioError(f"input pixel format {input_pix_fmt!r} is not supported",
                              hint="feed yuv420p or rgb24 frames")
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", input_pix_fmt, "-s", f"{width}x{height}",
               "-framerate", f"{fps.numerator}/{fps.denominator}", *tags,
               "-i", "pipe:0", "-an", *vf,
               *h264_args(fps, force_keyframes_s=force_keyframes_s, preset=preset),
               "-threads", str(threads), str(self.out)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        self.frames += 1

    def close(self) -> Path:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        if self._proc.wait() != 0:
            raise StudioError(f"ffmpeg failed to encode {self.out.name}: {err.strip()[-500:]}",
                              file=self.out, hint="check disk space and the frame size")
        return self.out

    def __enter__(self) -> FrameEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._proc.kill()
            self._proc.wait()


def run_ffmpeg(args: list[str], *, what: str, file: str | Path | None = None) -> None:
    """Run the bundled ffmpeg; a failure becomes a StudioError with ffmpeg's last words."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StudioError(f"ffmpeg failed to {what}: {proc.stderr.strip()[-800:]}", file=file,
                          hint="check the input files (probe them with 'studio probe')")
