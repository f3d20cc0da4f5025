"""The one place that says how every picture clip in a series is encoded.

Smart rendering (stream-copy what no transition touches, re-encode only transition regions,
then concatenate with ``-c copy``) only works when every clip in the concatenation has the
same H.264 parameter sets (SPS/PPS): same profile, entropy coder, reference frames,
weighted prediction, colour tags. So the engines, the grader, the card renderer and the
assembler all build their ffmpeg arguments from :func:`h264_args` here.

Choices and why:

- ``-bf 0``: no B-frames, so decode order == presentation order, every packet can be cut
  after without breaking a reference, and ``outpoint`` cuts are frame-exact.
- keyframe every ``keyint_s`` (0.5 s): a stream-copied body segment must start on a
  keyframe; transitions are usually whole or half seconds, so their ends land on one.
- explicit BT.709 limited-range tags: they are written into the SPS (VUI), so they must
  be identical too (and they tell players how to convert to RGB).
- no scene-cut keyframes (``-sc_threshold 0``) and bit-exact muxing: the same frames give
  the same bytes, and keyframes fall only where the GOP or the assembler puts them.

Engines that write intermediates (the local engine) derive their own :class:`H264Params`
from these (e.g. a longer GOP, cheaper motion search) and build their arguments here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache


@dataclass(frozen=True)
class H264Params:
    codec: str = "libx264"
    preset: str = "veryfast"
    crf: int = 18
    pix_fmt: str = "yuv420p"
    profile: str = "high"
    bframes: int = 0
    keyint_s: float = 0.5
    colorspace: str = "bt709"
    color_primaries: str = "bt709"
    color_trc: str = "bt709"
    color_range: str = "tv"
    #: Preset for transition regions only. ``superfast`` searches less than ``veryfast``
    #: but writes the SAME parameter sets (ref 1, CABAC, 8x8dct, weightp 1), so its output
    #: concatenates with the shots; the assembler checks that and falls back to ``preset``.
    transition_preset: str = "superfast"
    #: Extra x264 options appended to ``-x264-params`` (``key=value:key=value``); only
    #: ones that leave the parameter sets alone (motion search, AQ) keep clips
    #: concatenable.
    x264_extra: str = ""
    #: x264's thread count, fixed: its output depends on it (frame threads change the
    #: lookahead and the motion search's reach), and left alone it takes 1.5 x the cores it
    #: sees, so a 2-core laptop, an 8-core worker and a worker pinned to one core would
    #: write different bytes for the same clip, and a season on a cluster would not be
    #: bit-identical to the same render in process. 3 is what x264 takes on 2 cores.
    threads: int = 3

    def gop(self, fps: float | Fraction) -> int:
        return max(1, round(float(fps) * self.keyint_s))


#: The canonical encode parameters of every shot clip, card and transition segment.
H264_PARAMS = H264Params()


def fps_fraction(fps: float | Fraction | str) -> Fraction:
    """24 -> 24, 23.976 -> 24000/1001, 29.97 -> 30000/1001 (NTSC rates are exact)."""
    if isinstance(fps, Fraction):
        return fps
    value = float(Fraction(fps)) if isinstance(fps, str) else float(fps)
    for ntsc in (24, 30, 60):
        if abs(value - ntsc * 1000 / 1001) < 0.005:
            return Fraction(ntsc * 1000, 1001)
    return Fraction(value).limit_denominator(1001)


def h264_args(
    fps: float | Fraction,
    *,
    params: H264Params = H264_PARAMS,
    force_keyframes_s: Sequence[float] = (),
    preset: str | None = None,
) -> list[str]:
    """ffmpeg output arguments for one video stream encoded with the canonical parameters.

    ``force_keyframes_s``: extra keyframe times (seconds from the clip start), e.g. where a
    transition ends so the assembler can stream-copy from there. ``preset`` overrides the
    x264 preset (only ones that keep the parameter sets, see ``transition_preset``).
    """
    fr = fps_fraction(fps)
    args = [
        "-c:v", params.codec,
        "-preset", preset or params.preset,
        "-crf", str(params.crf),
        "-pix_fmt", params.pix_fmt,
        "-profile:v", params.profile,
        "-bf", str(params.bframes),
        "-g", str(params.gop(fr)),
        "-r", f"{fr.numerator}/{fr.denominator}",
        "-colorspace", params.colorspace,
        "-color_primaries", params.color_primaries,
        "-color_trc", params.color_trc,
        "-color_range", params.color_range,
        "-video_track_timescale", str(_timescale(fr)),
        # x264's own VUI settings win over whatever the input frames say, so every
        # encode writes the same SPS whatever fed it (lavfi, pipe, decoded clip).
        "-x264-params", (f"colorprim={params.color_primaries}:transfer={params.color_trc}:"
                         f"colormatrix={params.colorspace}:sar=1/1:"
                         f"fullrange={'on' if params.color_range == 'pc' else 'off'}"
                         + (f":{params.x264_extra}" if params.x264_extra else "")),
        "-sc_threshold", "0", "-threads", str(params.threads),
        "-map_metadata", "-1", "-fflags", "+bitexact",
    ]
    if force_keyframes_s:
        # a quarter frame early: ffmpeg keys the first frame at or after each time, and a
        # time like 1/24 s rounded down must not land on the frame before
        early = 0.25 / float(fr)
        times = ",".join(f"{max(0.0, t - early):.6f}" for t in sorted(set(force_keyframes_s)))
        args += ["-force_key_frames", times]
    return args


def _timescale(fr: Fraction) -> int:
    """An MP4 track timescale in which every frame time is an integer (as ffmpeg picks)."""
    scale = fr.numerator
    while scale < 10000:
        scale *= 2
    return scale


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped with imageio-ffmpeg (no system ffmpeg needed)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@lru_cache(maxsize=1)
def ffmpeg_build() -> str:
    """Which ffmpeg build encodes (imageio-ffmpeg names its binary by version): part of the
    keys of cached encodes, so an upgraded encoder does not reuse an older one's pieces."""
    from pathlib import Path

    return Path(ffmpeg_exe()).name
