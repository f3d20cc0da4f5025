"""Probe media files with PyAV (the bundled ffmpeg has no ffprobe).

Frame counts and keyframe times come from demuxing every packet (no decoding), so they are
exact and cheap: what the assembler needs to know where it may stream-copy from.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel, Field

from ..errors import StudioError


class StreamInfo(BaseModel):
    index: int
    type: str = Field(description="video, audio, subtitle, data")
    codec: str
    profile: str | None = None
    language: str | None = None
    title: str | None = None
    duration_s: float = 0.0
    start_s: float = 0.0
    frames: int = Field(0, description="Packets in the stream (video: frames).")
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    fps_num: int | None = None
    fps_den: int | None = None
    pix_fmt: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    keyframes_s: list[float] = Field(default_factory=list)
    keyframe_indices: list[int] = Field(default_factory=list, description="Frame numbers.")
    extradata_hex: str | None = Field(default=None, description="Codec private data (avcC).")
    time_base: str | None = None


class MediaInfo(BaseModel):
    path: str
    format: str
    duration_s: float
    size_bytes: int
    streams: list[StreamInfo]

    def of_type(self, kind: str) -> list[StreamInfo]:
        return [s for s in self.streams if s.type == kind]

    @property
    def video(self) -> StreamInfo:
        vids = self.of_type("video")
        if not vids:
            raise StudioError("no video stream", file=self.path,
                              hint="pass a video file (MP4 or MOV)")
        return vids[0]

    @property
    def languages(self) -> dict[str, list[str | None]]:
        out: dict[str, list[str | None]] = {}
        for s in self.streams:
            out.setdefault(s.type, []).append(s.language)
        return out


def probe(path: str | Path, *, packets: bool = True) -> MediaInfo:
    """Streams, durations, frame counts, keyframe times and languages of ``path``.

    ``packets=False`` skips the packet scan (no frame counts or keyframes; instant).
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise StudioError("media file not found", file=path, hint="check the path")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise StudioError(f"cannot read media: {exc}", file=path,
                          hint="is this a video or audio file?") from exc
    with container:
        infos: list[StreamInfo] = []
        for st in container.streams:
            cc = st.codec_context
            tb = st.time_base
            info = StreamInfo(
                index=st.index,
                type=st.type,
                codec=cc.name if cc is not None else "unknown",
                profile=getattr(cc, "profile", None) if cc is not None else None,
                language=st.metadata.get("language"),
                title=st.metadata.get("title") or st.metadata.get("handler_name"),
                duration_s=float(st.duration * tb) if st.duration and tb else 0.0,
                start_s=float(st.start_time * tb) if st.start_time and tb else 0.0,
                time_base=str(tb) if tb else None,
                extradata_hex=cc.extradata.hex() if cc is not None and cc.extradata else None,
            )
            if st.type == "video":
                rate = st.average_rate or st.guessed_rate or st.base_rate
                info.width, info.height = cc.width, cc.height
                info.pix_fmt = cc.pix_fmt
                if rate:
                    info.fps, info.fps_num, info.fps_den = (
                        float(rate), rate.numerator, rate.denominator)
            elif st.type == "audio":
                info.sample_rate = cc.sample_rate
                info.channels = cc.channels
            infos.append(info)
        if packets:
            _scan_packets(container, infos)
        duration = float(container.duration / 1_000_000) if container.duration else max(
            (s.duration_s for s in infos), default=0.0)
        return MediaInfo(path=str(path), format=container.format.name, duration_s=duration,
                         size_bytes=path.stat().st_size, streams=infos)


def _scan_packets(container, infos: list[StreamInfo]) -> None:
    counts = dict.fromkeys(range(len(infos)), 0)
    first: dict[int, int] = {}
    last_end: dict[int, int] = {}
    key_pts: dict[int, list[int]] = {i: [] for i in range(len(infos))}
    pts_list: dict[int, list[int]] = {i: [] for i in range(len(infos))}
    for pkt in container.demux():
        if pkt.size == 0 or pkt.stream.index not in counts:
            continue
        i = pkt.stream.index
        counts[i] += 1
        pts = pkt.pts if pkt.pts is not None else pkt.dts
        if pts is None:
            continue
        first[i] = min(first.get(i, pts), pts)
        last_end[i] = max(last_end.get(i, pts), pts + (pkt.duration or 0))
        if infos[i].type == "video":
            pts_list[i].append(pts)
            if pkt.is_keyframe:
                key_pts[i].append(pts)
    for i, info in enumerate(infos):
        info.frames = counts[i]
        tb = Fraction(info.time_base) if info.time_base else None
        if tb is None or i not in first:
            continue
        info.start_s = float(first[i] * tb)
        info.duration_s = float((last_end[i] - first[i]) * tb)
        if info.type == "video":
            order = {p: n for n, p in enumerate(sorted(pts_list[i]))}
            info.keyframe_indices = sorted(order[p] for p in key_pts[i])
            info.keyframes_s = [float((p - first[i]) * tb) for p in sorted(key_pts[i])]
