"""Distribution Hub logic (the surface is ``widgets/distribution_hub.py``).

What the producer decides is kept per episode in ``episodes/<nn>/distribution.json``
(``HubState``, pydantic, written atomically): the platforms, and per platform the chosen
thumbnail (a master frame) and the edited metadata (title, description, tags).

Before Gate C the hub only *previews*: each platform's framing (the crop path that
``reframe`` computes, per shot: the crop window and the subject box over time, plus a
still of the shot with the crop drawn on it and the cropped picture) and the thumbnail
candidates (``thumbnails.choose_thumbnails`` in the platform's framing). Previews are
cached under ``.studio/distribution/<nn>/`` keyed by the master's hash.

``build_release`` (Gate C approved exactly the current master, else ``GateError`` and
nothing is written) renders every chosen platform with ``deliver.deliver``, puts the chosen
thumbnail at the platform's size, writes the edited metadata, signs each video as a C2PA
rendition of the master and writes its provenance report (``provenance_report``).
``publish`` builds the release and hands it to a publisher (``publish.py``: a folder or an
upload API).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import StudioError
from ..production.gates import GateError, GateState, latest_render, master_status, require_gate_c
from ..store.hashing import file_hash
from ..store.yamlio import atomic_write_bytes, atomic_write_text
from .platforms import PlatformSpec, platform, platforms
from .publish import PlatformRelease, Receipt, Release, publish, release_file, save_release
from .reframe import CropPath, crop_path, crop_size, decode_frames, subject_track
from .thumbnails import Thumbnail, choose_thumbnails

HUB_FILE = "distribution.json"
#: thumbnail candidates offered per platform
CANDIDATES = 4
#: platform title / description / tag limits (the strictest of the platforms served)
MAX_TITLE = 100
MAX_DESCRIPTION = 5000
MAX_TAG = 100
MAX_TAGS_CHARS = 500
#: height of the framing preview stills (pixels)
PREVIEW_H = 144


class MetadataEdit(BaseModel):
    """The producer's title, description and tags for one platform."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_TITLE)
    description: str = Field("", max_length=MAX_DESCRIPTION)
    tags: list[str] = Field(default_factory=list)

    @field_validator("title", "description", mode="before")
    @classmethod
    def _no_brackets(cls, v):
        if not isinstance(v, str):
            return v
        v = v.strip()
        if "<" in v or ">" in v:
            raise ValueError("must not contain '<' or '>' (platforms refuse them)")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        out = list(dict.fromkeys(t.strip() for t in v if t.strip()))
        for t in out:
            if len(t) > MAX_TAG or "<" in t or ">" in t or "," in t:
                raise ValueError(f"tag {t[:20]!r}: at most {MAX_TAG} characters, no '<', '>' "
                                 "or ','")
        if sum(len(t) for t in out) > MAX_TAGS_CHARS:
            raise ValueError(f"tags total more than {MAX_TAGS_CHARS} characters")
        return out


class PlatformChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thumbnail_frame: int | None = Field(None, ge=0, description="Master frame of the thumbnail.")
    metadata: MetadataEdit | None = None
    burn_captions: str | None = Field(None, description="Caption language burned into the "
                                      "platform's video (None: sidecars only).")
    thumbnail_title: str | None = Field(None, min_length=1, max_length=MAX_TITLE,
                                        description="Text drawn on the thumbnail.")

    @field_validator("thumbnail_title", mode="before")
    @classmethod
    def _title_text(cls, v):
        if isinstance(v, str):
            v = " ".join(v.split()) or None
            if v and ("<" in v or ">" in v):
                raise ValueError("must not contain '<' or '>'")
        return v


class HubState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    episode: str
    platforms: list[str] = Field(default_factory=list)
    choices: dict[str, PlatformChoice] = Field(default_factory=dict)

    @field_validator("platforms")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        known = platforms()
        for name in v:
            if name not in known:
                raise ValueError(f"unknown platform {name!r} (platforms: "
                                 f"{', '.join(sorted(known))})")
        return list(dict.fromkeys(v))


# -- state on disk ---------------------------------------------------------------------
def _project(project):
    from ..project.series_folder import Project

    return project if isinstance(project, Project) else Project.load(project)


def _episode(proj, episode: str) -> str:
    return proj.storyboard(episode).episode


def state_path(project, episode: str) -> Path:
    proj = _project(project)
    return proj.root / "episodes" / _episode(proj, episode) / HUB_FILE


def _invalid(exc: ValidationError, path: Path, prefix: str = "") -> StudioError:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return StudioError(f"invalid {(prefix + loc).strip('.')}: {msg}", file=path,
                       field=(prefix + loc).strip("."),
                       hint="fix the value in the Distribution Hub (or the JSON file)")


