"""Wardrobe editor: a character's outfits and garments, validated before each save."""

from __future__ import annotations

import copy
from typing import Any

import ipywidgets as w

from studio_kit.models import GarmentKind

from . import validation


class GarmentRow(w.HBox):
    def __init__(self, index: int, name: str, kind: str, colour: str, on_remove) -> None:
        self.index = index
        self.name = w.Text(value=name, placeholder="name", layout=w.Layout(width="170px"))
        self.name.add_class(f"garment-name-{index}")
        self.kind = w.Dropdown(options=[k.value for k in GarmentKind], value=kind,
                               layout=w.Layout(width="110px"))
        self.colour = w.Text(value=colour, placeholder="#rrggbb", layout=w.Layout(width="90px"))
        self.colour.add_class(f"garment-colour-{index}")
        self.swatch = w.HTML()
        self.remove = w.Button(tooltip="remove garment",
                               layout=w.Layout(width="36px"))
        self.remove.on_click(lambda _b: on_remove(self))
        self.colour.observe(lambda _c: self._paint(), names="value")
        self._paint()
        super().__init__([self.name, self.kind, self.colour, self.swatch, self.remove])

    def _paint(self) -> None:
        c = self.colour.value if len(self.colour.value) == 7 else "#ffffff"
        self.swatch.value = (f"<div style='width:22px;height:22px;border:1px solid #999;"
                             f"background:{c}'></div>")

    def data(self) -> dict[str, Any]:
        return {"name": self.name.value, "kind": self.kind.value,
                "colours": [c.strip() for c in self.colour.value.split(",")]}


class WardrobeEditor(w.VBox):
    """Pick an outfit, edit its garments (name, kind, colour), add/remove, Save."""

    def __init__(self, project: Any, character_id: str, form: validation.Form | None = None,
                 on_saved=None) -> None:
        self.project = project
        self.character_id = character_id
        self.form = form or validation.Form()
        self.on_saved = on_saved
        ch = project.characters[character_id]
        self.outfits: dict[str, list[dict[str, Any]]] = {
            oid: [g.model_dump(mode="json") for g in o.garments]
            for oid, o in ch.wardrobe.outfits.items()}
        self._shown = copy.deepcopy(self.outfits)
        self.outfit = w.Dropdown(options=sorted(self.outfits), value=ch.wardrobe.default,
                                 description="Outfit")
        self.outfit.add_class("studio-outfit")
        self.rows_box = w.VBox([])
        self.rows: list[GarmentRow] = []
        self.add_button = w.Button(description="Add garment")
        self.save_button = w.Button(description="Save wardrobe", button_style="primary")
        self.save_button.add_class("studio-save-wardrobe")
        self._current = self.outfit.value
        self.outfit.observe(self._switch, names="value")
        self.add_button.on_click(lambda _b: self._add())
        self.save_button.on_click(lambda _b: self.save())
        self._show_rows()
        super().__init__([
            self.outfit,
            self.form.field(f"wardrobe.outfits.{self._current}", self.rows_box),
            w.HBox([self.add_button, self.save_button]),
        ])
        self.add_class("studio-wardrobe")

    def _show_rows(self) -> None:
        self.rows = [GarmentRow(i, g["name"], g["kind"], ", ".join(g["colours"]), self._remove)
                     for i, g in enumerate(self.outfits[self._current])]
        self.rows_box.children = self.rows

    def _collect(self) -> None:
        self.outfits[self._current] = [r.data() for r in self.rows]

    def _switch(self, change: dict) -> None:
        self._collect()
        self._current = change["new"]
        self._show_rows()
        self.children = (self.children[0],
                         self.form.field(f"wardrobe.outfits.{self._current}", self.rows_box),
                         *self.children[2:])

    def _add(self) -> None:
        self._collect()
        self.outfits[self._current].append({"name": "new garment", "kind": "accessory",
                                            "colours": ["#808080"]})
        self._show_rows()

    def _remove(self, row: GarmentRow) -> None:
        self._collect()
        del self.outfits[self._current][row.index]
        self._show_rows()

    def candidate(self) -> dict[str, Any]:
        self._collect()
        data = self.project.characters[self.character_id].model_dump(mode="json",
                                                                     exclude_none=True)
        for oid, garments in self.outfits.items():
            # only outfits edited on this page: the others stay as the project has them
            if garments != self._shown.get(oid) and oid in data["wardrobe"]["outfits"]:
                data["wardrobe"]["outfits"][oid]["garments"] = garments
        return data

    def reload(self) -> None:
        """Redraw the garments from the project's copy (e.g. after a merged save)."""
        ch = self.project.characters[self.character_id]
        self.outfits = {oid: [g.model_dump(mode="json") for g in o.garments]
                        for oid, o in ch.wardrobe.outfits.items()}
        self._shown = copy.deepcopy(self.outfits)
        if self._current not in self.outfits:
            self._current = ch.wardrobe.default
        self.outfit.unobserve(self._switch, names="value")
        self.outfit.options = sorted(self.outfits)
        self.outfit.value = self._current
        self.outfit.observe(self._switch, names="value")
        self._show_rows()

    def save(self) -> bool:
        def act() -> str:
            merged: list[str] = []
            path = validation.save(self.project, "character", self.candidate(),
                                   on_merge=merged.extend)
            if merged:
                self.reload()
            else:
                self._shown = copy.deepcopy(self.outfits)
            if self.on_saved:
                self.on_saved()
            return f"saved {path.name}" + (validation.merged_note(merged) if merged else "")

        return validation.guarded(self.form, act)
