"""Episode Bay logic (no UI): the storyboard as a timeline model, reorder / move-to-act and
per-shot edits (validated, saved through ``Project.save_storyboard``), pacing per act, shot
review (Gate B per shot), thumbnails and the episode player's sources.

Every edit works on a deep copy of the storyboard and returns it; shot ids never change.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StudioError, ValidationFailed
from ..models.storyboard import Act, ActKind, Storyboard, TransitionKind
from ..project.series_folder import Project
from ..store.yamlio import atomic_write_bytes, plain_data, validate_data

#: an act whose average shot length is this far off its target is flagged
DRIFT_TOLERANCE = 0.25
THUMB_W, THUMB_H = 96, 54


# -- the timeline model ----------------------------------------------------------------------
@dataclass
class TimelineShot:
    id: str
    act: str
    index: int  # position in the episode
    start_s: float
    duration_s: float
    scene: str
    characters: list[str]
    dialogue: list[tuple[str, str]]  # (character, text)
    transition: str  # to the next shot
    transition_s: float
    state: str = "open"  # Gate B state of the current take
    take: str | None = None  # asset hash of the current take

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass
class TimelineAct:
    id: str
    title: str
    kind: str
    start_s: float
    end_s: float
    shots: list[str]


@dataclass
class Overlap:
    """A J/L-cut: the sound of one shot over the picture of its neighbour."""

    kind: str  # j_cut / l_cut
    from_shot: str
    to_shot: str
    start_s: float
    end_s: float


@dataclass
class Timeline:
    episode: str
    shots: list[TimelineShot]
    acts: list[TimelineAct]
    transitions: list[tuple[float, str, float, str, str]] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.shots[-1].end_s if self.shots else 0.0


def timeline_model(sb: Storyboard, states: dict[str, str] | None = None,
                   takes: dict[str, str] | None = None) -> Timeline:
    """Shots end to end on the storyboard's clock (durations as written), act spans, each
    transition at its edit point (time, kind, seconds, from, to) and J/L overlaps."""
    states, takes = states or {}, takes or {}
    shots: list[TimelineShot] = []
    acts: list[TimelineAct] = []
    t = 0.0
    for act in sb.acts:
        a0 = t
        for s in act.shots:
            shots.append(TimelineShot(
                id=s.id, act=act.id, index=len(shots), start_s=t, duration_s=s.duration_s,
                scene=s.scene, characters=s.character_ids,
                dialogue=[(d.character, d.text) for d in s.dialogue],
                transition=s.transition.kind.value, transition_s=s.transition.seconds,
                state=states.get(s.id, "open"), take=takes.get(s.id)))
            t += s.duration_s
        acts.append(TimelineAct(act.id, act.title or act.id, act.kind.value, a0, t,
                                [s.id for s in act.shots]))
    tl = Timeline(sb.episode, shots, acts)
    for a, b in zip(shots, shots[1:], strict=False):
        tl.transitions.append((a.end_s, a.transition, a.transition_s, a.id, b.id))
        secs = min(a.transition_s, a.duration_s, b.duration_s)
        if a.transition == TransitionKind.j_cut.value:  # b's sound leads under a's picture
            tl.overlaps.append(Overlap("j_cut", b.id, a.id, a.end_s - secs, a.end_s))
        elif a.transition == TransitionKind.l_cut.value:  # a's sound trails under b
            tl.overlaps.append(Overlap("l_cut", a.id, b.id, a.end_s, a.end_s + secs))
    return tl


# -- edits -----------------------------------------------------------------------------------
def _locate(sb: Storyboard, shot_id: str) -> tuple[int, int]:
    for ai, act in enumerate(sb.acts):
        for si, s in enumerate(act.shots):
            if s.id == shot_id:
                return ai, si
    raise StudioError(f"no shot {shot_id!r} in episode {sb.episode}", field="shot",
                      hint=f"shots: {', '.join(s.id for s in sb.shots[:12])}")


def move_shot(sb: Storyboard, shot_id: str, *, act: str | None = None,
              index: int | None = None) -> Storyboard:
    """A copy of ``sb`` with the shot moved to position ``index`` of act ``act`` (default:
    its own act; index default: the end of that act). Ids are kept."""
    new = sb.model_copy(deep=True)
    ai, si = _locate(new, shot_id)
    if act is None:
        ti = ai
    else:
        ids = [a.id for a in new.acts]
        if act not in ids:
            raise StudioError(f"no act {act!r} in episode {sb.episode}", field="act",
                              hint=f"acts: {', '.join(ids)}")
        ti = ids.index(act)
    shot = new.acts[ai].shots.pop(si)
    target = new.acts[ti].shots
    pos = len(target) if index is None else max(0, min(index, len(target)))
    target.insert(pos, shot)
    return new


def step_shot(sb: Storyboard, shot_id: str, delta: int) -> Storyboard:
    """Move a shot ``delta`` places along the episode (crossing act boundaries: a shot at
    the start of an act moved left joins the end of the previous act)."""
    ai, si = _locate(sb, shot_id)
    if delta < 0:
        if si > 0:
            return move_shot(sb, shot_id, index=si - 1)
        prev = next((i for i in range(ai - 1, -1, -1)), None)
        if prev is None:
            return sb.model_copy(deep=True)
        return move_shot(sb, shot_id, act=sb.acts[prev].id)
    if si < len(sb.acts[ai].shots) - 1:
        return move_shot(sb, shot_id, index=si + 1)
    if ai + 1 >= len(sb.acts):
        return sb.model_copy(deep=True)
    return move_shot(sb, shot_id, act=sb.acts[ai + 1].id, index=0)


def update_shot(sb: Storyboard, shot_id: str, changes: dict[str, Any],
                path: Path | None = None) -> Storyboard:
    """A copy of ``sb`` with the shot's fields replaced by ``changes`` (plain data, e.g.
    ``{"camera": {"angle": "close_up"}}`` merged one level deep), validated as the whole
    storyboard file would be: a ``ValidationFailed`` names ``acts.N.shots.M.field``."""
    data = plain_data(sb)
    ai, si = _locate(sb, shot_id)
    shot = data["acts"][ai]["shots"][si]
    for k, v in changes.items():
        if k == "id" and v != shot_id:
            raise StudioError("a shot's id cannot change here", field="id",
                              hint="ids are stable: renders, reviews and the ledger use them")
        if isinstance(v, dict) and isinstance(shot.get(k), dict):
            merged = {**shot[k], **v}
            if k == "camera" and isinstance(v.get("movement"), dict):
                merged["movement"] = {**shot[k].get("movement", {}), **v["movement"]}
            shot[k] = merged
        else:
            shot[k] = v
    return validate_data(Storyboard, data, path or Path(f"episodes/{sb.episode}/storyboard.yaml"))


def shot_field_loc(problem_field: str | None) -> str:
    """``acts.1.shots.0.camera.movement.direction`` -> ``camera.movement.direction``."""
    parts = (problem_field or "").split(".")
    return ".".join(parts[4:]) if len(parts) > 4 and parts[0] == "acts" else (problem_field
                                                                                or "")


def check_references(project: Project, sb: Storyboard) -> None:
    """The project's cross-file checks on ``sb`` (unknown scene, character, outfit...)."""
    import dataclasses

    from ..project.series_folder import Episode

    ep = project.episode(sb.episode)
    trial = dataclasses.replace(project, episodes={
        **project.episodes, ep.id: Episode(ep.id, ep.folder, sb, ep.lines)})
    problems = [p for p in trial.reference_problems()
                if p.file and Path(p.file).resolve() == ep.storyboard_path.resolve()]
    if problems:
        raise ValidationFailed(f"{ep.storyboard_path}: breaks references", problems=problems)