def load_state(project, episode: str) -> HubState:
    proj = _project(project)
    ep = _episode(proj, episode)
    path = state_path(proj, ep)
    if not path.is_file():
        return HubState(episode=ep)
    try:
        return HubState.model_validate_json(path.read_text("utf-8"))
    except ValidationError as exc:
        raise _invalid(exc, path) from None


def save_state(project, state: HubState) -> Path:
    path = state_path(project, state.episode)
    atomic_write_text(path, json.dumps(state.model_dump(mode="json", exclude_none=True),
                                       indent=2, ensure_ascii=False) + "\n")
    return path


def choose_platforms(project, episode: str, names: list[str]) -> HubState:
    proj = _project(project)
    state = load_state(proj, episode)
    try:
        state = HubState.model_validate({**state.model_dump(), "platforms": list(names)})
    except ValidationError as exc:
        raise _invalid(exc, state_path(proj, episode)) from None
    save_state(proj, state)
    return state


def edit_metadata(project, episode: str, platform_name: str, *, title: str,
                  description: str = "", tags: list[str] | str = ()) -> HubState:
    """Validate and keep the producer's metadata for one platform."""
    proj = _project(project)
    platform(platform_name)
    if isinstance(tags, str):
        tags = [t for t in tags.split(",")]
    path = state_path(proj, episode)
    try:
        edit = MetadataEdit(title=title, description=description, tags=list(tags))
    except ValidationError as exc:
        raise _invalid(exc, path, f"{platform_name}.") from None
    state = load_state(proj, episode)
    choice = state.choices.get(platform_name, PlatformChoice())
    state.choices[platform_name] = choice.model_copy(update={"metadata": edit})
    save_state(proj, state)
    return state


def choose_thumbnail(project, episode: str, platform_name: str, frame: int) -> HubState:
    proj = _project(project)
    offered = {t.frame for t in thumbnail_candidates(proj, episode, platform_name)}
    if frame not in offered:
        raise StudioError(f"frame {frame} is not one of the thumbnail candidates",
                          file=state_path(proj, episode), field=f"{platform_name}.thumbnail",
                          hint=f"choose one of frames {sorted(offered)}")
    state = load_state(proj, episode)
    choice = state.choices.get(platform_name, PlatformChoice())
    state.choices[platform_name] = choice.model_copy(update={"thumbnail_frame": frame})
    save_state(proj, state)
    return state


def caption_languages(project, episode: str) -> list[str]:
    """The caption languages the latest render has (what can be burned in)."""
    from .deliver import caption_srts

    proj = _project(project)
    with proj.ledger() as ledger:
        render = latest_render(ledger, _episode(proj, episode)) or {}
    return list(caption_srts(render))


def choose_burn_in(project, episode: str, platform_name: str, language: str | None
                   ) -> HubState:
    """Burn ``language``'s captions into the platform's video (None or "": sidecars only)."""
    proj = _project(project)
    platform(platform_name)
    language = language or None
    if language is not None:
        have = caption_languages(proj, episode)
        if language not in have:
            raise StudioError(f"the render has no {language!r} captions to burn in",
                              file=state_path(proj, episode),
                              field=f"{platform_name}.burn_captions",
                              hint=f"languages: {', '.join(have) or 'none'} (set "
                              "series.languages and re-render)")
    state = load_state(proj, episode)
    choice = state.choices.get(platform_name, PlatformChoice())
    state.choices[platform_name] = choice.model_copy(update={"burn_captions": language})
    save_state(proj, state)
    return state


def set_thumbnail_title(project, episode: str, platform_name: str, title: str | None
                        ) -> HubState:
    """Draw ``title`` on the platform's thumbnail (None or blank: no title)."""
    proj = _project(project)
    platform(platform_name)
    state = load_state(proj, episode)
    choice = state.choices.get(platform_name, PlatformChoice())
    try:
        choice = PlatformChoice.model_validate({**choice.model_dump(),
                                                "thumbnail_title": title})
    except ValidationError as exc:
        raise _invalid(exc, state_path(proj, episode), f"{platform_name}.") from None
    state.choices[platform_name] = choice
    save_state(proj, state)
    return state


