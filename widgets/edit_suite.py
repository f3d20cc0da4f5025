"""Edit Suite: trim a shot's in/out, change the transition after it and its length, set J/L
offsets, grade the shot (exposure, temperature, tint, saturation, match to another shot,
the series LUT on/off) with a before/after frame compare, save, and re-render just what
changed with progress. The logic is ``studio_kit.edit.decisions``; a bad value shows its
message beside the control and nothing is written."""

from __future__ import annotations

import html
import io
import json
import threading
from pathlib import Path
from typing import Any

import ipywidgets as w

from studio_kit.edit import decisions as d
from studio_kit.errors import StudioError
from studio_kit.models import ShotGrade, Storyboard, TransitionKind
from studio_kit.project.series_folder import Project
from studio_kit.settings import settings
from studio_kit.surfaces.render_job import RenderJob

from . import validation
from .common import header, open_project

#: RenderOptions of the page's re-render as JSON (e.g. a small size for a review copy).
RENDER_ENV = "STUDIO_EDIT_RENDER"
_JL = (TransitionKind.j_cut, TransitionKind.l_cut)


def png(rgb) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _num(text: str, default: float | None = 0.0) -> float | None:
    text = (text or "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise StudioError(f"{text!r} is not a number", hint="seconds, e.g. 0.5") from None


class EditSuite(w.VBox):
    """The Edit Suite for one episode of a project."""

    def __init__(self, project: Project | str | Path | None = None, episode: str | None = None,
                 *, render_options: Any = None, out_dir: str | Path | None = None) -> None:
        from studio_kit.pipeline import RenderOptions

        self.project = project if isinstance(project, Project) else open_project(project)
        eps = sorted(self.project.episodes)
        self.episode = episode or (eps[0] if eps else "01")
        if render_options is None:
            env = settings().edit_render  # $STUDIO_EDIT_RENDER
            render_options = RenderOptions.model_validate(json.loads(env)) if env else None
        self.render_options = render_options
        self.out_dir = Path(out_dir) if out_dir else self.project.root / "out"
        self.form = validation.Form()
        self.job: RenderJob | None = None
        self._loading = False

        sb = self.storyboard
        self.shot_select = w.Dropdown(options=[s.id for s in sb.shots], description="Shot")
        self.shot_select.add_class("studio-edit-shot")
        self.take_note = w.HTML("")
        self.trim_in = self._text("In (s)", "studio-trim-in")
        self.trim_out = self._text("Out (s)", "studio-trim-out")
        self.kind = w.Dropdown(options=[k.value for k in TransitionKind],
                               description="Transition")
        self.kind.add_class("studio-transition-kind")
        self.length = self._text("Length (s)", "studio-transition-length", "default")
        self.j_offset = self._text("J lead (s)", "studio-j-offset")
        self.l_offset = self._text("L trail (s)", "studio-l-offset")
        slider = dict(continuous_update=False, readout_format=".2f")
        self.exposure = w.FloatSlider(min=-3, max=3, step=0.1, description="Exposure",
                                      **slider)
        self.exposure.add_class("studio-grade-exposure")
        self.temperature = w.FloatSlider(min=-1, max=1, step=0.05, description="Temperature",
                                         **slider)
        self.tint = w.FloatSlider(min=-1, max=1, step=0.05, description="Tint", **slider)
        self.saturation = w.FloatSlider(min=0, max=2, step=0.05, value=1.0,
                                        description="Saturation", **slider)
        self.match_to = w.Dropdown(description="Match to")
        self.lut = w.Checkbox(value=True, description="Series LUT")
        self.lut.add_class("studio-grade-lut")
        self.before = w.Image(format="png", layout=w.Layout(width="320px"))
        self.before.add_class("studio-compare-before")
        self.after = w.Image(format="png", layout=w.Layout(width="320px"))
        self.after.add_class("studio-compare-after")
        self.compare_note = w.HTML("")
        self.preview_button = w.Button(description="Compare grade")
        self.preview_button.add_class("studio-compare-grade")
        self.save_button = w.Button(description="Save edits", button_style="primary")
        self.save_button.add_class("studio-save-edits")
        self.render_button = w.Button(description="Re-render", button_style="success")
        self.render_button.add_class("studio-rerender")
        self.progress = w.FloatProgress(min=0, max=1, description="Render")
        self.status = w.HTML("")
        self.status.add_class("studio-render-status")

        self.shot_select.observe(lambda ch: self.load_shot(ch["new"]), names="value")
        self.preview_button.on_click(lambda _b: self.compare())
        self.save_button.on_click(lambda _b: self.save())
        self.render_button.on_click(lambda _b: self.rerender())

        f = self.form.field
        left = w.VBox([
            self.shot_select, self.take_note,
            w.HTML("<b>Trim</b> (seconds cut from the take's head / tail)"),
            f("trim_in_s", self.trim_in), f("trim_out_s", self.trim_out),
            f("trim", w.HTML("")),
            w.HTML("<b>Transition to the next shot</b>"),
            f("transition", self.kind), f("duration_s", self.length),
            w.HTML("<b>J/L offsets</b> (sound leads / trails the cut)"),
            f("j_s", self.j_offset), f("l_s", self.l_offset),
            w.HTML("<b>Grade</b>"),
            f("exposure", self.exposure), f("temperature", self.temperature),
            f("tint", self.tint), f("saturation", self.saturation),
            f("match_to", self.match_to), f("lut", self.lut),
            w.HBox([self.preview_button, self.save_button, self.render_button]),
            self.form.general, self.progress, self.status,
        ])
        right = w.VBox([w.HTML("<b>Before / after</b>"),
                        w.HBox([self.before, self.after]), self.compare_note])
        right.add_class("studio-compare")
        super().__init__([w.HTML(header(f"Edit Suite - episode {self.episode}",
                                        self.project.series.title)),
                          w.HBox([left, right])])
        self.add_class("studio-edit-suite")
        if sb.shots:
            self.load_shot(sb.shots[0].id)

    @staticmethod
    def _text(label: str, css: str, placeholder: str = "0") -> w.Text:
        t = w.Text(description=label, placeholder=placeholder, continuous_update=False,
                   layout=w.Layout(width="220px"))
        t.add_class(css)
        return t

    # -- state ---------------------------------------------------------------------------
    @property
    def storyboard(self) -> Storyboard:
        return self.project.storyboard(self.episode)

    def render_record(self) -> Path:
        return self.out_dir / f"episode-{self.episode}" / "render.json"

    def takes(self) -> dict[str, Path]:
        rec = self.render_record()
        return d.takes_of(rec, self.project.vault()) if rec.is_file() else {}

    def take_seconds(self, shot_id: str) -> float | None:
        take = self.takes().get(shot_id)
        if take is None:
            return None
        from studio_kit.edit.probe import probe

        v = probe(take).video
        return v.frames / (v.fps or 24) if v.frames else None

    def load_shot(self, shot_id: str) -> None:
        sb = self.storyboard
        shot = sb.shot(shot_id)
        self._loading = True
        try:
            self.trim_in.value = f"{shot.trim_in_s:g}"
            self.trim_out.value = f"{shot.trim_out_s:g}"
            tr = shot.transition
            self.kind.value = tr.kind.value
            self.length.value = "" if tr.duration_s is None else f"{tr.duration_s:g}"
            self.j_offset.value = f"{tr.seconds:g}" if tr.kind == TransitionKind.j_cut else "0"
            self.l_offset.value = f"{tr.seconds:g}" if tr.kind == TransitionKind.l_cut else "0"
            g = shot.grade or ShotGrade()
            self.exposure.value, self.temperature.value = g.exposure, g.temperature
            self.tint.value, self.saturation.value = g.tint, g.saturation
            self.match_to.options = [("scene reference", "")] + [
                (s.id, s.id) for s in sb.shots if s.id != shot_id]
            self.match_to.value = g.match_to or ""
            self.lut.value = g.lut
        finally:
            self._loading = False
        take = self.take_seconds(shot_id)
        self.take_note.value = (f"<small>take {take:.2f} s</small>" if take
                                else "<small>no take yet: render the episode</small>")
        self._shown = self._controls()
        self.form.clear()

    def _controls(self) -> dict[str, Any]:
        return {"trim": (self.trim_in.value, self.trim_out.value),
                "transition": (self.kind.value, self.length.value),
                "jl": (self.j_offset.value, self.l_offset.value),
                "grade": self._grade_controls()}

    def _grade_controls(self) -> dict[str, Any]:
        return {"exposure": self.exposure.value, "temperature": self.temperature.value,
                "tint": self.tint.value, "saturation": self.saturation.value,
                "match_to": self.match_to.value or None, "lut": self.lut.value}

    def candidate(self) -> Storyboard:
        """The storyboard with the edits moved on this page (a validated copy); only the
        groups of controls that were moved are applied, so a change saved elsewhere in the
        meantime is not reverted. Raises EditError naming the control."""
        sid = self.shot_select.value
        sb = self.storyboard
        now, shown = self._controls(), getattr(self, "_shown", {})
        if now["trim"] != shown.get("trim"):
            tin = _field(lambda: _num(self.trim_in.value), "trim_in_s")
            tout = _field(lambda: _num(self.trim_out.value), "trim_out_s")
            sb = d.trim_shot(sb, sid, tin, tout, take_s=self.take_seconds(sid))
        if now["transition"] != shown.get("transition"):
            length = _field(lambda: _num(self.length.value, None), "duration_s")
            sb = d.set_transition(sb, sid, self.kind.value, length)
        if now["jl"] != shown.get("jl"):
            j = _field(lambda: _num(self.j_offset.value), "j_s")
            lo = _field(lambda: _num(self.l_offset.value), "l_s")
            sb = d.set_audio_offset(sb, sid, j_s=j or 0.0, l_s=lo or 0.0)
        if now["grade"] != shown.get("grade"):
            sb = d.set_grade(sb, sid, self._grade_controls())
        return sb

    # -- actions -------------------------------------------------------------------------
    def save(self) -> Path | None:
        out: list[Path] = []

        def act() -> str:
            sid = self.shot_select.value
            new = self.candidate()
            changed = d.changed_shots(self.storyboard, new)
            out.append(d.save(self.project, new))
            self.project = Project.load(self.project.root)
            self.load_shot(sid)
            what = ", ".join(f"{k}: {', '.join(v)}" for k, v in changed.items()) or "nothing"
            return f"saved {out[0].relative_to(self.project.root)} ({what} changed)"

        validation.guarded(self.form, act)
        return out[0] if out else None

    def compare(self) -> bool:
        """Before / after of the selected shot's middle frame with the grade on the page."""
        def act() -> str:
            sid = self.shot_select.value
            sb = self.storyboard
            if self._grade_controls() != self._shown.get("grade"):
                sb = d.set_grade(sb, sid, self._grade_controls())
            look = self.project.series.look_lut
            look_path = self.project.root / look if look else None
            before, after = d.grade_compare(self.project, sb, sid, takes=self.takes(),
                                            look_path=look_path)
            self.before.value, self.after.value = png(before), png(after)
            self.compare_note.value = ("<small class='studio-compare-note'>left: the take; "
                                       f"right: graded ({html.escape(sid)})</small>")
            return ""

        return validation.guarded(self.form, act)

    def rerender(self) -> RenderJob | None:
        """Re-render the episode on a thread (only the stages whose inputs changed run)."""
        if self.job is not None and not self.job.done:
            self.status.value = "<i>a render is running</i>"
            return self.job
        self.progress.value = 0.0
        self.status.value = "<i>rendering...</i>"
        lock = threading.Lock()

        def update(job: RenderJob) -> None:
            with lock:
                self.progress.value = job.fraction
                if not job.done:
                    self.status.value = f"<i>{html.escape(job.stage)}</i>"
                    return
                if job.error is not None:
                    msg = str(job.error) if isinstance(job.error, StudioError) else repr(job.error)
                    self.status.value = ("<span class='studio-error' style='color:#b00020'>"
                                         f"render failed: {html.escape(msg)}</span>")
                    return
                res = job.result
                ran = sorted({label.split("[")[0] for label in job.ran})
                self.status.value = (
                    f"<span class='studio-render-done'>done in {job.seconds:.1f} s: master "
                    f"{res.duration_s:.2f} s; ran {html.escape(', '.join(ran) or 'nothing')} "
                    f"({len(job.ran)} stages, {job.hits} from cache)</span>")

        self.job = RenderJob(self.project.root, self.episode, options=self.render_options,
                               out_dir=self.out_dir, on_progress=update).start()
        return self.job


def _field(fn, name: str):
    try:
        return fn()
    except StudioError as err:
        raise d.EditError(str(err.problems[0].message), field=name,
                          hint=err.problems[0].hint) from None
