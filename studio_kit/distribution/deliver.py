"""One platform's deliverable from the latest render's Gate C approved master.

``deliver(project, episode, platform, out_dir)`` writes into ``out_dir/<platform>/``:

- ``<stem>.<platform>.mp4``: H.264 + AAC at the platform's size (reframed to follow the
  subject when its aspect is narrower than the master's, ``reframe.py``), its bitrate
  ceiling (VBV ``maxrate``), cut at its maximum duration, and its loudness target (gain
  from the master's measured integrated loudness in ``render.json``, then a limiter at
  the platform's peak ceiling) - one ffmpeg pass;
- caption sidecars per language in the platform's format (SRT or WebVTT), from the
  render's captions;
- ``<stem>.<platform>.json``: metadata (``metadata.py``) with chapters from the acts;
- ``thumb-N.png``: the best thumbnails in the deliverable's framing (``thumbnails.py``);
- ``<stem>.<platform>.crop.json``: the crop path (a crop plot is drawn from it).

Nothing is delivered unless Gate C approved exactly the current master.

Each platform in ``data/platforms.yaml`` is an exporter in ``registry.DELIVERABLES``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from ..errors import StudioError
from ..gates import GateError, latest_render, require_gate_c
from ..registry import DELIVERABLES
from .platforms import PlatformSpec, platform, platforms
from .reframe import CropPath, crop_path, crop_size, sendcmd_script, subject_track


class Deliverable(BaseModel):
    platform: str
    video: str
    width: int
    height: int
    duration_s: float
    gain_db: float
    captions: dict[str, str] = Field(default_factory=dict)
    metadata: str
    thumbnails: list[str] = Field(default_factory=list)
    crop: str | None = None


def approved_master(ledger, project, episode: str) -> tuple[Path, dict]:
    """The latest render's master and record; GateError unless Gate C approved it as it is."""
    render = latest_render(ledger, episode)
    if not render or not render.get("master"):
        raise GateError(f"episode {episode} has no successful render with a master",
                        field="gate C", hint=f"render it first: 'studio render PROJECT "
                        f"{episode}'")
    master = Path(render["master"])
    require_gate_c(ledger, episode, master, action="delivered")
    return master, render


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _master_seconds(master: Path) -> float:
    import av

    with av.open(str(master)) as c:
        return float(c.duration or 0) / 1_000_000