def titled_preview(project, episode: str, platform_name: str, frame: int, title: str,
                   src: Source | None = None) -> bytes:
    """The candidate thumbnail ``frame`` with ``title`` drawn on it, at the platform's
    aspect (PNG bytes, what the release's thumbnail will look like)."""
    from PIL import Image

    from .thumbnails import draw_title

    cand = next((c for c in thumbnail_candidates(project, episode, platform_name, src=src)
                 if c.frame == frame), None)
    if cand is None:
        raise StudioError(f"frame {frame} is not one of the thumbnail candidates",
                          field=f"{platform_name}.thumbnail", hint="choose a thumbnail again")
    with Image.open(cand.path) as im:
        img, _ = draw_title(im.convert("RGB"), title)
    return _png(img)


# -- the source: latest render, its master and timeline ------------------------------
class Source(BaseModel):
    episode: str
    master: str
    master_sha256: str
    render: dict
    timeline: dict

    def tl(self):
        from ..edit.timeline import Timeline

        return Timeline.model_validate(self.timeline)


def source(project, episode: str) -> Source:
    from .deliver import timeline_file

    proj = _project(project)
    ep = _episode(proj, episode)
    with proj.ledger() as ledger:
        render = latest_render(ledger, ep)
    if not render or not render.get("master") or not Path(render["master"]).is_file():
        raise StudioError(f"episode {ep} has no rendered master", field="episode",
                          hint=f"render it first: 'studio render PROJECT {ep}'")
    tl = timeline_file(render, render["master"])
    return Source(episode=ep, master=render["master"], master_sha256=file_hash(render["master"]),
                  render=render, timeline=json.loads(tl.read_text("utf-8")))


class GateView(BaseModel):
    state: str
    can_publish: bool
    message: str
    who: str | None = None
    master: str | None = None


def gate_view(project, episode: str) -> GateView:
    """Gate C as the surface shows it: may the episode be published, and if not, why."""
    proj = _project(project)
    ep = _episode(proj, episode)
    with proj.ledger() as ledger:
        render = latest_render(ledger, ep)
        if not render or not render.get("master"):
            return GateView(state="no master", can_publish=False,
                            message=f"episode {ep} has no rendered master: render it first")
        master = render["master"]
        status = master_status(ledger, ep, master)
        try:
            require_gate_c(ledger, ep, master, action="published")
        except GateError as err:
            return GateView(state=status.state.value, can_publish=False, message=str(err),
                            who=status.who, master=master)
    return GateView(state=GateState.approved.value, can_publish=True,
                    message=f"Gate C approved by {status.who}: the master may be published",
                    who=status.who, master=master)


# -- previews ----------------------------------------------------------------------------
def stage_dir(project, episode: str) -> Path:
    proj = _project(project)
    return proj.root / ".studio" / "distribution" / _episode(proj, episode)


class ShotFraming(BaseModel):
    """One shot's crop over time (master pixels), for a crop plot."""

    shot_id: str
    start_s: float
    end_s: float
    preview_frame: int
    t: list[float]
    crop_left: list[int]
    crop_right: list[int]
    subject_left: list[float | None]
    subject_right: list[float | None]


class Framing(BaseModel):
    platform: str
    label: str
    aspect: str
    width: int
    height: int
    crop_w: int
    crop_h: int
    reframed: bool
    max_pan_px_s: float
    shots: list[ShotFraming]


def _cache_ok(folder: Path, sha: str) -> bool:
    key = folder / "master.sha256"
    return key.is_file() and key.read_text().strip() == sha


def _stamp(folder: Path, sha: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "master.sha256", sha + "\n")


def _crop(proj, src: Source, spec: PlatformSpec) -> CropPath | None:
    """The platform's crop path (None when the platform has the master's aspect)."""
    tl = src.tl()
    cw, ch = crop_size(tl.width, tl.height, spec.width, spec.height)
    if (cw, ch) == (tl.width, tl.height):
        return None
    folder = stage_dir(proj, src.episode) / spec.name
    cached = folder / "crop.json"
    if _cache_ok(folder, src.master_sha256) and cached.is_file():
        return CropPath.model_validate_json(cached.read_text("utf-8"))
    track = subject_track(src.render, tl, proj.vault(), Path(src.master))
    path = crop_path(track, tl, cw, ch, spec.max_pan)
    if not _cache_ok(folder, src.master_sha256):
        shutil.rmtree(folder, ignore_errors=True)
        _stamp(folder, src.master_sha256)
    atomic_write_text(cached, path.model_dump_json())
    return path


