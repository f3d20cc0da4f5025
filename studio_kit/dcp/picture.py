"""Picture: source -> container geometry -> DCI X'Y'Z' (gamma 2.6, 12 bit) -> JPEG 2000.

Each chunk of frames is one worker process: an ffmpeg decoder (scale + letterbox/pillarbox
into the 2K container, rgb48le), numpy colour conversion (Rec.709/sRGB primaries, BT.1886
display gamma -> CIE XYZ, DCI normalisation 48/52.37 cd/m2, 1/2.6 gamma, 12 bit) and an
ffmpeg libopenjpeg encoder (cinema2k profile, 2k_24 cinema mode: DCI codestream limits,
<= 250 Mb/s) that writes one .j2c codestream per frame.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

CONTAINERS: dict[str, tuple[int, int]] = {"flat": (1998, 1080), "scope": (2048, 858)}
# Rec.709 / sRGB primaries, D65 white -> CIE XYZ (IEC 61966-2-1)
RGB709_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                          [0.2126729, 0.7151522, 0.0721750],
                          [0.0193339, 0.1191920, 0.9503041]], dtype=np.float32)
XYZ_TO_RGB709 = np.linalg.inv(RGB709_TO_XYZ).astype(np.float32)
DCI_NORM = 48.0 / 52.37  # peak white 48 cd/m2 inside the 52.37 cd/m2 code range
DISPLAY_GAMMA = 2.4      # BT.1886 display of a Rec.709/sRGB master
MAX_J2C_BYTES = 250_000_000 // 8 // 24  # 250 Mb/s at 24 fps


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class SourceInfo:
    width: int
    height: int
    fps: Fraction
    frames: int
    duration: float


def probe(path: Path) -> SourceInfo:
    import av

    with av.open(str(path)) as c:
        if not c.streams.video:
            raise ValueError("no video stream")
        s = c.streams.video[0]
        fps = Fraction(s.average_rate or s.guessed_rate or 0)
        dur = float(s.duration * s.time_base) if s.duration else (c.duration or 0) / 1e6
        frames = s.frames or round(dur * fps)
        return SourceInfo(s.codec_context.width, s.codec_context.height, fps, int(frames), dur)


_LIN = (np.arange(65536, dtype=np.float32) / 65535.0) ** DISPLAY_GAMMA
_OUT = np.round(4095.0 * (np.arange(65536, dtype=np.float32) / 65535.0) ** (1 / 2.6))
_OUT = (_OUT.astype(np.uint16) << 4)  # xyz12le: 12 significant bits in the high bits


def rgb48_to_xyz12(frame: np.ndarray) -> np.ndarray:
    """uint16 HxWx3 R'G'B' (full range) -> uint16 HxWx3 X'Y'Z' (xyz12le layout)."""
    lin = _LIN[frame]
    xyz = lin @ (RGB709_TO_XYZ.T * DCI_NORM)
    idx = np.clip(xyz * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    return _OUT[idx]


def xyz12_to_rgb8(xyz: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb48_to_xyz12` (for checks): xyz12le uint16 -> 8-bit R'G'B'."""
    v = (xyz >> 4).astype(np.float32) / 4095.0
    lin = (v ** 2.6) / DCI_NORM
    rgb = np.clip(lin @ XYZ_TO_RGB709.T, 0, 1) ** (1 / DISPLAY_GAMMA)
    return np.round(rgb * 255).astype(np.uint8)


def _vf(width: int, height: int) -> str:
    return (f"scale={width}:{height}:force_original_aspect_ratio=decrease:flags=lanczos,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:black,setsar=1,format=rgb48le")


def encode_chunk(src: str, start: int, count: int, out_dir: str, width: int, height: int,
                 fps_filter: str | None) -> list[str]:
    """Encode frames [start, start+count) of the (already 24 fps) picture to .j2c files."""
    ff = ffmpeg_exe()
    vf = (f"{fps_filter}," if fps_filter else "") + \
        f"trim=start_frame={start}:end_frame={start + count},setpts=PTS-STARTPTS," + \
        _vf(width, height)
    dec = subprocess.Popen([ff, "-v", "error", "-nostdin", "-i", src, "-an", "-vf", vf,
                            "-f", "rawvideo", "-pix_fmt", "rgb48le", "-"],
                           stdout=subprocess.PIPE)
    pattern = str(Path(out_dir) / f"f{start:07d}_%06d.j2c")
    enc = subprocess.Popen([ff, "-v", "error", "-nostdin", "-f", "rawvideo", "-pix_fmt",
                            "xyz12le", "-s", f"{width}x{height}", "-r", "24", "-i", "-",
                            "-c:v", "libopenjpeg", "-format", "j2k", "-profile:v", "cinema2k",
                            "-cinema_mode", "2k_24", "-prog_order", "cprl", "-threads", "1",
                            "-start_number", "0", "-f", "image2", "-y", pattern],
                           stdin=subprocess.PIPE)
    size = width * height * 3 * 2
    n = 0
    assert dec.stdout is not None and enc.stdin is not None
    try:
        while n < count:
            buf = dec.stdout.read(size)
            if len(buf) < size:
                break
            rgb = np.frombuffer(buf, dtype="<u2").reshape(height, width, 3)
            enc.stdin.write(rgb48_to_xyz12(rgb).astype("<u2").tobytes())
            n += 1
    finally:
        enc.stdin.close()
        dec.stdout.close()
        rc_enc, rc_dec = enc.wait(), dec.wait()
    if rc_enc or rc_dec:
        raise RuntimeError(f"ffmpeg failed on frames {start}-{start + count} ({rc_dec}/{rc_enc})")
    return [str(Path(out_dir) / f"f{start:07d}_{i:06d}.j2c") for i in range(n)]


def encode_picture(src: Path, frames: int, out_dir: Path, container: str, *,
                   fps_filter: str | None = None, workers: int = 2, chunk: int = 48,
                   progress: Callable[[float], None] | None = None) -> list[Path]:
    """All frames as JPEG 2000 codestreams, in order; chunks encoded across processes."""
    width, height = CONTAINERS[container]
    out_dir.mkdir(parents=True, exist_ok=True)
    chunks = [(s, min(chunk, frames - s)) for s in range(0, frames, chunk)]
    results: dict[int, list[str]] = {}
    done = 0
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futs = {pool.submit(encode_chunk, str(src), s, c, str(out_dir), width, height,
                            fps_filter): s for s, c in chunks}
        for fut in as_completed(futs):
            results[futs[fut]] = fut.result()
            done += len(results[futs[fut]])
            if progress:
                progress(done / max(frames, 1))
    files = [Path(p) for s, _ in chunks for p in results[s]]
    for p in files:
        if p.stat().st_size > MAX_J2C_BYTES:
            raise RuntimeError(f"{p.name} exceeds the DCI 250 Mb/s frame budget")
    return files