def save(project: Project, sb: Storyboard) -> Path:
    """Validate references, then save (in place, comments kept, merged with disk changes).
    A pure reorder / move-to-act moves the shots' own lines in the file (``move_in_text``:
    each shot keeps its comments and layout, milliseconds on a 200-shot file); anything
    else goes through ``Project.save_storyboard``."""
    check_references(project, sb)
    path = move_in_text(project, sb)
    return path if path is not None else project.save_storyboard(sb)


def _only_moved(old: dict[str, Any], new: dict[str, Any]) -> bool:
    def frame(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "acts": [{k: v for k, v in a.items() if k != "shots"}
                              for a in d.get("acts", [])]}

    def by_id(d: dict[str, Any]) -> dict[str, Any]:
        return {s["id"]: s for a in d.get("acts", []) for s in a.get("shots", [])}

    return frame(old) == frame(new) and by_id(old) == by_id(new)


def move_in_text(project: Project, sb: Storyboard) -> Path | None:
    """Save a storyboard that differs from the loaded one only in the order / acts of its
    shots by moving each shot's block of lines (with the comment lines just above it) in the
    file. Returns None - nothing written - whenever that does not apply (other edits, the
    file changed on disk since it was loaded, a layout it cannot cut safely); the result is
    parsed and validated against ``sb`` before it replaces the file atomically."""
    import yaml

    from ..store.yamlio import _folder_lock, atomic_write_text

    ep = project.episodes.get(sb.episode)
    if ep is None or ep.storyboard is None or ep.storyboard is sb:
        return None
    old, new = plain_data(ep.storyboard), plain_data(sb)
    if old == new or not _only_moved(old, new):
        return None
    path = ep.storyboard_path
    with _folder_lock(path.parent):
        try:
            text = path.read_text(encoding="utf-8")
            digest = hashlib.sha256(text.encode()).hexdigest()
            seen = _SEEN_TEXT.get(path)
            if seen is not None and seen[0] == digest:
                disk, lines = seen[1], seen[2]  # the text this module last wrote
            else:
                data, lines = _parse(text)
                disk = plain_data(validate_data(Storyboard, data, path, lines))
            if disk != old:
                return None  # changed on disk: the merging save handles it
        except (StudioError, OSError, UnicodeDecodeError, yaml.YAMLError):
            return None
        if text.startswith("\ufeff") or not text.endswith("\n"):
            return None
        rows = text.splitlines(keepends=True)
        acts = old["acts"]
        bounds: set[int] = {len(rows)}
        for key, line in lines.items():  # every structural line: keys, act and shot items
            if len(key) <= 2 or (len(key) == 3 and key[0] == "acts") or (
                    len(key) == 4 and key[2] == "shots"):
                bounds.add(line - 1)
        starts: dict[str, int] = {}
        indent: set[int] = set()
        for ai, act in enumerate(acts):
            for si, shot in enumerate(act.get("shots", [])):
                i = lines.get(("acts", ai, "shots", si), 0) - 1
                if i < 0 or not rows[i].lstrip().startswith("- "):
                    return None
                starts[shot["id"]] = i
                indent.add(len(rows[i]) - len(rows[i].lstrip()))
        if len(indent) > 1:
            return None

        def is_note(row: str) -> bool:
            return not row.strip() or row.lstrip().startswith("#")

        body: dict[str, list[str]] = {}
        lead: dict[str, list[str]] = {}
        regions: list[tuple[int, int, list[str]] | None] = []  # per act: start, end, tail
        for act in acts:
            ids = [s["id"] for s in act.get("shots", [])]
            if not ids:
                regions.append(None)
                continue
            tail: list[str] = []
            first = starts[ids[0]]
            top = first  # comment lines just above an act's first shot travel with it
            while top > 0 and rows[top - 1].lstrip().startswith("#") and (top - 1) not in bounds:
                top -= 1
            lead[ids[0]] = rows[top:first]
            for k, sid in enumerate(ids):
                i = starts[sid]
                end = min(b for b in bounds if b > i)
                block = rows[i:end]
                trail: list[str] = []
                while len(block) > 1 and is_note(block[-1]):
                    trail.insert(0, block.pop())
                body[sid] = block
                lead.setdefault(sid, [])
                if k + 1 < len(ids):
                    lead[ids[k + 1]] = trail
                else:
                    tail = trail
            last = ids[-1]
            regions.append((top, starts[last] + len(body[last]) + len(tail), tail))
        out: list[str] = []
        pos = 0
        for ai, region in enumerate(regions):
            new_ids = [s["id"] for s in new["acts"][ai].get("shots", [])]
            if region is None:
                if new_ids:
                    return None  # an act with no shot lines to put them beside
                continue
            a, b, tail = region
            out += rows[pos:a]
            if not new_ids:  # the act's last shot moved out: ``shots: []``
                key = lines.get(("acts", ai, "shots"), 0) - 1
                if not pos <= key < a or rows[key].strip() != "shots:":
                    return None
                idx = len(out) - (a - key)
                out[idx] = out[idx].rstrip() + " []\n"
            for sid in new_ids:  # each shot with the comment lines just above it
                out += lead[sid] + body[sid]
            out += tail
            pos = b
        out += rows[pos:]
        result = "".join(out)
        try:
            data, new_lines = _parse(result)
            check = validate_data(Storyboard, data, path, new_lines)
        except (StudioError, yaml.YAMLError):
            return None
        if plain_data(check) != new:
            return None
        atomic_write_text(path, result)
        _SEEN_TEXT[path] = (hashlib.sha256(result.encode()).hexdigest(), new, new_lines)
    ep.storyboard = check
    ep.lines = new_lines
    return path


