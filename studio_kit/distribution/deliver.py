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
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..edit.frames import run_ffmpeg
from ..errors import StudioError
from ..production.gates import GateError, latest_render, require_gate_c
from ..registry import DELIVERABLES
from .captions_burn import BurnPlan
from .platforms import PlatformSpec, platform, platforms
from .reframe import CropPath, crop_path, crop_size, sendcmd_script, subject_track

if TYPE_CHECKING:
    from ..edit.timeline import Timeline


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
    burned_captions: str | None = Field(None, description="Language burned into the video.")
    burn_plan: str | None = Field(None, description="Where each burned caption sits (JSON).")


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


def timeline_file(render: dict, master: str | Path) -> Path:
    """The render record's timeline file; a StudioError when the record has none."""
    src = render.get("timeline")
    if not src or not Path(src).is_file():
        raise StudioError("the render record has no timeline", file=master,
                          hint="re-render the episode (the record predates timelines)")
    return Path(src)


def episode_timeline(render: dict, master: str | Path) -> Timeline:
    """The render record's timeline (``timeline_file``), parsed."""
    from ..edit.timeline import Timeline

    return Timeline.model_validate_json(timeline_file(render, master).read_text("utf-8"))


def platform_gain_db(spec: PlatformSpec, render: dict) -> float:
    """The gain that brings the master's measured integrated loudness (``render.json``) to
    the platform's target; 0 when the render measured none."""
    measured = render.get("loudness", {}).get("integrated_lufs")
    return 0.0 if measured is None else round(spec.loudness_lufs - float(measured), 2)


def caption_srts(render: dict) -> dict[str, Path]:
    """The render's SRT file of each caption language that has one on disk (sorted)."""
    out: dict[str, Path] = {}
    for lang, files in sorted(render.get("captions", {}).items()):
        src = files.get("srt")
        if src and Path(src).is_file():
            out[lang] = Path(src)
    return out


def caption_srt(render: dict, language: str, master: Path) -> Path:
    """The render's SRT of ``language``; a StudioError naming the languages it has."""
    src = caption_srts(render).get(language)
    if src is None:
        raise StudioError(f"the render has no {language!r} captions to burn in",
                          file=master, field="burn_captions",
                          hint=f"languages: {', '.join(sorted(render.get('captions', {})))}"
                          " (set series.languages and re-render)")
    return src


def platform_audio_filter(spec: PlatformSpec, gain_db: float) -> str:
    """The loudness gain, then a limiter at the platform's peak ceiling."""
    ceiling = 10 ** (spec.true_peak_dbtp / 20)
    return f"volume={gain_db:.2f}dB,alimiter=limit={ceiling:.4f}:level=false"


def platform_video_args(spec: PlatformSpec) -> list[str]:
    """The H.264 settings of every distribution encode (deliverables, cut-downs, the bench's
    centre crop): one place, so both sides of a comparison encode alike."""
    kbps = spec.max_bitrate_kbps
    return ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-maxrate", f"{kbps}k",
            "-bufsize", f"{2 * kbps}k", "-pix_fmt", "yuv420p"]


def _master_seconds(master: Path) -> float:
    import av

    with av.open(str(master)) as c:
        return float(c.duration or 0) / 1_000_000


def encode(master: Path, spec: PlatformSpec, dest: Path, *, gain_db: float,
           path: CropPath | None, duration_s: float, burn: BurnPlan | None = None) -> None:
    """The one ffmpeg pass: (moving) crop, scale, VBV-capped H.264, gain + limiter AAC;
    with ``burn``, its caption images overlaid after the scale (``captions_burn``)."""
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
        af = platform_audio_filter(spec, gain_db)
        part = Path(tmp) / dest.name
        if burn is not None and burn.cues:
            from .captions_burn import burn_images, overlay_graph

            burn = burn_images(burn, Path(tmp) / "captions")
            graph = Path(tmp) / "burn.graph"
            graph.write_text(f"[0:v]{','.join(vf)}[base];"
                             + overlay_graph(burn, 1, "base", "vout"), encoding="utf-8")
            inputs = ["-i", str(master)]
            for cue in burn.cues:
                inputs += ["-i", str(cue.image)]
            video = ["-/filter_complex", str(graph), "-map", "[vout]", "-map", "0:a:0?"]
        else:
            inputs = ["-i", str(master)]
            video = ["-map", "0:v:0", "-map", "0:a:0?", "-vf", ",".join(vf)]
        run_ffmpeg(["-nostdin", *inputs, "-t", f"{duration_s:.3f}", *video, "-af", af,
                    *platform_video_args(spec), "-c:a", "aac", "-b:a", "160k", "-ar", "48000",
                    "-movflags", "+faststart", str(part)],
                   what=f"encode the {spec.name} deliverable", file=master)
        os.replace(part, dest)


