"""Streaming H.264 encode: frames go to ffmpeg's stdin one by one, never all in memory.

Every shot is encoded with the same parameters (``encode_args``, built by
``studio_kit.video_encoding.h264_args`` from ``LOCAL_H264``): libx264, yuv420p, BT.709, no
B-frames, closed GOPs of a fixed length (2 s), a keyframe at frame 0 and no scene-cut
keyframes, no metadata that varies from run to run (the same frames give the same bytes).
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...errors import EngineError
from ...video_encoding import H264_PARAMS, ffmpeg_exe, fps_fraction, h264_args
from ..base import ProgressFn, RenderFormat

#: x264 analysis settings on top of ``veryfast`` (measured in bench/engine_bench.py on the
#: sample shots at 720p: about 30 % less encoder CPU, ~10 % smaller, PSNR +0.3 dB):
#: ``subme=1:me=dia`` (the cheapest sub-pixel refinement and motion search: our frames are
#: flat shapes, a wider search finds nothing better) and ``aq-mode=0`` (adaptive
#: quantisation spends bits on texture we do not have). None of them changes the SPS/PPS
#: (refs 1, CABAC, 8x8 transform, weightp 1 stay veryfast's).
X264_PARAMS = "subme=1:me=dia:aq-mode=0"

#: Encoder threads, fixed: x264's output depends on its thread count, so a count left to
#: ffmpeg (1.5 x cores) would give different bytes on different machines. One thread is
#: also the cheapest in CPU time; on two cores the renderer and ffmpeg already run in
#: parallel (two processes).
ENCODER_THREADS = 1

#: The series' canonical H.264 parameters (``studio_kit.video_encoding``) with what suits an
#: engine intermediate that grading re-encodes anyway: CRF 20, a keyframe every 2 s, the
#: cheaper analysis above.
LOCAL_H264 = replace(H264_PARAMS, crf=20, keyint_s=2.0, x264_extra=X264_PARAMS,
                     threads=ENCODER_THREADS)

#: The veryfast-preset parameters used before (kept for bench/engine_bench.py's baseline).
BASELINE_PARAMS: list[str] = [
    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-profile:v", "high",
    "-pix_fmt", "yuv420p", "-bf", "0", "-sc_threshold", "0", "-flags", "+cgop",
    "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
    "-color_range", "tv", "-map_metadata", "-1", "-fflags", "+bitexact",
    "-movflags", "+faststart",
]


def gop_size(fps: float) -> int:
    """Keyframe interval: 2 seconds of frames."""
    return LOCAL_H264.gop(fps_fraction(fps))


def encode_args(fmt: RenderFormat, params: list[str] | None = None) -> list[str]:
    """ffmpeg output arguments for a shot (``params``: replaces the canonical ones; the
    engine bench's baseline only)."""
    video = (h264_args(fmt.fps, params=LOCAL_H264)
             + ["-movflags", "+faststart"]
             if params is None else [*params, "-g", str(gop_size(fmt.fps)),
                                                  "-keyint_min", str(gop_size(fmt.fps))])
    return [*video, "-vf", "scale=out_color_matrix=bt709:out_range=tv"]



def encode_stream(frames: Iterable[np.ndarray], out: str | Path, fmt: RenderFormat,
                  total: int | None = None, progress: ProgressFn | None = None,
                  threads: int | None = None, params: list[str] | None = None) -> int:
    """Encode RGB uint8 frames (H, W, 3) to an MP4 at ``out``; returns the frame count.

    ``threads`` sets ffmpeg's filter threads (the RGB -> YUV conversion), which does not
    change the output; the encoder's own thread count is fixed (``ENCODER_THREADS``).
    ``params`` replaces the canonical arguments (benchmarks only: shots share one encoding).
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    if threads:
        cmd += ["-filter_threads", str(threads)]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{fmt.width}x{fmt.height}",
            "-r", f"{fmt.fps:g}", "-i", "-", "-an", *encode_args(fmt, params)]
    cmd.append(str(out))
    n = 0
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=err)
        assert proc.stdin is not None
        try:
            for frame in frames:
                if frame.shape != (fmt.height, fmt.width, 3) or frame.dtype != np.uint8:
                    raise EngineError(f"frame {n} is {frame.shape} {frame.dtype}, expected "
                                      f"({fmt.height}, {fmt.width}, 3) uint8",
                                      hint="render frames at the request's format (width x height, RGB uint8)")
                proc.stdin.write(memoryview(np.ascontiguousarray(frame)).cast("B"))
                n += 1
                if progress and total:
                    progress(min(1.0, n / total))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        rc = proc.wait()
        if rc != 0:
            err.seek(0)
            msg = err.read().decode("utf-8", "replace").strip()[-800:]
            raise EngineError(f"ffmpeg failed encoding {out} (exit {rc}): {msg}",
                              hint="check the format (even width/height) and disk space")
    return n