#: storyboard file -> (sha256 of the text this module wrote, its plain data, its line map):
#: the next move checks the file is unchanged by hash instead of parsing it again
_SEEN_TEXT: dict[Path, tuple[str, dict[str, Any], dict]] = {}


def _parse(text: str) -> tuple[Any, dict]:
    """YAML text -> (data, line map), one parse (as ``yamlio.load_yaml`` does for files)."""
    from ..store.yamlio import _LOADER, _line_map, _refuse_aliases

    _refuse_aliases(text, Path("storyboard.yaml"))
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    lines: dict = {}
    if node is not None:
        _line_map(node, (), lines)
    return data, lines


# -- pacing ----------------------------------------------------------------------------------
@dataclass
class ActPacing:
    act: str
    title: str
    kind: str
    shots: int
    duration_s: float
    avg_shot_s: float
    target_avg_shot_s: float | None
    drift: float | None  # (actual - target) / target
    warning: str | None


def pacing(sb: Storyboard, tolerance: float = DRIFT_TOLERANCE) -> list[ActPacing]:
    """Actual vs target average shot length per act; a warning when off by > tolerance.
    The cold open and the end hook are acts of kind ``cold_open`` / ``hook``; an act with
    no target inherits ``Storyboard.target_avg_shot_s`` (if set)."""
    default = getattr(sb, "target_avg_shot_s", None)
    out = []
    for act in sb.acts:
        n = len(act.shots)
        dur = sum(s.duration_s for s in act.shots)
        avg = dur / n if n else 0.0
        target = act.target_avg_shot_s or default
        drift = warning = None
        if target and n:
            drift = (avg - target) / target
            if abs(drift) > tolerance:
                word = "slower" if drift > 0 else "faster"
                warning = (f"{act.title or act.id}: average shot {avg:.1f} s vs target "
                           f"{target:.1f} s ({abs(drift):.0%} {word})")
        limit = getattr(act, "max_duration_s", None)
        if limit and dur > limit:
            what = {ActKind.cold_open: "cold open", ActKind.hook: "end hook"}.get(act.kind,
                                                                                  "act")
            warning = ((warning + "; ") if warning else "") + (
                f"{what} runs {dur:.1f} s, longer than its {limit:.1f} s")
        out.append(ActPacing(act.id, act.title or act.id, act.kind.value, n, dur, avg, target,
                             drift, warning))
    return out