def deliver(project, episode: str, platform_name: str, out_dir: str | Path, *,
            thumbnails: int = 3, burn_captions: str | None = None,
            caption_style=None, thumbnail_title: str | None = None) -> Deliverable:
    """Deliver ``episode`` for one platform (see the module doc). ``burn_captions``: a
    caption language to burn into the picture, clear of the subject's face
    (``captions_burn``; ``caption_style``: a ``CaptionStyle``). ``thumbnail_title``: text
    drawn on the thumbnails, clear of the faces (``thumbnails.draw_title``)."""
    from ..project.series_folder import Project
    from ..store.yamlio import atomic_write_text
    from .metadata import build_metadata
    from .thumbnails import choose_thumbnails

    spec = platform(platform_name)
    proj = project if isinstance(project, Project) else Project.load(project)
    episode = proj.storyboard(episode).episode
    with proj.ledger() as ledger:
        master, render = approved_master(ledger, proj, episode)
    timeline = episode_timeline(render, master)
    if burn_captions:
        caption_srt(render, burn_captions, master)  # a wrong language fails before any work
    out = Path(out_dir) / spec.name
    stem = master.stem
    duration = min(_master_seconds(master) or timeline.duration_s, spec.max_duration_s)

    cw, ch = crop_size(timeline.width, timeline.height, spec.width, spec.height)
    path = None
    crop_file = None
    reframed = (cw, ch) != (timeline.width, timeline.height)
    gain = platform_gain_db(spec, render)
    video = out / f"{stem}.{spec.name}.mp4"
    if reframed and not burn_captions:
        # tracked while it is encoded, one decode (reframe_stream); the same path and pixels
        from .reframe_stream import reframe_encode

        path = reframe_encode(master, timeline, render, proj.vault(), spec, video,
                              crop_w=cw, crop_h=ch, gain_db=gain, duration_s=duration)
    elif reframed:  # the burn plan needs the whole path before the encode
        track = subject_track(render, timeline, proj.vault(), master)
        path = crop_path(track, timeline, cw, ch, spec.max_pan)
    if path is not None:
        crop_file = out / f"{stem}.{spec.name}.crop.json"
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(crop_file, path.model_dump_json())

    plan = plan_file = None
    if burn_captions:
        plan = _burn_plan(proj, render, timeline, master, spec, path, burn_captions,
                          duration, caption_style)
        plan_file = out / f"{stem}.{spec.name}.burn-{burn_captions}.json"
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(plan_file, plan.model_dump_json(indent=1))
    if not reframed or burn_captions:
        encode(master, spec, video, gain_db=gain, path=path, duration_s=duration, burn=plan)

    captions: dict[str, str] = {}
    for lang, src in caption_srts(render).items():
        dst = out / f"{stem}.{lang}.{spec.captions}"
        atomic_write_text(dst, sidecar(src.read_text("utf-8"), spec.captions, lang, duration))
        captions[lang] = str(dst)

    size = (spec.width // 2 * 2, spec.height // 2 * 2) if path is None else None
    thumbs = choose_thumbnails(master, timeline, out, n=thumbnails, crop=path, size=size,
                               stem=f"{stem}.{spec.name}.thumb",
                               title=thumbnail_title) if thumbnails else []
    meta = build_metadata(proj, episode, spec.name, timeline, render, duration_s=duration,
                          captions={k: Path(v).name for k, v in captions.items()},
                          thumbnails=[Path(t.path).name for t in thumbs])
    if burn_captions:
        meta = meta.model_copy(update={"burned_captions": burn_captions})
    meta_file = out / f"{stem}.{spec.name}.json"
    atomic_write_text(meta_file, json.dumps(meta.model_dump(), indent=2, ensure_ascii=False))
    return Deliverable(platform=spec.name, video=str(video), width=spec.width,
                       height=spec.height, duration_s=round(duration, 3), gain_db=gain,
                       captions=captions, metadata=str(meta_file),
                       thumbnails=[t.path for t in thumbs],
                       crop=str(crop_file) if crop_file else None,
                       burned_captions=burn_captions or None,
                       burn_plan=str(plan_file) if plan_file else None)


def _burn_plan(proj, render: dict, timeline, master: Path, spec: PlatformSpec,
               path: CropPath | None, language: str, duration: float, style) -> BurnPlan:
    """The burn-in plan of one language: the render's captions placed clear of the
    subject's face in the deliverable's framing."""
    from .captions_burn import output_faces, plan_burn, srt_captions

    src = caption_srt(render, language, master)
    track = path.subject if path is not None else subject_track(render, timeline,
                                                                proj.vault(), master)
    faces = output_faces(path, track, timeline.width, timeline.height, spec.width,
                         spec.height)
    caps = srt_captions(src.read_text("utf-8"))
    return plan_burn(caps, spec.width, spec.height, faces, float(timeline.fps),
                     language=language, limit_s=duration, style=style)


def sidecar(srt_text: str, fmt: str, language: str, limit_s: float) -> str:
    """The render's SRT as the platform's format, without cues after ``limit_s``."""
    from ..edit.captions import read_srt, to_srt, to_vtt

    caps = [c.model_copy(update={"end_s": min(c.end_s, limit_s)})
            for c in read_srt(srt_text) if c.start_s < limit_s]
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
