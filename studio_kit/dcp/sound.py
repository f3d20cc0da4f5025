"""Sound: any audio -> 48 kHz 24-bit PCM, stereo or 5.1 (L R C LFE Ls Rs), frame-aligned."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .picture import ffmpeg_exe

CHANNELS = {"stereo": 2, "5.1": 6}
SAMPLES_PER_FRAME = 2000  # 48000 / 24


def pcm24(sources: list[Path], layout: str, frames: int, *, tempo: float | None = None) -> bytes:
    """Interleaved s24le PCM, exactly ``frames`` * 2000 samples per channel.

    One source: downmixed/upmixed to the layout by ffmpeg. Several sources (5.1 as six mono
    stems in L R C LFE Ls Rs order) are merged channel by channel.
    """
    ff = ffmpeg_exe()
    n = CHANNELS[layout]
    args = [ff, "-v", "error", "-nostdin"]
    for s in sources:
        args += ["-i", str(s)]
    pre = f"atempo={tempo}," if tempo else ""
    if len(sources) == 1:
        lay = "stereo" if n == 2 else "5.1"
        graph = f"[0:a]{pre}aresample=48000,aformat=channel_layouts={lay}[a]"
    else:
        ins = "".join(f"[{i}:a]" for i in range(len(sources)))
        graph = f"{ins}amerge=inputs={len(sources)},{pre}aresample=48000[a]"
    total = frames * SAMPLES_PER_FRAME
    args += ["-filter_complex", graph + f";[a]apad=whole_len={total}[b]", "-map", "[b]",
             "-t", f"{total / 48000:.6f}", "-ac", str(n), "-ar", "48000", "-c:a", "pcm_s24le",
             "-f", "s24le", "-"]
    out = subprocess.run(args, capture_output=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr.decode(errors="replace")[-800:])
    data = out.stdout
    want = total * n * 3
    return data[:want] + b"\0" * max(0, want - len(data))