def set_pacing(sb: Storyboard, act_id: str, target_avg_shot_s: float | None,
               max_duration_s: float | None = None) -> Storyboard:
    new = sb.model_copy(deep=True)
    act: Act | None = next((a for a in new.acts if a.id == act_id), None)
    if act is None:
        raise StudioError(f"no act {act_id!r}", field="act",
                          hint=f"acts: {', '.join(a.id for a in new.acts)}")
    if target_avg_shot_s is not None and target_avg_shot_s <= 0:
        raise StudioError("a target average shot length must be above 0 s",
                          field="target_avg_shot_s", hint="e.g. 3.5")
    if max_duration_s is not None and max_duration_s <= 0:
        raise StudioError("an act's longest duration must be above 0 s",
                          field="max_duration_s", hint="e.g. 20 for a cold open")
    act.target_avg_shot_s = target_avg_shot_s
    act.max_duration_s = max_duration_s
    return new


# -- takes, review, thumbnails ---------------------------------------------------------------
@dataclass
class ShotReview:
    shot: str
    state: str
    take: str | None
    take_path: Path | None
    who: str | None
    why: str | None
    when: str | None
    scores: list[dict[str, Any]]
    failures: list[str]
    references: list[Path]  # bible reference images it was checked against
    scene_frame: bytes | None = None  # the scene's reference frame (PNG)


