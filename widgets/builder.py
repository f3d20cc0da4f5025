"""Project Builder form: script / manuscript / idea -> a new, valid series folder."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w
from pydantic import ValidationError

from studio_kit.errors import Problem, StudioError, ValidationFailed
from studio_kit.models import Tier
from studio_kit.settings import settings
from studio_kit.surfaces import builder as kit

from . import validation
from .common import header


def projects_dir() -> Path:
    """Where new projects go: $STUDIO_PROJECTS_DIR, else ./projects."""
    return settings().projects_dir.resolve()


class ProjectBuilder(w.VBox):
    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder).resolve() if folder else projects_dir()
        self.form = validation.Form()
        f = self.form
        genres = kit.list_genres()
        self.source_toggle = w.ToggleButtons(options=[("Idea", "idea"), ("Script (Fountain)", "script"),
                                               ("Manuscript", "manuscript")], value="idea")
        self.source_toggle.add_class("studio-source")
        self.title_text = w.Text(description="Title", placeholder="Series title")
        self.title_text.add_class("studio-title")
        self.genre_select = w.Dropdown(options=genres, value="mystery" if "mystery" in genres else None,
                                description="Genre")
        self.genre_info = w.HTML("")
        self.cast_size = w.IntSlider(value=3, min=1, max=kit.MAX_CAST, description="Cast size")
        self.tier_select = w.Dropdown(options=[t.value for t in Tier], value="standard",
                               description="Tier")
        self.text_area = w.Textarea(placeholder="Your idea in a few sentences (or paste the text)",
                               layout=w.Layout(width="560px", height="120px"))
        self.upload_file = w.FileUpload(accept=".fountain,.txt,.md,.markdown", multiple=False,
                                   description="Upload file")
        self.use_llm = w.Checkbox(value=bool(settings().llm_base_url),
                                  description="Write the outline with the configured LLM",
                                  disabled=not settings().llm_base_url)
        self.folder_name = w.Text(description="Folder", placeholder="my-series")
        self.folder_name.add_class("studio-folder")
        self.build_button = w.Button(description="Build project", button_style="primary")
        self.build_button.add_class("studio-build")
        self.result = w.HTML("")
        self.result.add_class("studio-build-result")
        self.genre_select.observe(lambda _c: self._genre_info(), names="value")
        self.build_button.on_click(lambda _b: self.build())
        self._genre_info()
        llm = ("An LLM endpoint is configured (STUDIO_LLM_BASE_URL)."
               if settings().llm_base_url else
               "No LLM endpoint configured: ideas use the genre template.")
        super().__init__([
            w.HTML(header("Project Builder", f"New projects go to {self.folder}")),
            f.field("source", self.source_toggle),
            f.field("title", self.title_text), f.field("genre", self.genre_select), self.genre_info,
            f.field("cast_size", self.cast_size), f.field("tier", self.tier_select),
            f.field("text", w.VBox([self.text_area, self.upload_file])),
            w.HBox([self.use_llm, w.HTML(f"<small>{html.escape(llm)}</small>")]),
            f.field("folder", self.folder_name), self.build_button, f.general, self.result,
        ])
        self.add_class("studio-builder")

    def _genre_info(self) -> None:
        if self.genre_select.value:
            text = kit.template_summary(self.genre_select.value)
            self.genre_info.value = ("<div style='color:#555;white-space:pre-line;"
                                     f"max-width:560px'>{html.escape(text)}</div>")
            self.tier_select.value = kit.load_template(self.genre_select.value).tier.value

    def source_text(self) -> str:
        if self.upload_file.value:
            item = list(self.upload_file.value)[0]
            return bytes(item["content"]).decode("utf-8-sig", "replace")
        return self.text_area.value

    def request(self) -> kit.BuildRequest:
        data: dict[str, Any] = {
            "title": self.title_text.value.strip(), "genre": self.genre_select.value,
            "source": self.source_toggle.value, "text": self.source_text(),
            "cast_size": self.cast_size.value, "tier": self.tier_select.value,
            "use_llm": self.use_llm.value}
        try:
            return kit.BuildRequest.model_validate(data)
        except ValidationError as exc:
            raise ValidationFailed("invalid form", problems=[
                Problem(None, e["msg"], None, ".".join(map(str, e["loc"])), None)
                for e in exc.errors()]) from None

    def destination(self) -> Path:
        name = self.folder_name.value.strip() or kit.slug(self.title_text.value, "")
        if not name or kit.slug(name, "") != name.lower().replace("-", "_").replace(" ", "_") \
                or "/" in name or name.startswith("."):
            raise StudioError(f"{name!r} is not a folder name", field="folder",
                              hint="letters, digits, '-' and '_' only, e.g. my-series")
        return self.folder / name

    def build(self):
        built: list[Any] = []

        def act() -> str:
            req = self.request()
            if req.source != kit.SourceKind.idea and not req.text.strip():
                raise StudioError(f"a {req.source.value} is needed", field="text",
                                  hint="upload a file or paste the text")
            project = kit.build_project(self.destination(), req)
            built.append(project)
            n_shots = sum(len(e.storyboard.shots) for e in project.episodes.values()
                          if e.storyboard)
            return (f"created {project.root}: {len(project.characters)} characters, "
                    f"{len(project.scenes)} scenes, {n_shots} shots - validates")

        if validation.guarded(self.form, act):
            self.result.value = (f"<span class='studio-built' data-path='{html.escape(str(built[0].root))}'>"
                                 "Open it in the other surfaces with STUDIO_PROJECT="
                                 f"{html.escape(str(built[0].root))}</span>")
        else:
            self.result.value = ""
        return built[0] if built else None