def framing(project, episode: str, platform_name: str, src: Source | None = None) -> Framing:
    """Each shot's framing for ``platform_name`` (computed once per master)."""
    from ..edit.timeline import ItemKind

    proj = _project(project)
    spec = platform(platform_name)
    src = src or source(proj, episode)
    tl = src.tl()
    path = _crop(proj, src, spec)
    fps = float(tl.fps)
    cw, ch = (path.crop_w, path.crop_h) if path else (tl.width, tl.height)
    shots = []
    for it in sorted((i for i in tl.items if i.kind == ItemKind.shot),
                     key=lambda i: i.record_start):
        frames = range(it.record_start, it.record_end)
        xs = [path.x[min(n, len(path.x) - 1)] if path else 0 for n in frames]
        subj = [path.subject[n] if path and n < len(path.subject) else None for n in frames]
        shots.append(ShotFraming(
            shot_id=it.id, start_s=round(it.record_start / fps, 4),
            end_s=round(it.record_end / fps, 4),
            preview_frame=(it.record_start + it.record_end) // 2,
            t=[round(n / fps, 4) for n in frames], crop_left=xs,
            crop_right=[x + cw for x in xs],
            subject_left=[None if b is None else round(b[0], 2) for b in subj],
            subject_right=[None if b is None else round(b[2], 2) for b in subj]))
    return Framing(platform=spec.name, label=spec.label, aspect=spec.aspect_label,
                   width=tl.width, height=tl.height, crop_w=cw, crop_h=ch,
                   reframed=path is not None,
                   max_pan_px_s=path.max_pan_px_s if path else 0.0, shots=shots)


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class FramingStill(BaseModel):
    shot_id: str
    frame: int
    master_png: bytes = Field(repr=False, description="The master frame, the crop drawn on it.")
    crop_png: bytes = Field(repr=False, description="What the platform shows.")