def gate_states(project: Project, episode: str) -> tuple[dict[str, str], dict[str, str]]:
    """(shot id -> Gate B state, shot id -> current take asset)."""
    from ..production.gates import episode_gates

    g = episode_gates(project.ledger(), project, episode)
    return {s.subject: s.state.value for s in g.shots}, dict(g.takes)


def shot_review(project: Project, episode: str, shot_id: str) -> ShotReview:
    from ..production.gates import current_takes, shot_status
    from ..qc.plots import scores_table

    led = project.ledger()
    ep = project.storyboard(episode).episode
    take = current_takes(led, ep).get(shot_id)
    st = shot_status(led, ep, shot_id, take)
    rows = [r for r in scores_table(led, ep) if r["shot_id"] == shot_id]
    failures = [f"{r['metric']} {r['score']:.2f} < {r['threshold']:.2f}" for r in rows
                if r["passed"] is not None and not r["passed"]]
    path = None
    if take:
        p = project.vault().path(take)
        path = p if p.is_file() else None
    refs: list[Path] = []
    scene_frame = None
    try:
        spec = project.resolve_shot(ep, shot_id)
        scene_frame = _scene_frame(project, spec.scene.id)
        for rc in spec.characters:
            for img in getattr(rc.character, "reference_images", []) or []:
                try:
                    refs.append(project.file(str(img)))
                except StudioError:
                    pass
    except StudioError:
        pass
    return ShotReview(shot_id, st.state.value, take, path, st.who, st.why, st.when, rows,
                      failures, refs, scene_frame)


_SCENE_FRAMES: dict[tuple[str, str], bytes] = {}


def _scene_frame(project: Project, scene_id: str) -> bytes | None:
    """The scene drawn alone by the embedded engine (what QC's scene checks compare to)."""
    from ..engines.base import RenderFormat
    from ..engines.local.preview import preview_png
    from ..store.hashing import stable_hash

    scene = project.scenes.get(scene_id)
    if scene is None:
        return None
    key = (scene_id, stable_hash(scene))
    if key not in _SCENE_FRAMES:
        _SCENE_FRAMES[key] = preview_png(scene, format=RenderFormat(
            width=THUMB_W * 2, height=THUMB_H * 2, fps=24.0))
    return _SCENE_FRAMES[key]


def review(project: Project, episode: str, shot_id: str, action: str, *, who: str,
           why: str = ""):
    """approve / reject / regenerate (= a rejection with its note; the next render makes a
    new take) the shot's current take at Gate B."""
    from ..production.gates import GateError, current_takes, review_shot

    if action not in ("approve", "reject", "regenerate"):
        raise StudioError(f"unknown review action {action!r}", field="action",
                          hint="approve, reject or regenerate")
    led = project.ledger()
    ep = project.storyboard(episode).episode
    take = current_takes(led, ep).get(shot_id)
    if not take:
        raise GateError(f"shot {shot_id} has no take to review yet", field="shot",
                        hint="render the episode first")
    if action == "regenerate":
        why = f"regenerate: {why}" if why.strip() else ""
    return review_shot(led, ep, shot_id, approve=action == "approve", who=who, why=why,
                       asset=take)


