"""Talent roster: the character bible editor (traits, reference images, wardrobe, voice,
consistency history)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import ipywidgets as w

from studio_kit.errors import StudioError
from studio_kit.project.series_folder import Project
from studio_kit.store.yamlio import atomic_write_bytes

from . import validation
from .common import header, open_project, table
from .voice_preview import VoicePreview
from .wardrobe_editor import WardrobeEditor

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".webp"}


def consistency_history(project: Project, character_id: str, limit: int = 50) -> list[dict]:
    """QC scores recorded for shots the character appears in (newest first)."""
    shots = {s.id for ep in project.episodes.values() if ep.storyboard
             for s in ep.storyboard.shots if character_id in s.character_ids}
    if not shots or not (project.studio_dir / "ledger.sqlite").exists():
        return []
    ledger = project.ledger()
    try:
        marks = ",".join("?" * len(shots))
        rows = ledger.query(
            f"SELECT created_at, episode, shot_id, scorer, score, threshold, passed "
            f"FROM qc_scores WHERE shot_id IN ({marks}) ORDER BY id DESC LIMIT ?",
            (*sorted(shots), limit))
    finally:
        ledger.close()
    for r in rows:
        r["passed"] = "yes" if r["passed"] else "NO"
        r["score"] = f"{r['score']:.3f}"
    return rows


def add_reference_image(project: Project, character_id: str, filename: str,
                        content: bytes) -> Path:
    """Store an uploaded image under characters/<id>/ and list it in the bible (validated)."""
    ext = Path(filename).suffix.lower()
    if ext not in _IMAGE_EXT:
        raise StudioError(f"{filename!r} is not an image", field="reference_images",
                          hint=f"upload one of {', '.join(sorted(_IMAGE_EXT))}")
    import io

    from PIL import Image, UnidentifiedImageError
    try:
        Image.open(io.BytesIO(content)).verify()
    except (UnidentifiedImageError, OSError):
        raise StudioError(f"{filename!r} cannot be read as an image",
                          field="reference_images", hint="upload a PNG or JPEG file") from None
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name)
    rel = f"characters/{character_id}/{safe}"
    data = project.characters[character_id].model_dump(mode="json", exclude_none=True)
    if rel not in data["reference_images"]:
        data["reference_images"].append(rel)
    validation.check(project, "character", {**data, "reference_images": [
        r for r in data["reference_images"] if r != rel]})  # schema first, then write both
    atomic_write_bytes(project.root / rel, content)
    return validation.save(project, "character", data)


def remove_reference_image(project: Project, character_id: str, rel: str) -> Path:
    """Take an image off the character's bible (validated). The file itself stays where it
    is (nothing a user made is deleted); remove it by hand if it is no longer wanted."""
    data = project.characters[character_id].model_dump(mode="json", exclude_none=True)
    if rel not in data["reference_images"]:
        raise StudioError(f"{rel!r} is not a reference image of {character_id}",
                          file=project.root / "characters" / f"{character_id}.yaml",
                          field="reference_images", hint="reload the roster")
    data["reference_images"] = [r for r in data["reference_images"] if r != rel]
    return validation.save(project, "character", data)


class TalentRoster(w.VBox):
    def __init__(self, project: Project | str | Path | None = None,
                 character_id: str | None = None) -> None:
        self.project = project if isinstance(project, Project) else open_project(project)
        ids = sorted(self.project.characters)
        labels = [(f"{self.project.characters[c].name} ({c})", c) for c in ids]
        self.select = w.Dropdown(options=labels, value=character_id or (ids[0] if ids else None),
                                 description="Character")
        self.select.add_class("studio-character")
        self.body = w.VBox([])
        self.select.observe(lambda ch: self.show(ch["new"]), names="value")
        super().__init__([w.HTML(header("Talent roster", self.project.series.title)),
                          self.select, self.body])
        self.add_class("studio-talent-roster")
        if self.select.value:
            self.show(self.select.value)

    def show(self, cid: str) -> None:
        ch = self.project.characters[cid]
        self.form = validation.Form()
        f = self.form
        self.name_text = w.Text(value=ch.name, description="Name")
        self.description_text = w.Textarea(value=ch.description, description="About",
                                      layout=w.Layout(width="520px"))
        self.traits_text = w.Text(value=", ".join(ch.traits), description="Traits",
                             layout=w.Layout(width="520px"))
        self._shown = self._details()
        save_details = w.Button(description="Save details")
        save_details.on_click(lambda _b: self.save_details())
        self.upload = w.FileUpload(accept="image/*", multiple=True,
                                   description="Add reference image")
        self.upload.observe(lambda _c: self.upload_images(), names="value")
        self.gallery = w.HBox([])
        self._gallery()
        self.wardrobe = WardrobeEditor(self.project, cid, form=f)
        self.voice = VoicePreview(self.project, cid, form=f)
        history = consistency_history(self.project, cid)
        hist = w.HTML(table(history) if history else
                      "<i>No consistency checks recorded for this character yet "
                      "(they appear after a render's QC stage).</i>")
        tabs = w.Tab([
            w.VBox([f.field("name", self.name_text), f.field("description", self.description_text),
                    f.field("traits", self.traits_text), save_details]),
            w.VBox([f.field("reference_images", self.upload), self.gallery]),
            self.wardrobe, self.voice, hist])
        for i, title in enumerate(["Profile", "Reference images", "Wardrobe", "Voice",
                                   "Consistency"]):
            tabs.set_title(i, title)
        self.tabs = tabs
        self.body.children = [tabs, f.general]

    def _gallery(self) -> None:
        ch = self.project.characters[self.select.value]
        items = []
        for rel in ch.reference_images:
            p = self.project.root / rel
            remove = w.Button(description="Remove", tooltip=f"take {rel} off the bible "
                              "(the file is kept)", layout=w.Layout(width="120px"))
            remove.add_class("studio-remove-reference")
            remove.on_click(lambda _b, rel=rel: self.remove_image(rel))
            picture = (w.Image(value=p.read_bytes(), width=120) if p.is_file() else
                       w.HTML("<i>file missing</i>"))
            items.append(w.VBox([picture, w.HTML(f"<small>{html.escape(p.name)}</small>"),
                                 remove]))
        self.gallery.children = items or [w.HTML("<i>No reference images yet.</i>")]

    def remove_image(self, rel: str) -> bool:
        def act() -> str:
            remove_reference_image(self.project, self.select.value, rel)
            self._gallery()
            return f"removed {Path(rel).name} from the bible (the file is kept)"

        return validation.guarded(self.form, act)

    def _details(self) -> dict[str, Any]:
        return {"name": self.name_text.value, "description": self.description_text.value,
                "traits": [t.strip() for t in self.traits_text.value.split(",") if t.strip()]}

    def details_candidate(self) -> dict[str, Any]:
        """The project's copy with the profile fields the user changed on this page (a field
        left alone is not sent, so it cannot revert a change saved elsewhere)."""
        data = self.project.characters[self.select.value].model_dump(mode="json",
                                                                    exclude_none=True)
        shown = getattr(self, "_shown", {})
        for k, v in self._details().items():
            if shown.get(k) != v:
                data[k] = v
        return data

    def save_details(self) -> bool:
        def act() -> str:
            merged: list[str] = []
            path = validation.save(self.project, "character", self.details_candidate(),
                                   on_merge=merged.extend)
            if merged:  # the controls show the merged character, so a next save keeps it
                ch = self.project.characters[self.select.value]
                self.name_text.value, self.description_text.value = ch.name, ch.description
                self.traits_text.value = ", ".join(ch.traits)
                self.wardrobe.reload()
            self._shown = self._details()
            return f"saved {path.name}" + (validation.merged_note(merged) if merged else "")

        return validation.guarded(self.form, act)

    def upload_images(self) -> None:
        files = list(self.upload.value)
        if not files:
            return

        def act() -> str:
            for f in files:
                add_reference_image(self.project, self.select.value, f["name"],
                                    bytes(f["content"]))
            self._gallery()
            return f"added {len(files)} image(s)"

        validation.guarded(self.form, act)
