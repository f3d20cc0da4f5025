"""Validate surface edits exactly like files on disk, before anything is written.

A surface builds the candidate data (a dict), validates it through the pydantic model
(``yamlio.validate_data``, which yields file/line/field/hint problems) and the project's
cross-file checks (``Project.reference_problems`` on an in-memory copy), and only then
saves atomically. A failure shows a message beside the offending control; nothing is
written.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w

from studio_kit.errors import Problem, StudioError, ValidationFailed
from studio_kit.models import Character, Scene, Series
from studio_kit.project.series_folder import Project
from studio_kit.store.yamlio import changed_fields, validate_data

_KINDS: dict[str, tuple[type, str, str]] = {
    # kind -> (model, folder, Project attribute)
    "character": (Character, "characters", "characters"),
    "scene": (Scene, "scenes", "scenes"),
}


def target_path(project: Project, kind: str, obj_id: str) -> Path:
    if kind == "series":
        return project.root / "series.yaml"
    return project.root / _KINDS[kind][1] / f"{obj_id}.yaml"


def check(project: Project, kind: str, data: dict[str, Any]) -> Character | Scene | Series:
    """Validate candidate data for a character, scene or the series; raise ValidationFailed.

    Runs the schema and the cross-file checks that touch the edited object (e.g. an
    outfit a storyboard uses must still exist); nothing is written.
    """
    if kind == "series":
        return validate_data(Series, data, project.root / "series.yaml")
    model, _, attr = _KINDS[kind]
    path = target_path(project, kind, str(data.get("id", "?")))
    obj = validate_data(model, data, path)
    trial = dataclasses.replace(project, **{attr: {**getattr(project, attr), obj.id: obj}})
    problems = [p for p in trial.reference_problems()
                if obj.id in p.message or (p.file and Path(p.file).stem == obj.id)]
    if problems:
        raise ValidationFailed(f"{path}: breaks references", problems=problems)
    return obj


def save(project: Project, kind: str, data: dict[str, Any],
         on_merge: Callable[[list[str]], None] | None = None) -> Path:
    """Validate (``check``) then write through the project's save methods, which edit the
    file in place and merge changes made to it since the page loaded it (an overlapping
    change is refused with a StudioError naming the field). ``on_merge`` gets the fields
    taken from the file, so the surface can redraw its controls from the merged copy."""
    obj = check(project, kind, data)
    if kind == "character":
        path = project.save_character(obj)  # type: ignore[arg-type]
        now: Any = project.characters[obj.id]
    elif kind == "scene":
        path = project.save_scene(obj)  # type: ignore[arg-type]
        now = project.scenes[obj.id]
    else:
        path = project.save_series(obj)  # type: ignore[arg-type]
        now = project.series
    theirs = changed_fields(obj.model_dump(mode="json", exclude_none=True),
                            now.model_dump(mode="json", exclude_none=True))
    if theirs and on_merge:
        on_merge(theirs)
    return path


def merged_note(fields: list[str]) -> str:
    shown = ", ".join(fields[:4]) + (f" and {len(fields) - 4} more" if len(fields) > 4 else "")
    return f" (kept changes made elsewhere meanwhile: {shown})"


def _short(p: Problem) -> str:
    text = p.message
    if p.hint:
        text += f" ({p.hint})"
    return text


class Form:
    """Messages beside controls: ``form.field("wardrobe.outfits", control)`` returns a row
    with the control and an (initially empty) message; ``form.show(err)`` puts each problem
    beside the control whose field path is the longest prefix of the problem's field."""

    def __init__(self) -> None:
        self._messages: dict[str, w.HTML] = {}
        self.general = w.HTML("", layout=w.Layout(min_height="0"))
        self.general.add_class("studio-form-message")

    def message(self, path: str) -> w.HTML:
        if path not in self._messages:
            msg = w.HTML("")
            msg.add_class("studio-field-message")
            self._messages[path] = msg
        return self._messages[path]

    def field(self, path: str, control: w.Widget, label: str | None = None) -> w.HBox:
        parts: list[w.Widget] = []
        if label:
            parts.append(w.Label(label, layout=w.Layout(width="130px")))
        parts += [control, self.message(path)]
        return w.HBox(parts, layout=w.Layout(align_items="center"))

    def clear(self) -> None:
        for m in self._messages.values():
            m.value = ""
        self.general.value = ""

    def _target(self, field: str | None) -> w.HTML:
        if field:
            best = ""
            for path in self._messages:
                if (field == path or field.startswith(path + ".")) and len(path) > len(best):
                    best = path
            if best:
                return self._messages[best]
        return self.general

    def show(self, err: StudioError) -> dict[str, list[str]]:
        """Show every problem beside its control; returns {field path: messages}."""
        self.clear()
        shown: dict[str, list[str]] = {}
        for p in err.problems:
            target = self._target(p.field)
            key = next((k for k, v in self._messages.items() if v is target), "")
            shown.setdefault(key, []).append(_short(p))
        for key, msgs in shown.items():
            target = self._messages.get(key, self.general)
            target.value = ("<span class='studio-error' style='color:#b00020'>"
                            + html.escape("; ".join(msgs)) + "</span>")
        return shown

    def ok(self, text: str) -> None:
        self.clear()
        self.general.value = f"<span class='studio-ok' style='color:#1b5e20'>{html.escape(text)}</span>"


def guarded(form: Form, action: Callable[[], str | None]) -> bool:
    """Run ``action``; a StudioError is shown on the form (never raised into the page)."""
    try:
        text = action()
    except StudioError as err:
        form.show(err)
        return False
    if text:
        form.ok(text)
    return True