def encode(master: Path, spec: PlatformSpec, dest: Path, *, gain_db: float,
           path: CropPath | None, duration_s: float) -> None:
    """The one ffmpeg pass: (moving) crop, scale, VBV-capped H.264, gain + limiter AAC."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        vf = []
        if path is not None:
            cmd = Path(tmp) / "crop.cmd"
            cmd.write_text(sendcmd_script(path), encoding="utf-8")
            esc = str(cmd).replace("\\", "/").replace(":", "\\:").replace("'", "\\'")
            vf.append(f"sendcmd=f='{esc}'")
            vf.append(f"crop=w={path.crop_w}:h={path.crop_h}:x={path.x[0]}:y={path.y[0]}")
        vf.append(f"scale={spec.width}:{spec.height}:flags=lanczos,setsar=1,format=yuv420p")
        ceiling = 10 ** (spec.true_peak_dbtp / 20)
        af = f"volume={gain_db:.2f}dB,alimiter=limit={ceiling:.4f}:level=false"
        part = Path(tmp) / dest.name
        kbps = spec.max_bitrate_kbps
        args = [_ffmpeg(), "-v", "error", "-nostdin", "-y", "-i", str(master),
                "-t", f"{duration_s:.3f}", "-map", "0:v:0", "-map", "0:a:0?",
                "-vf", ",".join(vf), "-af", af,
                "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                "-maxrate", f"{kbps}k", "-bufsize", f"{2 * kbps}k", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "160k", "-ar", "48000",
                "-movflags", "+faststart", str(part)]
        proc = subprocess.run(args, capture_output=True, text=True)
        if proc.returncode != 0:
            raise StudioError(f"ffmpeg could not encode the {spec.name} deliverable: "
                              f"{proc.stderr.strip()[-400:]}", file=master,
                              hint="check the master plays ('studio status'); re-render it")
        os.replace(part, dest)


def deliver(project, episode: str, platform_name: str, out_dir: str | Path, *,
            thumbnails: int = 3) -> Deliverable:
    """Deliver ``episode`` for one platform (see the module doc)."""
    from ..edit.timeline import Timeline
    from ..project import Project
    from ..yamlio import atomic_write_text
    from .metadata import build_metadata
    from .thumbnails import choose_thumbnails

    spec = platform(platform_name)
    proj = project if isinstance(project, Project) else Project.load(project)
    episode = proj.storyboard(episode).episode
    with proj.ledger() as ledger:
        master, render = approved_master(ledger, proj, episode)
    if not render.get("timeline") or not Path(render["timeline"]).is_file():
        raise StudioError("the render record has no timeline", file=master,
                          hint="re-render the episode (the record predates timelines)")
    timeline = Timeline.model_validate_json(Path(render["timeline"]).read_text("utf-8"))
    out = Path(out_dir) / spec.name
    stem = master.stem
    duration = min(_master_seconds(master) or timeline.duration_s, spec.max_duration_s)

    cw, ch = crop_size(timeline.width, timeline.height, spec.width, spec.height)
    path = None
    crop_file = None
    if (cw, ch) != (timeline.width, timeline.height):
        track = subject_track(render, timeline, proj.vault(), master)
        path = crop_path(track, timeline, cw, ch, spec.max_pan)
        crop_file = out / f"{stem}.{spec.name}.crop.json"
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(crop_file, path.model_dump_json())

    measured = render.get("loudness", {}).get("integrated_lufs")
    gain = 0.0 if measured is None else round(spec.loudness_lufs - float(measured), 2)
    video = out / f"{stem}.{spec.name}.mp4"
    encode(master, spec, video, gain_db=gain, path=path, duration_s=duration)

    captions: dict[str, str] = {}
    for lang, files in sorted(render.get("captions", {}).items()):
        src = files.get("srt")
        if src and Path(src).is_file():
            dst = out / f"{stem}.{lang}.{spec.captions}"
            atomic_write_text(dst, sidecar(Path(src).read_text("utf-8"), spec.captions,
                                           lang, duration))
            captions[lang] = str(dst)

    size = (spec.width // 2 * 2, spec.height // 2 * 2) if path is None else None
    thumbs = choose_thumbnails(master, timeline, out, n=thumbnails, crop=path, size=size,
                               stem=f"{stem}.{spec.name}.thumb") if thumbnails else []
    meta = build_metadata(proj, episode, spec.name, timeline, render, duration_s=duration,
                          captions={k: Path(v).name for k, v in captions.items()},
                          thumbnails=[Path(t.path).name for t in thumbs])
    meta_file = out / f"{stem}.{spec.name}.json"
    atomic_write_text(meta_file, json.dumps(meta.model_dump(), indent=2, ensure_ascii=False))
    return Deliverable(platform=spec.name, video=str(video), width=spec.width,
                       height=spec.height, duration_s=round(duration, 3), gain_db=gain,
                       captions=captions, metadata=str(meta_file),
                       thumbnails=[t.path for t in thumbs],
                       crop=str(crop_file) if crop_file else None)


def sidecar(srt_text: str, fmt: str, language: str, limit_s: float) -> str:
    """The render's SRT as the platform's format, without cues after ``limit_s``."""
    import srt

    from ..edit.captions import Caption, to_srt, to_vtt

    caps = []
    for sub in srt.parse(srt_text):
        start, end = sub.start.total_seconds(), sub.end.total_seconds()
        if start >= limit_s:
            continue
        caps.append(Caption(start_s=start, end_s=min(end, limit_s),
                            lines=sub.content.splitlines()))
    return to_vtt(caps, language) if fmt == "vtt" else to_srt(caps)


class PlatformExporter:
    """The registered exporter of one platform (``registry.DELIVERABLES``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def spec(self) -> PlatformSpec:
        return platform(self.name)

    def export(self, project, episode: str, out_dir: str | Path, **kw) -> Deliverable:
        return deliver(project, episode, self.name, out_dir, **kw)


for _name in platforms():
    DELIVERABLES.register(_name)(PlatformExporter(_name))
