"""The reframed deliverable in one decode: the subject tracked while the encoder runs.

``reframe.subject_track`` + ``reframe.crop_path`` + ``deliver.encode`` decode the master
twice (the detector's pass, then ffmpeg's) and make the encoder wait for the whole track.
``reframe_encode`` decodes the master once (PyAV): each frame goes to the face detector
when it is a sample, into ``reframe.PathBuilder`` (which settles a frame's crop once
``lookahead`` more frames are known, about a second), and - once settled - is cropped and
piped to ffmpeg, which scales and encodes it with ``deliver.encode``'s settings
(``deliver.platform_video_args``, the same scale and audio chain) while the next frames are
tracked. The crop path is the one ``crop_path(subject_track(...))`` gives (the same builder
fed the same boxes) and the cropped pixels are those of ffmpeg's ``crop`` filter (x and y
rounded down to the chroma grid, as the filter does for 4:2:0).

The frames are piped raw, so ffmpeg runs as a process here rather than through
``edit.frames.run_ffmpeg`` (which takes no input stream) or ``edit.frames.FrameEncoder``
(the master's canonical encode, not a platform's).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections import deque
from pathlib import Path

import numpy as np

from ..errors import StudioError
from .platforms import PlatformSpec
from .reframe import Box, CropPath, PathBuilder, detect_samples, detect_scale, planned_track

#: (ffmpeg option, codec context attribute, the value meaning "unspecified")
_COLOUR = (("-color_range", "color_range", 0), ("-colorspace", "colorspace", 2),
           ("-color_primaries", "color_primaries", 2), ("-color_trc", "color_trc", 2))


def _colour_args(stream) -> list[str]:
    """The master's colour tags for the raw input (ffmpeg would read them from the file)."""
    out: list[str] = []
    for opt, attr, unknown in _COLOUR:
        v = getattr(stream.codec_context, attr, None)
        v = getattr(v, "value", v)
        if isinstance(v, int) and v != unknown:
            out += [opt, str(v)]
    return out


def _crop_yuv420(frame: np.ndarray, w: int, h: int, x: int, y: int, cw: int, ch: int
                 ) -> bytes:
    """The crop of a packed yuv420p frame (PyAV's layout: Y rows, then U, then V)."""
    x, y = x & ~1, y & ~1  # the crop filter's chroma rounding
    planes = [frame[:h].reshape(h, w)[y:y + ch, x:x + cw]]
    q = (h // 2) * (w // 2)
    flat = frame[h:].reshape(-1)
    for k in range(2):
        c = flat[k * q:(k + 1) * q].reshape(h // 2, w // 2)
        planes.append(c[y // 2:(y + ch) // 2, x // 2:(x + cw) // 2])
    return b"".join(np.ascontiguousarray(p).tobytes() for p in planes)


def reframe_encode(master: Path, timeline, render: dict, vault, spec: PlatformSpec,
                   dest: Path, *, crop_w: int, crop_h: int, gain_db: float,
                   duration_s: float) -> CropPath:
    """Track the subject, build the crop path and encode the reframed deliverable in one
    decode of ``master`` (module doc); returns the crop path over the master's frames."""
    import av

    from ..qc.detect import detect_faces
    from ..video_encoding import ffmpeg_exe
    from .deliver import platform_audio_filter, platform_video_args

    fps = float(timeline.fps)
    track, to_detect = planned_track(render, timeline, vault)
    total = timeline.total_frames
    samples = detect_samples(to_detect, fps)
    starts = {s.start for s in to_detect}
    detected = np.zeros(total, bool)
    for s in to_detect:
        detected[s.start:min(s.end, total)] = True
    scale = detect_scale(timeline)
    builder = PathBuilder(timeline, crop_w, crop_h, spec.max_pan, total=total)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp, \
            av.open(str(master)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        W, H = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or timeline.fps
        part = Path(tmp) / dest.name
        err_path = Path(tmp) / "ffmpeg.err"
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{crop_w}x{crop_h}",
               "-framerate", f"{rate.numerator}/{rate.denominator}", *_colour_args(stream),
               "-i", "pipe:0", "-i", str(master), "-t", f"{duration_s:.3f}",
               "-map", "0:v:0", "-map", "1:a:0?",
               "-vf", f"scale={spec.width}:{spec.height}:flags=lanczos,setsar=1,format=yuv420p",
               "-af", platform_audio_filter(spec, gain_db), *platform_video_args(spec),
               "-c:a", "aac", "-b:a", "160k", "-ar", "48000", "-movflags", "+faststart",
               str(part)]
        with open(err_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=err)
        assert proc.stdin is not None
        pending: deque[tuple[int, np.ndarray]] = deque()
        small: tuple[int, int] | None = None
        last: Box | None = None
        state = {"open": True}
        decoded = 0

        def send(upto: int, path_x: list[int], path_y: list[int]) -> None:
            while pending and pending[0][0] < upto:
                i, frame = pending.popleft()
                if not state["open"]:
                    continue
                k = min(i, len(path_x) - 1)
                try:
                    proc.stdin.write(_crop_yuv420(frame, W, H, path_x[k], path_y[k], crop_w,
                                                  crop_h))
                except BrokenPipeError:  # ffmpeg has its duration (or failed: see below)
                    state["open"] = False

        try:
            for n, f in enumerate(container.decode(stream)):
                if n < total:
                    if n in starts:
                        last = None
                    if n in samples:
                        if small is None:
                            small = (max(2, int(round(f.width * scale))),
                                     max(2, int(round(f.height * scale))))
                        rgb = f.to_ndarray(width=small[0], height=small[1], format="rgb24")
                        found = detect_faces(rgb, min_size=8)
                        last = tuple(v / scale for v in found[0]) if found else None
                    if detected[n]:
                        track[n] = last
                    builder.feed(track[n])
                if state["open"]:
                    pending.append((n, f.to_ndarray(format="yuv420p")))
                    send(len(builder.x), builder.x, builder.y)
                decoded = n + 1
            for n in range(decoded, total):  # a master short of frames: the track holds
                if n in starts:  # through the missing ones, as subject_track's does
                    last = None
                if detected[n]:
                    track[n] = last
                builder.feed(track[n])
            path = builder.finish()
            if path.x:
                send(10**12, path.x, path.y)
            if state["open"]:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.wait() != 0:
            msg = err_path.read_text(errors="replace").strip()[-800:]
            raise StudioError(f"ffmpeg failed to encode the {spec.name} deliverable: {msg}",
                              file=master, hint="check the master plays ('studio status'); "
                              "re-render it")
        os.replace(part, dest)
    return path
