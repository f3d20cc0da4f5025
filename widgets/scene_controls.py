"""Scene workshop controls: 8-position key light, fill ratio, colour temperature,
atmosphere, time of day, with a single-frame preview from the local engine that updates as
the controls move. Save validates the scene like a file on disk before writing it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import ipywidgets as w

from studio_kit.errors import StudioError
from studio_kit.models import AtmosphereKind, KeyLight, Scene, TimeOfDay
from studio_kit.project.series_folder import Project

from . import validation
from .common import header, open_project

#: Grid position of each key light, seen from above with the camera at the bottom.
KEY_GRID: dict[KeyLight, tuple[int, int]] = {
    KeyLight.back_left: (0, 0), KeyLight.back: (0, 1), KeyLight.back_right: (0, 2),
    KeyLight.left: (1, 0), KeyLight.right: (1, 2),
    KeyLight.front_left: (2, 0), KeyLight.front: (2, 1), KeyLight.front_right: (2, 2),
}
_ARROWS = {KeyLight.back_left: "↘", KeyLight.back: "↓", KeyLight.back_right: "↙",
           KeyLight.left: "→", KeyLight.right: "←", KeyLight.front_left: "↗",
           KeyLight.front: "↑", KeyLight.front_right: "↖"}

PREVIEW_SIZE = (320, 180)


def format_ratio(value: float) -> str:
    return f"{value:g}:1"


def render_preview(project: Project, scene: Scene, size: tuple[int, int] = PREVIEW_SIZE) -> bytes:
    """PNG of the scene as the local engine draws it (stand-in cast, wide framing)."""
    from studio_kit.engines.base import RenderFormat
    from studio_kit.engines.local import preview_png, scene_preview_spec

    spec = scene_preview_spec(project, scene.id)
    spec = spec.model_copy(update={"scene": scene})
    return preview_png(spec, format=RenderFormat(width=size[0], height=size[1], fps=24))


class KeyLightSelector(w.GridBox):
    """Eight buttons around the subject; the selected one is highlighted."""

    def __init__(self, value: KeyLight = KeyLight.front_left) -> None:
        self.buttons: dict[KeyLight, w.Button] = {}
        cells: list[w.Widget] = []
        for r in range(3):
            for c in range(3):
                key = next((k for k, rc in KEY_GRID.items() if rc == (r, c)), None)
                if key is None:
                    centre = w.HTML("<div style='text-align:center;font-size:22px'>◉</div>"
                                    "<div style='text-align:center;font-size:10px'>subject</div>")
                    cells.append(centre)
                    continue
                b = w.Button(description=_ARROWS[key], tooltip=key.value.replace("_", " "),
                             layout=w.Layout(width="48px", height="40px"))
                b.add_class(f"key-{key.value}")
                b.on_click(lambda _b, k=key: self._pick(k))
                self.buttons[key] = b
                cells.append(b)
        super().__init__(cells, layout=w.Layout(grid_template_columns="repeat(3, 52px)",
                                                 grid_gap="2px"))
        self.add_class("studio-key-light")
        self._callbacks: list = []
        self.value = value
        self._style()

    def observe_value(self, fn) -> None:
        self._callbacks.append(fn)

    def _pick(self, key: KeyLight) -> None:
        if key == self.value:
            return
        self.value = key
        self._style()
        for fn in self._callbacks:
            fn(key)

    def set(self, key: KeyLight) -> None:
        self.value = key
        self._style()

    def _style(self) -> None:
        for k, b in self.buttons.items():
            b.button_style = "warning" if k == self.value else ""


class SceneControls(w.VBox):
    """The scene workshop: pick a scene, move the light, see the frame, save."""

    def __init__(self, project: Project | str | Path | None = None,
                 scene_id: str | None = None, *, live_preview: bool = True) -> None:
        self.project = project if isinstance(project, Project) else open_project(project)
        ids = sorted(self.project.scenes)
        self.form = validation.Form()
        labels = [(f"{self.project.scenes[s].name} ({s})", s) for s in ids]
        self.scene_select = w.Dropdown(options=labels,
                                       value=scene_id or (ids[0] if ids else None),
                                       description="Scene")
        self.key = KeyLightSelector()
        self.fill = w.Text(description="Fill ratio", placeholder="4:1",
                           continuous_update=False)
        self.fill.add_class("studio-fill-ratio")
        self.temperature = w.IntSlider(min=1500, max=12000, step=100, description="Colour K",
                                       continuous_update=False)
        self.time_of_day = w.Dropdown(options=[t.value for t in TimeOfDay], description="Time")
        self.atmosphere = w.Dropdown(options=[a.value for a in AtmosphereKind],
                                     description="Atmosphere")
        self.density = w.FloatSlider(min=0, max=1, step=0.05, description="Density",
                                     continuous_update=False)
        self.preview = w.Image(format="png", layout=w.Layout(width=f"{PREVIEW_SIZE[0] * 2}px"))
        self.preview.add_class("studio-preview")
        self.preview_note = w.HTML("")
        self.save_button = w.Button(description="Save scene", button_style="primary")
        self.save_button.add_class("studio-save-scene")
        self.live_preview = live_preview
        self.previews = 0
        self._loading = False
        self._render_lock = threading.Lock()
        self._generation = 0
        # the first frame is drawn in the background: the engine's first call imports
        # colour-science (seconds on 2 cores) and the controls should not wait for it
        self.first_preview: threading.Thread | None = None
        self._defer_first = live_preview
        self.load_scene(self.scene_select.value)
        self._defer_first = False
        self.scene_select.observe(lambda ch: self.load_scene(ch["new"]), names="value")
        self.key.observe_value(lambda _k: self.refresh())
        for ctl in (self.fill, self.temperature, self.time_of_day, self.atmosphere, self.density):
            ctl.observe(lambda _ch: self.refresh(), names="value")
        self.save_button.on_click(lambda _b: self.save())
        controls = w.VBox([
            self.scene_select,
            w.HTML("<b>Key light</b> (seen from above, camera at the bottom)"),
            self.form.field("lighting.key", self.key),
            self.form.field("lighting.fill_ratio", self.fill),
            self.form.field("lighting.colour_temperature_k", self.temperature),
            self.form.field("time_of_day", self.time_of_day),
            self.form.field("atmosphere.kind", self.atmosphere),
            self.form.field("atmosphere.density", self.density),
            w.HBox([self.save_button]), self.form.general,
        ])
        super().__init__([
            w.HTML(header("Scene workshop", self.project.series.title)),
            w.HBox([controls, w.VBox([self.preview, self.preview_note])]),
        ])
        self.add_class("studio-scene-workshop")

    # -- state -------------------------------------------------------------------------
    def load_scene(self, scene_id: str | None) -> None:
        if scene_id is None:
            return
        sc = self.project.scenes[scene_id]
        self._loading = True
        try:
            self.key.set(sc.lighting.key)
            self.fill.value = format_ratio(sc.lighting.fill_ratio)
            self.temperature.value = sc.lighting.colour_temperature_k
            self.time_of_day.value = sc.time_of_day.value
            self.atmosphere.value = sc.atmosphere.kind.value
            self.density.value = sc.atmosphere.density
        finally:
            self._loading = False
        self._shown = self._controls()
        self.form.clear()
        self.refresh()

    def _controls(self) -> dict[str, Any]:
        fill: Any = self.fill.value.strip()
        if ":" not in fill:
            fill = fill or None
        return {"lighting.key": self.key.value.value, "lighting.fill_ratio": fill,
                "lighting.colour_temperature_k": self.temperature.value,
                "time_of_day": self.time_of_day.value,
                "atmosphere.kind": self.atmosphere.value,
                "atmosphere.density": self.density.value}

    def candidate(self) -> dict[str, Any]:
        """The scene as the controls describe it (not yet validated): the project's copy
        with the controls moved on this page (one left alone cannot revert a change saved
        elsewhere meanwhile)."""
        sc = self.project.scenes[self.scene_select.value]
        data = sc.model_dump(mode="json", exclude_none=True)
        shown = getattr(self, "_shown", {})
        for name, value in self._controls().items():
            if name in shown and shown[name] == value:
                continue
            part, key = name.split(".") if "." in name else (None, name)
            target = data.setdefault(part, {}) if part else data
            target[key] = value
        return data

    def scene(self) -> Scene:
        return validation.check(self.project, "scene", self.candidate())  # type: ignore[return-value]

    def refresh(self) -> None:
        """Validate the controls; show problems beside them, else redraw the preview."""
        if self._loading:
            return
        try:
            scene = self.scene()
        except StudioError as err:
            self.form.show(err)
            return
        self.form.clear()
        if self.live_preview and self._defer_first:
            self.first_preview = threading.Thread(target=self.update_preview, args=(scene,),
                                                  daemon=True, name="first-preview")
            self.first_preview.start()
        elif self.live_preview:
            self.update_preview(scene)

    def update_preview(self, scene: Scene) -> None:
        self._generation += 1
        mine = self._generation
        try:
            with self._render_lock:
                if mine != self._generation:
                    return  # a newer request is queued: don't draw a stale frame
                self.preview.value = render_preview(self.project, scene)
                self.previews += 1
            self.preview_note.value = (
                f"<small class='studio-preview-note'>{scene.lighting.key.value.replace('_', ' ')}"
                f" key, {format_ratio(scene.lighting.fill_ratio)} fill, "
                f"{scene.lighting.colour_temperature_k} K, {scene.time_of_day.value}, "
                f"{scene.atmosphere.kind.value} - preview {self.previews}</small>")
        except ImportError:
            self.preview_note.value = ("<i>No preview: the local engine "
                                       "(studio_kit.engines.local) is not installed.</i>")
        except StudioError as err:
            self.form.show(err)

    def save(self) -> Path | None:
        path: list[Path] = []

        def act() -> str:
            merged: list[str] = []
            path.append(validation.save(self.project, "scene", self.candidate(),
                                        on_merge=merged.extend))
            if merged:
                self.load_scene(self.scene_select.value)  # show the merged scene
            else:
                self._shown = self._controls()
            return (f"saved {path[0].relative_to(self.project.root)}"
                    + (validation.merged_note(merged) if merged else ""))

        validation.guarded(self.form, act)
        return path[0] if path else None