def _middle_frame_png(video: Path, width: int = THUMB_W) -> bytes:
    """The take's middle frame as a PNG ``width`` pixels wide (PyAV: decoded, not guessed)."""
    import io

    import av

    try:
        with av.open(str(video)) as c:
            stream = c.streams.video[0]
            dur = float(c.duration / av.time_base) if c.duration else 0.0
            frames = list(c.decode(stream)) if dur <= 0 else []
            if frames:
                img = frames[len(frames) // 2].to_image()
            else:
                target = dur / 2
                img = None
                for frame in c.decode(stream):
                    img = frame.to_image()
                    if frame.time is not None and frame.time >= target:
                        break
                if img is None:
                    raise ValueError("no frames")
    except (av.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise StudioError(f"cannot decode a frame of {video}: {exc}", file=video,
                          hint="the take is damaged; regenerate it") from None
    h = max(2, round(img.height * width / img.width))
    buf = io.BytesIO()
    img.resize((width, h)).save(buf, format="PNG")
    return buf.getvalue()


def thumbnails(project: Project, episode: str, takes: dict[str, str] | None = None,
               ) -> dict[str, bytes]:
    """Shot id -> PNG: the current take's middle frame (cached in ``.studio/thumbs``), else
    the scene preview (one per scene, small)."""
    sb = project.storyboard(episode)
    takes = takes if takes is not None else gate_states(project, episode)[1]
    cache = project.studio_dir / "thumbs"
    vault = project.vault()
    out: dict[str, bytes] = {}
    for s in sb.shots:
        asset = takes.get(s.id)
        if asset:
            hit = cache / f"{asset}-{THUMB_W}.png"
            if hit.is_file():
                out[s.id] = hit.read_bytes()
                continue
            p = vault.path(asset)
            if p.is_file():
                try:
                    png = _middle_frame_png(p)
                    atomic_write_bytes(hit, png)
                    out[s.id] = png
                    continue
                except StudioError:
                    pass
        png = _scene_frame(project, s.scene)
        if png is not None:
            out[s.id] = png
    return out


# -- the player ------------------------------------------------------------------------------
@dataclass
class PlayerSources:
    master: Path | None
    captions: dict[str, Path]  # language -> WebVTT
    audio: dict[str, str]  # track name -> file
    record_times: dict[str, float]  # shot id -> start on the master's clock
    #: the master's audio streams in order (language, e.g. eng original then fra dub)
    audio_tracks: list[str] = field(default_factory=list)


def master_audio_tracks(master: Path) -> list[str]:
    """The language of each audio stream of the master, in stream order (the first is the
    original; a stream without a language is ``track N``)."""
    from ..edit.probe import probe

    return [st.language or f"track {n + 1}"
            for n, st in enumerate(probe(master, packets=False).of_type("audio"))]


def master_with_audio(project: Project, master: Path, track: int) -> Path:
    """The master with only its audio stream ``track`` (the video and that sound copied, no
    re-encode; the page's captions are the WebVTT sidecars), cached under
    ``.studio/player``: a browser plays the first audio stream of a file, so switching the
    sound in the page is switching files."""
    from ..edit.frames import run_ffmpeg

    tracks = master_audio_tracks(master)
    if not 0 <= track < len(tracks):
        raise StudioError(f"the master has no audio track {track}", file=master,
                          field="audio track", hint=f"tracks: {', '.join(tracks) or 'none'}")
    if track == 0 and len(tracks) == 1:
        return master
    st = master.stat()
    key = hashlib.sha256(f"{master.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
                         ).hexdigest()[:16]
    dst = project.studio_dir / "player" / f"{key}-a{track}.mp4"
    if not dst.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.stem + ".tmp.mp4")
        run_ffmpeg(["-i", str(master), "-map", "0:v:0", "-map", f"0:a:{track}",
                    "-c", "copy", "-movflags", "+faststart", str(tmp)],
                   what=f"take audio track {track} of the master", file=master)
        tmp.replace(dst)
    return dst


def player_sources(project: Project, episode: str) -> PlayerSources:
    from ..production.gates import latest_render

    rec = latest_render(project.ledger(), project.storyboard(episode).episode) or {}
    master = Path(rec["master"]) if rec.get("master") else None
    if master is not None and not master.is_file():
        master = None
    caps = {lang: Path(f["vtt"]) for lang, f in (rec.get("captions") or {}).items()
            if isinstance(f, dict) and f.get("vtt") and Path(f["vtt"]).is_file()}
    audio = {"mix": rec["mix"]} if rec.get("mix") else {}
    times = {s["shot_id"]: float(s.get("start_s", 0.0)) for s in rec.get("shots", [])
             if isinstance(s, dict) and "shot_id" in s}
    tracks: list[str] = []
    if master is not None:
        try:
            tracks = master_audio_tracks(master)
        except (StudioError, OSError):
            tracks = []
    return PlayerSources(master, caps, audio, times, tracks)


def data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
