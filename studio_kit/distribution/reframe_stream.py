"""The reframed deliverable in one decode: the subject tracked while the encoder runs.

``reframe.subject_track`` + ``reframe.crop_path`` + ``deliver.encode`` decode the master
twice (the detector's pass, then ffmpeg's) and make the encoder wait for the whole track.
``reframe_encode`` decodes the master once (PyAV): each frame goes to the face detector
when it is a sample, into ``reframe.PathBuilder`` (which settles a frame's crop once
``lookahead`` more frames are known, about a second), and - once settled - is cropped and
piped to ffmpeg, which scales and encodes it with ``deliver.encode``'s settings
(``deliver.platform_video_args``, the same scale and audio chain) while the next frames are
tracked. The crop path is the one ``crop_path(subject_track(...))`` gives (the same builder
fed the same boxes) and the cropped pixels are those of ffmpeg's ``crop`` filter (the
path's x and y are on the 4:2:0 chroma grid, where the filter puts a crop).

Where nothing is left for the detector (every shot drawn by the embedded engine, or a
located take; cards are not searched), the path is known before the encode and ffmpeg
decodes and crops the master itself (``deliver.encode``'s ``sendcmd`` pass): the same
path and pixels without the frames going through Python (measured cheaper,
``docs/performance.md``).

The frames are piped raw, so ffmpeg runs as a process here rather than through
``edit.frames.run_ffmpeg`` (which takes no input stream) or ``edit.frames.FrameEncoder``
(the master's canonical encode, not a platform's).
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import tempfile
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import StudioError
from .platforms import PlatformSpec
from .reframe import (
    Box,
    CropPath,
    FaceFinder,
    PathBuilder,
    crop_path,
    detect_samples,
    detect_scale,
    planned_track,
    scaled_size,
)

#: (ffmpeg option, codec context attribute, the value meaning "unspecified")
_COLOUR = (("-color_range", "color_range", 0), ("-colorspace", "colorspace", 2),
           ("-color_primaries", "color_primaries", 2), ("-color_trc", "color_trc", 2))


#: frames the decode may run ahead of the detector's answers
DETECT_AHEAD = 24
#: cropped frames queued for the writer thread
WRITE_QUEUE = 32
#: the pipe to ffmpeg widened to this (Linux; a 9:16 crop of a 1080p master is 1.5 MB)
PIPE_BYTES = 1 << 20


def _widen_pipe(f) -> None:
    """A larger pipe buffer (fewer wake-ups per frame); no-op where it cannot be set."""
    try:
        import fcntl

        fcntl.fcntl(f.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError, ValueError):
        pass


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

    from ..video_encoding import ffmpeg_exe
    from .deliver import encode, platform_audio_filter, platform_video_args

    fps = float(timeline.fps)
    track, to_detect = planned_track(render, timeline, vault)
    total = timeline.total_frames
    if not to_detect:
        # every subject known before the encode (engine geometry, located takes): ffmpeg
        # decodes and crops itself (``deliver.encode``, sendcmd), no frame through Python
        path = crop_path(track[:total], timeline, crop_w, crop_h, spec.max_pan)
        encode(master, spec, dest, gain_db=gain_db, path=path, duration_s=duration_s)
        return path
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
        _widen_pipe(proc.stdin)
        pending: deque[tuple[int, np.ndarray]] = deque()
        small: tuple[int, int] | None = None
        last: Box | None = None
        state = {"open": True}
        decoded = 0
        # a writer thread: decoding and detecting go on while ffmpeg takes the last frames
        out_q: queue.Queue[bytes | None] = queue.Queue(maxsize=WRITE_QUEUE)

        def writer() -> None:
            while (item := out_q.get()) is not None:
                if not state["open"]:
                    continue
                try:
                    proc.stdin.write(item)
                except (BrokenPipeError, ValueError):  # ffmpeg has its duration (or failed)
                    state["open"] = False

        thread = threading.Thread(target=writer, name="reframe-writer", daemon=True)
        thread.start()

        def send(upto: int, path_x: list[int], path_y: list[int]) -> None:
            while pending and pending[0][0] < upto:
                i, frame = pending.popleft()
                if not state["open"]:
                    continue
                k = min(i, len(path_x) - 1)
                out_q.put(_crop_yuv420(frame, W, H, path_x[k], path_y[k], crop_w, crop_h))

        # the detector in its own thread (one: the finder's state is the last find, and
        # the samples must reach it in frame order), a sample's answer taken in frame
        # order; the decode runs up to DETECT_AHEAD on
        unfed: deque[tuple[int, Future | None]] = deque()
        detector = ThreadPoolExecutor(1, thread_name_prefix="reframe-detect")

        finder = FaceFinder.at(fps)  # used by the detector thread only

        def feed(block: bool) -> None:
            nonlocal last
            while unfed and (block or unfed[0][1] is None or unfed[0][1].done()
                             or len(unfed) > DETECT_AHEAD):
                i, fut = unfed.popleft()
                if i in starts:
                    last = None
                if fut is not None:
                    found = fut.result()
                    last = None if found is None else tuple(v / scale for v in found)
                if detected[i]:
                    track[i] = last
                builder.feed(track[i])

        try:
            for n, f in enumerate(container.decode(stream)):
                if n < total:
                    fut = None
                    if n in samples:
                        if small is None:
                            small = scaled_size(f.width, f.height, scale)
                        gray = f.to_ndarray(width=small[0], height=small[1], format="gray")
                        fut = detector.submit(finder.find, gray, n in starts)
                    unfed.append((n, fut))
                    feed(block=False)
                if state["open"]:
                    pending.append((n, f.to_ndarray(format="yuv420p")))
                    send(len(builder.x), builder.x, builder.y)
                decoded = n + 1
            feed(block=True)
            for n in range(decoded, total):  # a master short of frames: the track holds
                if n in starts:  # through the missing ones, as subject_track's does
                    last = None
                if detected[n]:
                    track[n] = last
                builder.feed(track[n])
            path = builder.finish()
            if path.x:
                send(10**12, path.x, path.y)
            detector.shutdown()
            out_q.put(None)
            thread.join()
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        except BaseException:
            detector.shutdown(wait=False, cancel_futures=True)
            state["open"] = False
            proc.kill()
            with contextlib.suppress(queue.Full):
                out_q.put_nowait(None)
            proc.wait()
            raise
        if proc.wait() != 0:
            msg = err_path.read_text(errors="replace").strip()[-800:]
            raise StudioError(f"ffmpeg failed to encode the {spec.name} deliverable: {msg}",
                              file=master, hint="check the master plays ('studio status'); "
                              "re-render it")
        os.replace(part, dest)
    return path
