"""Edit decisions (the Edit Suite's logic, no UI): trims, transitions, J/L offsets and
per-shot grades applied to a storyboard, validated before anything is written; the
re-render of what changed runs as a :class:`studio_kit.surfaces.render_job.RenderJob`.

Every edit works on a deep copy of the storyboard (``model_copy(deep=True)``), validates
the result as a whole (the same :class:`~studio_kit.models.Storyboard` validators the CLI's
``studio validate`` runs) and returns it; :func:`save` writes it with
``Project.save_storyboard`` (a round-trip merge: comments and hand edits elsewhere in the
file survive). A bad value raises :class:`EditError` naming the control's field, and nothing
is written.

A trim never changes a shot's generation request (``Shot.for_engine`` leaves trims and the
grade out of it): the grade stage cuts the take (``edit.grade.trim_filter``) and the audio
conform cuts the shot's sound by the same amounts (:func:`trim_spans`), so a re-render
after a trim re-runs grade[shot], assembly, conform and mux, and generates nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import StudioError
from ..models import Shot, ShotGrade, Storyboard, TransitionKind


class EditError(StudioError):
    """A rejected edit: ``field`` names the control (e.g. ``trim_in_s``, ``transition``)."""


def _invalid(exc: ValidationError, shot_id: str) -> EditError:
    errs = exc.errors()
    first = errs[0] if errs else {"msg": str(exc), "loc": ()}
    loc = [str(x) for x in first.get("loc", ())]
    msg = str(first.get("msg", "")).removeprefix("Value error, ")
    leaf = next((x for x in reversed(loc) if not x.isdigit()), "storyboard")
    if "trim" in msg and "leaves nothing" in msg:
        leaf = "trim"
    elif "lasts" in msg and "longer than its shots" in msg:
        leaf = "transition"
    elif "match_to" in msg:
        leaf = "match_to"
    return EditError(f"shot {shot_id}: {msg}" if shot_id not in msg else msg, field=leaf,
                     hint="nothing was saved; change the value and try again")


def _rebuilt(sb: Storyboard, shot_id: str) -> Storyboard:
    """Validate the edited copy as a whole (model validators re-run on the new data)."""
    try:
        return Storyboard.model_validate(sb.model_dump(mode="python", exclude_unset=False))
    except ValidationError as exc:
        raise _invalid(exc, shot_id) from None


def _edited(sb: Storyboard, shot_id: str, **updates: Any) -> Storyboard:
    """A deep copy of ``sb`` with ``updates`` applied to the shot (validated as a whole)."""
    new = sb.model_copy(deep=True)
    for act in new.acts:
        for i, shot in enumerate(act.shots):
            if shot.id == shot_id:
                data = shot.model_dump(mode="python")
                data.update(updates)
                try:
                    act.shots[i] = Shot.model_validate(data)
                except ValidationError as exc:
                    raise _invalid(exc, shot_id) from None
                return _rebuilt(new, shot_id)
    raise EditError(f"no shot {shot_id!r} in episode {sb.episode}", field="shot",
                    hint="pick a shot of this episode")


def trim_shot(sb: Storyboard, shot_id: str, trim_in_s: float, trim_out_s: float, *,
              take_s: float | None = None) -> Storyboard:
    """``shot_id`` trimmed: ``trim_in_s`` cut from the head of its take, ``trim_out_s`` from
    the tail. ``take_s``: the rendered take's length when known (a trim must leave part of
    it); else the storyboard duration is the bound."""
    for name, value in (("trim_in_s", trim_in_s), ("trim_out_s", trim_out_s)):
        if value is None or value != value or value < 0:
            raise EditError(f"shot {shot_id}: {name.replace('_s', '')} {value}s is negative",
                            field=name, hint="a trim is seconds cut off the take, 0 or more")
    if take_s is not None and trim_in_s + trim_out_s >= take_s:
        raise EditError(f"shot {shot_id}: trim in {trim_in_s:g}s + out {trim_out_s:g}s is "
                        f"longer than its {take_s:g}s take", field="trim",
                        hint="trim less; nothing was saved")
    return _edited(sb, shot_id, trim_in_s=float(trim_in_s), trim_out_s=float(trim_out_s))


def set_transition(sb: Storyboard, shot_id: str, kind: TransitionKind | str,
                   duration_s: float | None = None) -> Storyboard:
    """The transition from ``shot_id`` to what follows: its kind and length (None: the
    kind's default). For a J-cut or L-cut the length is the audio lead / trail."""
    try:
        kind = TransitionKind(kind)
    except ValueError:
        raise EditError(f"{kind!r} is not a transition", field="transition",
                        hint="one of " + ", ".join(k.value for k in TransitionKind)) from None
    if duration_s is not None and not 0 <= duration_s <= 5:
        raise EditError(f"shot {shot_id}: a {kind.value} of {duration_s:g}s", field="duration_s",
                        hint="transitions last 0 to 5 seconds")
    return _edited(sb, shot_id, transition={
        "kind": kind, "duration_s": None if duration_s is None else float(duration_s)})


def set_audio_offset(sb: Storyboard, shot_id: str, *, j_s: float = 0.0,
                     l_s: float = 0.0) -> Storyboard:
    """J/L offsets of the edit after ``shot_id``: ``j_s`` > 0 makes it a J-cut (the next
    shot's sound leads its picture by ``j_s``), ``l_s`` > 0 an L-cut (this shot's sound
    trails by ``l_s``); both 0 turn a J/L-cut back into a cut. One edit carries one kind."""
    if j_s < 0 or l_s < 0:
        raise EditError(f"shot {shot_id}: a negative J/L offset", field="j_s" if j_s < 0
                        else "l_s", hint="offsets are seconds of sound lead (J) or trail (L)")
    if j_s and l_s:
        raise EditError(f"shot {shot_id}: a J-cut and an L-cut on one edit", field="l_s",
                        hint="set one of them (the other to 0)")
    if j_s:
        return set_transition(sb, shot_id, TransitionKind.j_cut, j_s)
    if l_s:
        return set_transition(sb, shot_id, TransitionKind.l_cut, l_s)
    kind = sb.shot(shot_id).transition.kind
    if kind in (TransitionKind.j_cut, TransitionKind.l_cut):
        return set_transition(sb, shot_id, TransitionKind.cut, None)
    return sb.model_copy(deep=True)


def set_grade(sb: Storyboard, shot_id: str, grade: ShotGrade | dict[str, Any] | None
              ) -> Storyboard:
    """The shot's own grade (exposure, temperature, tint, saturation, match_to, LUT on/off);
    a neutral grade is stored as none (the file keeps no empty block)."""
    try:
        g = grade if isinstance(grade, ShotGrade) or grade is None else \
            ShotGrade.model_validate(grade)
    except ValidationError as exc:
        raise _invalid(exc, shot_id) from None
    if g is not None and g.match_to == shot_id:
        raise EditError(f"shot {shot_id}: cannot match its own look", field="match_to",
                        hint="pick another shot as the reference")
    return _edited(sb, shot_id, grade=None if g is None or g.is_neutral
                   else g.model_dump(mode="python"))


def save(project, storyboard: Storyboard) -> Path:
    """Write the edited storyboard (a copy made by the functions above) through
    ``Project.save_storyboard``: YAML comments and changes made on disk since load kept."""
    return project.save_storyboard(storyboard)


# -- what a change re-renders ----------------------------------------------------------------


def changed_shots(old: Storyboard, new: Storyboard) -> dict[str, list[str]]:
    """Shot id -> the edit fields that differ (trim, transition, grade, duration ...)."""
    out: dict[str, list[str]] = {}
    olds = {s.id: s.model_dump(mode="json") for s in old.shots}
    for s in new.shots:
        a, b = olds.get(s.id, {}), s.model_dump(mode="json")
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if diff:
            out[s.id] = diff
    return out


def trim_spans(spans: Sequence[Sequence[Any]], sb: Storyboard) -> list[list[Any]]:
    """The audio conform's (shot, start, end) spans with each shot's trim cut off, so the
    trimmed take's sound is cut like its picture (the span starts ``trim_in_s`` later and
    is placed where the picture's content starts)."""
    trims = {s.id: (s.trim_in_s, s.trim_out_s) for s in sb.shots}
    out = []
    for sid, a, b in spans:
        tin, tout = trims.get(sid, (0.0, 0.0))
        out.append([sid, a + tin, max(a + tin, b - tout)] if tin or tout else [sid, a, b])
    return out


def grade_stage_extras(shot: Shot, match_clip: str | None) -> dict[str, Any]:
    """Grade-stage cache inputs for the shot's edit fields; empty when none is set, so
    renders of shots without trims or grades keep their cache keys."""
    extra: dict[str, Any] = {}
    if shot.trim_in_s or shot.trim_out_s:
        extra["trim"] = [round(shot.trim_in_s, 6), round(shot.trim_out_s, 6)]
    if shot.grade is not None:
        extra["shot_grade"] = shot.grade.model_dump(mode="json")
    if match_clip:
        extra["match_clip"] = match_clip
    return extra


# -- before/after compare --------------------------------------------------------------------


def _middle_rgb(path: str | Path, width: int = 320):
    from .grade import sample_frames

    frames = sample_frames(path, samples=3, width=width)
    return frames[len(frames) // 2]


def grade_compare(project, storyboard: Storyboard, shot_id: str, *,
                  takes: dict[str, str | Path], look_path: str | Path | None = None,
                  width: int = 320):
    """(before, after) RGB frames of ``shot_id``'s take: its middle frame as generated and
    as the grade renders it with the storyboard's (possibly unsaved) grade: matched to its
    scene's first take (or ``match_to``'s take), its own controls, the series look when
    ``lut`` is on. ``takes``: shot id -> take file (the render's generated clips)."""
    from . import grade as g

    shot = storyboard.shot(shot_id)
    if shot_id not in takes:
        raise EditError(f"shot {shot_id} has no take yet", field="shot",
                        hint="render the episode first")
    adjust = shot.grade
    ref_id = adjust.match_to if adjust is not None and adjust.match_to else next(
        (s.id for s in storyboard.shots if s.scene == shot.scene and s.id in takes), shot_id)
    reference = g.measure_clip(takes[ref_id])
    before_stats = g.measure_clip(takes[shot_id])
    look = g.read_lut(look_path) if look_path else None
    lut = g.transfer_lut(before_stats, reference, look=look, adjust=adjust, size=17)
    before = _middle_rgb(takes[shot_id], width)
    return before, g.preview_frame(before, lut)


def takes_of(render_json: str | Path, vault) -> dict[str, Path]:
    """Shot id -> generated take file, from a render record (``render.json``)."""
    import json

    rec = json.loads(Path(render_json).read_text())
    out: dict[str, Path] = {}
    for s in rec.get("shots", []):
        if s.get("asset") and vault.has(s["asset"]):
            out[s["shot_id"]] = vault.get(s["asset"])
    return out