def framing_stills(project, episode: str, fr: Framing, src: Source | None = None
                   ) -> list[FramingStill]:
    """Per shot: the master frame with the crop window drawn, and the cropped picture."""
    from PIL import Image, ImageDraw

    proj = _project(project)
    src = src or source(proj, episode)
    frames = decode_frames(Path(src.master), {s.preview_frame for s in fr.shots})
    scale = PREVIEW_H / fr.height
    out = []
    for s in fr.shots:
        rgb = frames.get(s.preview_frame)
        if rgb is None:
            continue
        k = min(len(s.crop_left) - 1, len(s.crop_left) // 2)  # the preview frame's index
        x = s.crop_left[k]
        y = (fr.height - fr.crop_h) // 2
        img = Image.fromarray(rgb)
        crop = img.crop((x, y, x + fr.crop_w, y + fr.crop_h))
        big = img.resize((round(fr.width * scale), PREVIEW_H), Image.Resampling.LANCZOS)
        draw = ImageDraw.Draw(big)
        draw.rectangle([x * scale, y * scale, (x + fr.crop_w) * scale - 1,
                        (y + fr.crop_h) * scale - 1], outline=(255, 214, 0), width=2)
        if s.subject_left[k] is not None:
            draw.line([(s.subject_left[k] * scale, PREVIEW_H - 3),
                       (s.subject_right[k] * scale, PREVIEW_H - 3)], fill=(0, 200, 255), width=3)
        crop = crop.resize((max(2, round(fr.crop_w * scale)), PREVIEW_H),
                           Image.Resampling.LANCZOS)
        out.append(FramingStill(shot_id=s.shot_id, frame=s.preview_frame, master_png=_png(big),
                                crop_png=_png(crop)))
    return out


def thumbnail_candidates(project, episode: str, platform_name: str, *, n: int = CANDIDATES,
                         src: Source | None = None) -> list[Thumbnail]:
    """The best ``n`` thumbnail frames in the platform's framing (cached per master)."""
    proj = _project(project)
    spec = platform(platform_name)
    src = src or source(proj, episode)
    folder = stage_dir(proj, src.episode) / spec.name
    index = folder / "candidates.json"
    if _cache_ok(folder, src.master_sha256) and index.is_file():
        cands = [Thumbnail.model_validate(t) for t in json.loads(index.read_text("utf-8"))]
        if all(Path(t.path).is_file() for t in cands):
            return cands
    path = _crop(proj, src, spec)
    if not _cache_ok(folder, src.master_sha256):
        shutil.rmtree(folder, ignore_errors=True)
        _stamp(folder, src.master_sha256)
    cands = choose_thumbnails(src.master, src.tl(), folder / "candidates", n=n, crop=path,
                              size=None, stem="candidate")
    atomic_write_text(index, json.dumps([t.model_dump() for t in cands]))
    return cands


# -- release and publish -------------------------------------------------------------------
def _thumbnail(src_png: Path, dest: Path, spec: PlatformSpec, title: str | None = None
               ) -> None:
    from PIL import Image

    from .thumbnails import draw_title

    with Image.open(src_png) as im:
        img = im.convert("RGB").resize((spec.width, spec.height), Image.Resampling.LANCZOS)
    if title:
        img, _ = draw_title(img, title)
    atomic_write_bytes(dest, _png(img))


def build_release(project, episode: str, *, sign: bool = True) -> Release:
    """Render every chosen platform into the staging folder (see the module doc)."""
    from ..provenance import load_credentials
    from .deliver import approved_master, deliver
    from .metadata import Metadata
    from .provenance_report import sign_deliverable, write_report

    proj = _project(project)
    ep = _episode(proj, episode)
    state = load_state(proj, ep)
    with proj.ledger() as ledger:
        render = latest_render(ledger, ep)
        if render and render.get("master"):  # the refusal in publishing's words
            require_gate_c(ledger, ep, render["master"], action="published")
        master, _render = approved_master(ledger, proj, ep)  # GateError before any write
        status = master_status(ledger, ep, master)
    if not state.platforms:
        raise StudioError("no platform is chosen", file=state_path(proj, ep), field="platforms",
                          hint="choose at least one platform in the Distribution Hub")
    src = source(proj, ep)
    if src.master_sha256 != status.current_hash:
        raise GateError("the master changed while the release was being prepared",
                        file=master, field="gate C", hint="review it again (Gate C)")
    creds = load_credentials(proj.root) if sign else None
    stage = stage_dir(proj, ep)
    stage.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".release-", dir=stage))
    try:
        entries = []
        for name in state.platforms:
            spec = platform(name)
            choice = state.choices.get(name, PlatformChoice())
            cands = thumbnail_candidates(proj, ep, name, src=src)
            if not cands:
                raise StudioError(f"no thumbnail candidate for {name}", file=master,
                                  field=f"{name}.thumbnail",
                                  hint="the episode has no shot frame fit for a thumbnail")
            pick = cands[0] if choice.thumbnail_frame is None else next(
                (c for c in cands if c.frame == choice.thumbnail_frame), None)
            if pick is None:
                raise StudioError(f"the chosen thumbnail (frame {choice.thumbnail_frame}) is "
                                  "no longer a candidate", file=state_path(proj, ep),
                                  field=f"{name}.thumbnail", hint="choose a thumbnail again")
            d = deliver(proj, ep, name, tmp, thumbnails=0, burn_captions=choice.burn_captions)
            folder = Path(d.video).parent
            stem = Path(d.video).name.removesuffix(".mp4")
            thumb = folder / f"{stem}.thumbnail.png"
            _thumbnail(Path(pick.path), thumb, spec, choice.thumbnail_title)
            meta = Metadata.model_validate_json(Path(d.metadata).read_text("utf-8"))
            upd: dict = {"thumbnails": [thumb.name]}
            if choice.metadata is not None:
                upd |= choice.metadata.model_dump()
            meta = meta.model_copy(update=upd)
            atomic_write_text(Path(d.metadata), json.dumps(meta.model_dump(), indent=2,
                                                           ensure_ascii=False) + "\n")
            if d.crop and Path(d.crop).is_file():
                os.unlink(d.crop)  # a preview aid, not part of the release
            files = [("video", Path(d.video), None), ("thumbnail", thumb, None),
                     ("metadata", Path(d.metadata), None)]
            files += [("caption", Path(p), lang) for lang, p in sorted(d.captions.items())]
            if creds is not None:
                sign_deliverable(d.video, master, platform=name, width=d.width,
                                 height=d.height, reframed=d.crop is not None, creds=creds)
                _, html_path = write_report(
                    d.video, folder / f"{stem}.provenance.html", platform=name,
                    files={"master": Path(master).name, "thumbnail": thumb.name,
                           "metadata": Path(d.metadata).name,
                           **{f"captions ({lang})": Path(p).name
                              for lang, p in d.captions.items()}})
                files.append(("provenance", html_path, None))
            entries.append((name, files, meta.model_dump()))
        final = stage / "release"
        old = None
        if final.exists():
            old = stage / f".old-{os.getpid()}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    rel = Release(episode=ep, master=str(master), master_sha256=src.master_sha256,
                  root=str(final), approved_by=status.who, approved_at=status.when,
                  platforms=[PlatformRelease(
                      platform=name, metadata=meta,
                      files=[release_file(final, Path(str(p).replace(str(tmp), str(final))),
                                          role, lang) for role, p, lang in files])
                      for name, files, meta in entries])
    save_release(rel, final / "release.json")
    return rel


def publish_episode(project, episode: str, publisher: str = "folder", **options) -> Receipt:
    """Build the release (Gate C first) and publish it (``publish.publish``)."""
    proj = _project(project)
    rel = build_release(proj, episode, sign=options.pop("sign", True))
    return publish(proj, rel, publisher, **options)
