"""Synthetic shot clips (ffmpeg test sources) encoded exactly like engine output; used by
tests and the assembly benchmark so they run without any engine."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from ..video_encoding import fps_fraction, h264_args
from .frames import run_ffmpeg


def make_clip(out: str | Path, *, seconds: float, fps: float | Fraction = 24,
              width: int = 320, height: int = 180, source: str = "testsrc2",
              colour: str = "gray", audio_hz: float | None = None) -> Path:
    """Encode ``seconds`` of an ffmpeg test source (``testsrc2``, ``smptebars``,
    ``mandelbrot``) or a flat ``color`` with the canonical H.264 parameters."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fr = fps_fraction(fps)
    rate = f"{fr.numerator}/{fr.denominator}"
    frames = round(Fraction(seconds).limit_denominator(10000) * fr)
    if source == "color":
        src = f"color=c={colour}:s={width}x{height}:r={rate}"
    else:
        src = f"{source}=s={width}x{height}:r={rate}"
    args = ["-f", "lavfi", "-i", src]
    if audio_hz:
        args += ["-f", "lavfi", "-i", f"sine=frequency={audio_hz}:sample_rate=48000"]
    args += ["-frames:v", str(frames), "-vf",
             "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
             *h264_args(fr)]
    if audio_hz:
        args += ["-c:a", "aac", "-t", f"{frames / fr:.6f}"]
    else:
        args += ["-an"]
    run_ffmpeg([*args, str(out)], what=f"make the test clip {out.name}", file=out)
    return out
