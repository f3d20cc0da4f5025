"""Episode Bay: the storyboard as a timeline (thumbnails, acts, transitions, dialogue, J/L
overlaps, Gate B state per shot), reorder / move-to-act, the shot editor, pacing, shot
review (Gate B per shot) and the episode player. Logic: ``studio_kit.surfaces.episode_bay``."""

from __future__ import annotations

import base64
import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as w

from studio_kit.errors import StudioError
from studio_kit.models.storyboard import CameraAngle, Direction, Movement, Storyboard
from studio_kit.project.series_folder import Project
from studio_kit.surfaces import episode_bay as bay

from .common import header, open_project, storyboarded_episodes
from .validation import Form, guarded

STATE_COLOURS = {"approved": "#2e7d32", "rejected": "#c62828", "reopened": "#ef6c00",
                 "open": "#757575"}
#: files up to this size are put in the page as data URLs (Voila serves no project files)
MAX_INLINE_BYTES = 64 * 1024 * 1024
#: one HoloViews -> Bokeh render at a time in the kernel
_RENDER_LOCK = threading.Lock()
#: the chart starts at the latest this long after the page was built
CHART_FALLBACK_S = 20.0
CHART_HINT = ("<i>tap a shot to pick it, then tap where it goes: another shot (its place) or "
              "an act's band (the end of that act)</i>")


def _b64png(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def strip_html(tl: bay.Timeline, thumbs: dict[str, bytes], selected: str | None,
               pace: list[bay.ActPacing]) -> str:
    """One track of shots: per act a group (its boundary), per shot a card (thumbnail,
    state badge, duration, dialogue under it), the transition between cards and J/L bars."""
    warn = {p.act: p.warning for p in pace if p.warning}
    over = {(o.from_shot, o.to_shot): o for o in tl.overlaps}
    by_act: dict[str, list[bay.TimelineShot]] = {}
    for s in tl.shots:
        by_act.setdefault(s.act, []).append(s)
    parts = ["<div class='studio-timeline' style='display:flex;overflow-x:auto;gap:0;"
             "padding:4px 0'>"]
    for act in tl.acts:
        w_ = warn.get(act.id)
        badge = (f"<span class='studio-pacing-warning' style='color:#b26a00'> &#9888; "
                 f"{html.escape(w_)}</span>" if w_ else "")
        parts.append(f"<div class='studio-act' data-act='{html.escape(act.id)}' style='border-left:"
                     "3px solid #1565c0;padding:0 4px;margin-right:4px'>"
                     f"<div style='font-weight:600;font-size:12px'>{html.escape(act.title)} "
                     f"<span style='color:#666'>{act.end_s - act.start_s:.1f}s</span>{badge}"
                     "</div><div style='display:flex;align-items:flex-start'>")
        for s in by_act.get(act.id, []):
            colour = STATE_COLOURS.get(s.state, "#757575")
            sel = "outline:3px solid #fbc02d;" if s.id == selected else ""
            img = (f"<img class='studio-thumb' src='{_b64png(thumbs[s.id])}' width="
                   f"{bay.THUMB_W} height={bay.THUMB_H} alt='{html.escape(s.id)}'>"
                   if s.id in thumbs else
                   f"<div style='width:{bay.THUMB_W}px;height:{bay.THUMB_H}px;background:#ccc'>"
                   "</div>")
            lines = "".join(f"<div class='studio-line'><b>{html.escape(c)}</b>: "
                            f"{html.escape(t)}</div>" for c, t in s.dialogue)
            parts.append(
                f"<div class='studio-shot studio-state-{s.state}' data-shot='{html.escape(s.id)}'"
                f" style='width:{bay.THUMB_W + 8}px;margin:2px;padding:2px;{sel}"
                f"border-top:5px solid {colour}'>{img}"
                f"<div style='font-size:11px;font-family:monospace'>{html.escape(s.id)}</div>"
                f"<div style='font-size:11px'><span class='studio-badge' style='color:{colour}'>"
                f"{s.state}</span> {s.duration_s:g}s</div>"
                f"<div style='font-size:10px;color:#333'>{lines}</div></div>")
            nxt = next((t for t in tl.transitions if t[3] == s.id), None)
            if nxt is not None:
                o = over.get((s.id, nxt[4])) or over.get((nxt[4], s.id))
                jl = (f"<div class='studio-overlap studio-{o.kind}' style='background:#7b1fa2;"
                      f"color:white;font-size:9px;padding:0 2px'>{o.kind.replace('_', '-')}"
                      f" {o.end_s - o.start_s:g}s</div>" if o else "")
                parts.append(
                    f"<div class='studio-transition studio-tr-{nxt[1]}' title='{nxt[1]}' "
                    "style='writing-mode:vertical-rl;font-size:9px;color:#555;"
                    f"align-self:center'>{html.escape(nxt[1])}{jl}</div>")
        parts.append("</div></div>")
    parts.append("</div>")
    return "".join(parts)


def timeline_plot(tl: bay.Timeline, thumbs: dict[str, bytes] | None = None):
    """The timeline as a HoloViews overlay: shot blocks coloured by Gate B state (with
    thumbnails), act boundaries, transitions at the edits, dialogue under its shot and J/L
    overlaps as bars under the track."""
    import holoviews as hv
    import numpy as np

    rects = [(s.start_s, 0, s.end_s, 1, s.state, s.id) for s in tl.shots]
    blocks = hv.Rectangles(rects, vdims=["state", "shot"]).opts(
        color=hv.dim("state").categorize(STATE_COLOURS, default="#757575"), alpha=0.35,
        line_color="black", tools=["hover", "tap"], nonselection_alpha=0.35,
        selection_line_color="#fbc02d", selection_line_width=4)
    # a band above each act: tapped with a shot picked, the shot moves to the act's end
    gap = max(1.0, tl.duration_s * 0.05)  # an act left empty still has a band to tap
    spans, t_end = [], 0.0
    for a in tl.acts:
        a0 = max(a.start_s, t_end)
        a1 = a.end_s if a.end_s > a.start_s else a0 + gap
        spans.append((a0, 1.02, a1, 1.28, a.id))
        t_end = max(t_end, a1)
    bands = hv.Rectangles(spans, vdims=["act"]).opts(
        color="#e3f2fd", line_color="#1565c0", alpha=0.6, tools=["hover", "tap"],
        nonselection_alpha=0.6)
    layers: list[Any] = [bands, blocks]
    if thumbs:
        import io

        from PIL import Image
        for s in tl.shots:
            png = thumbs.get(s.id)
            if png is None:
                continue
            img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))[::-1]
            pad = s.duration_s * 0.05
            layers.append(hv.RGB(img, bounds=(s.start_s + pad, 0.1, s.end_s - pad, 0.9)))
    for a in tl.acts[1:]:
        layers.append(hv.VLine(a.start_s).opts(color="#1565c0", line_width=3))
    layers.append(hv.Labels([((a.start_s + a.end_s) / 2, 1.15, a.title) for a in tl.acts],
                            ["x", "y"], "text").opts(text_font_size="9pt"))
    marks = [(t, 1.0, kind) for t, kind, _secs, _a, _b in tl.transitions if kind != "cut"]
    if marks:
        layers.append(hv.Labels(marks, ["x", "y"], "text").opts(text_font_size="7pt",
                                                                text_color="#555"))
    lines = [((s.start_s + s.end_s) / 2, -0.25 - 0.2 * (i % 2), f"{c}: {t[:24]}")
             for s in tl.shots for i, (c, t) in enumerate(s.dialogue[:2])]
    if lines:
        layers.append(hv.Labels(lines, ["x", "y"], "text").opts(text_font_size="7pt"))
    if tl.overlaps:
        layers.append(hv.Segments([(o.start_s, -0.7, o.end_s, -0.7) for o in tl.overlaps])
                      .opts(color="#7b1fa2", line_width=6))
    width = int(min(4000, max(900, tl.duration_s * 12)))
    return hv.Overlay(layers).opts(width=width, height=260, yaxis=None, xlabel="seconds",
                                   ylim=(-0.9, 1.3), xlim=(0, max(t_end, tl.duration_s, 1.0)), title=f"Episode {tl.episode}",
                                   toolbar="above")


def pacing_plot(pace: list[bay.ActPacing]):
    import holoviews as hv

    rows = [(p.title, "actual", p.avg_shot_s) for p in pace]
    rows += [(p.title, "target", p.target_avg_shot_s or 0.0) for p in pace]
    return hv.Bars(rows, ["act", "kind"], "avg shot s").opts(
        width=600, height=240, tools=["hover"], title="Average shot length per act",
        multi_level=True, color=hv.dim("kind").categorize({"actual": "#1565c0",
                                                            "target": "#9e9e9e"}))


def _video_html(path: Path | None, css: str, start: float = 0.0,
                captions: dict[str, Path] | None = None, caption: str | None = None,
                audio: str | None = None) -> str:
    if path is None or not path.is_file():
        return f"<i class='{css}-none'>no video yet (render the episode)</i>"
    if path.stat().st_size > MAX_INLINE_BYTES:
        return (f"<i>{html.escape(path.name)} is too large to play in the page "
                f"({path.stat().st_size / 1e6:.0f} MB); open {html.escape(str(path))}</i>")
    langs = sorted(captions or {})
    chosen = caption if caption in langs else (langs[0] if langs and caption is None else "")
    tracks = "".join(
        f"<track kind='captions' srclang='{html.escape(lang)}' label='{html.escape(lang)}' "
        f"src='{bay.data_url(p, 'text/vtt')}'{' default' if lang == chosen else ''}>"
        for lang, p in sorted((captions or {}).items()))
    frag = f"#t={start:.3f}" if start > 0 else ""
    extra = (f" data-audio='{html.escape(audio)}'" if audio else "") + (
        f" data-captions='{html.escape(chosen)}'" if captions else "")
    return (f"<video class='{css}' controls preload='auto' width='480' "
            f"data-start='{start:.3f}'{extra} src='{bay.data_url(path, 'video/mp4')}{frag}'>"
            f"{tracks}</video>")


class EpisodeBay(w.VBox):
    def __init__(self, project: Project | str | Path | None = None, episode: str | None = None,
                 *, chart: bool = True, who: str = "") -> None:
        self.project = project if isinstance(project, Project) else open_project(project)
        eps = storyboarded_episodes(self.project)
        self.episode = episode or eps[0]
        self.selected: str | None = None
        self.chart = chart
        self.form = Form()
        self.status = w.HTML("")
        self.status.add_class("studio-bay-status")
        self.episode_pick = w.Dropdown(options=eps, value=self.episode, description="Episode")
        self.episode_pick.observe(lambda c: self._switch(c["new"]), "value")
        self.strip = w.HTML("")
        self.strip.add_class("studio-strip")
        self.shot_pick = w.Dropdown(description="Shot", layout=w.Layout(width="360px"))
        self.shot_pick.add_class("studio-shot-pick")
        self.shot_pick.observe(lambda c: self.select(c["new"]) if c["new"] else None, "value")
        self.left = w.Button(description="◀ move left")
        self.left.add_class("studio-move-left")
        self.right = w.Button(description="move right ▶")
        self.right.add_class("studio-move-right")
        self.act_pick = w.Dropdown(description="to act", layout=w.Layout(width="240px"))
        self.to_act = w.Button(description="move to act")
        self.to_act.add_class("studio-move-to-act")
        self.left.on_click(lambda _b: self._step(-1))
        self.right.on_click(lambda _b: self._step(1))
        self.to_act.on_click(lambda _b: self._move_to_act())
        self._armed: str | None = None
        self._chart_lock = threading.Lock()
        self._chart_gen = 0
        self._chart_drawn = False
        self.chart_hint = w.HTML(CHART_HINT)
        self.chart_hint.add_class("studio-chart-hint")
        self.chart_box = w.VBox([w.HTML("<i>drawing the timeline...</i>")] if chart else [])
        self.chart_box.add_class("studio-timeline-chart")
        self.pacing_html = w.HTML("")
        self.pacing_html.add_class("studio-pacing")
        self.pacing_box = w.VBox([])
        self.pace_act = w.Dropdown(description="act", layout=w.Layout(width="240px"))
        self.pace_target = w.FloatText(description="target avg s", value=0.0,
                                       layout=w.Layout(width="200px"))
        self.pace_target.add_class("studio-pace-target")
        self.pace_max = w.FloatText(description="max act s", value=0.0,
                                    layout=w.Layout(width="200px"))
        self.pace_btn = w.Button(description="set pacing (0 = none)")
        self.pace_btn.add_class("studio-set-pacing")
        self.pace_btn.on_click(lambda _b: guarded(self.form, self._set_pacing))
        self.pace_act.observe(lambda _c: self._fill_pacing(), "value")
        self._build_editor()
        self._build_review()
        self.player = w.HTML("")
        self.player.add_class("studio-player-box")
        self.seek = w.Button(description="play from selected shot")
        self.seek.add_class("studio-seek")
        self.seek.on_click(lambda _b: self._draw_player(seek=True))
        # switching the sound (original / dubs) or the captions re-draws the player at the
        # selected shot's record time
        self.audio_pick = w.Dropdown(description="audio", layout=w.Layout(width="240px"))
        self.audio_pick.add_class("studio-audio-pick")
        self.caption_pick = w.Dropdown(description="captions", layout=w.Layout(width="240px"))
        self.caption_pick.add_class("studio-caption-pick")
        self._player_ready = False
        self.audio_pick.observe(lambda _c: self._draw_player(seek=True, keep=True), "value")
        self.caption_pick.observe(lambda _c: self._draw_player(seek=True, keep=True), "value")
        super().__init__([
            w.HTML(header("Episode Bay", self.project.series.title)),
            w.HBox([self.episode_pick, self.status]),
            self.strip,
            w.HBox([self.shot_pick, self.left, self.right, self.act_pick, self.to_act]),
            self.form.general,
            w.HBox([w.VBox([w.HTML("<h3>Shot</h3>"), self.editor],
                           layout=w.Layout(width="55%")),
                    w.VBox([w.HTML("<h3>Review (Gate B)</h3>"), self.review_box],
                           layout=w.Layout(width="45%"))]),
            w.HTML("<h3>Pacing</h3>"), self.pacing_html,
            w.HBox([self.pace_act, self.pace_target, self.pace_max, self.pace_btn]),
            self.pacing_box,
            w.HTML("<h3>Episode player</h3>"),
            w.HBox([self.seek, self.audio_pick, self.caption_pick]), self.player,
            w.HTML("<h3>Timeline</h3>"), self.chart_box,
        ])
        self.add_class("studio-episode-bay")
        self.refresh()
        if chart:
            from .command_center import load_bokehjs

            load_bokehjs()
            self._start_after_cell(self._draw_charts)

    # -- building ----------------------------------------------------------------------
    def _build_editor(self) -> None:
        f = self.form
        self.e_scene = w.Dropdown(options=sorted(self.project.scenes))
        self.e_chars = w.Text(placeholder="character ids, comma separated")
        self.e_action = w.Textarea(layout=w.Layout(width="320px", height="60px"))
        self.e_dialogue = w.Textarea(placeholder="character: line (one per line)",
                                     layout=w.Layout(width="320px", height="60px"))
        self.e_duration = w.FloatText(layout=w.Layout(width="100px"))
        self.e_duration.add_class("studio-duration")
        self.e_engine = w.Text(placeholder="(routing decides)")
        self.e_angle = w.Dropdown(options=[a.value for a in CameraAngle])
        self.e_angle.add_class("studio-angle")
        self.e_move = w.Dropdown(options=[m.value for m in Movement])
        self.e_dir = w.Dropdown(options=[""] + [d.value for d in Direction])
        self.e_speed = w.FloatSlider(min=0, max=1, step=0.05)
        self.save_btn = w.Button(description="Save shot", button_style="primary")
        self.save_btn.add_class("studio-save-shot")
        self.save_btn.on_click(lambda _b: guarded(self.form, self._save_shot))
        self.editor = w.VBox([
            f.field("scene", self.e_scene, "scene"),
            f.field("characters", self.e_chars, "characters"),
            f.field("action", self.e_action, "action"),
            f.field("dialogue", self.e_dialogue, "dialogue"),
            f.field("duration_s", self.e_duration, "duration s"),
            f.field("engine", self.e_engine, "engine"),
            f.field("camera.angle", self.e_angle, "angle"),
            f.field("camera.movement.type", self.e_move, "movement"),
            f.field("camera.movement.direction", self.e_dir, "direction"),
            f.field("camera.movement.speed", self.e_speed, "speed"),
            self.save_btn])

    def _build_review(self) -> None:
        self.take_html = w.HTML("")
        self.take_html.add_class("studio-take")
        self.scores_html = w.HTML("")
        self.scores_html.add_class("studio-qc")
        self.refs_html = w.HTML("")
        self.refs_html.add_class("studio-refs")
        self.who = w.Text(description="who", value="")
        self.who.add_class("studio-who")
        self.why = w.Textarea(description="comment", layout=w.Layout(height="50px"))
        self.why.add_class("studio-why")
        self.review_msg = w.HTML("")
        self.review_msg.add_class("studio-review-message")
        buttons = []
        for action, style in (("approve", "success"), ("reject", "danger"),
                              ("regenerate", "warning")):
            b = w.Button(description=action, button_style=style)
            b.add_class(f"studio-{action}")
            b.on_click(lambda _b, a=action: self._review(a))
            buttons.append(b)
        self.review_box = w.VBox([self.take_html, self.scores_html, self.refs_html, self.who,
                                  self.why, w.HBox(buttons), self.review_msg])

    def _start_after_cell(self, fn) -> None:
        """Run ``fn`` on a thread once the cell has finished (so the page is interactive
        first). A fallback timer starts it anyway if the kernel never reports the cell's
        end (``post_run_cell``), so the chart cannot stay "drawing" forever."""
        once = threading.Lock()

        def go(*_a: object) -> None:
            if once.acquire(blocking=False):
                threading.Thread(target=fn, daemon=True, name="episode-bay-charts").start()

        try:
            from IPython import get_ipython

            ip = get_ipython()
        except ImportError:
            ip = None
        if ip is None:
            go()
            return

        def start(*_a: object) -> None:
            ip.events.unregister("post_run_cell", start)
            go()

        ip.events.register("post_run_cell", start)
        timer = threading.Timer(CHART_FALLBACK_S, go)
        timer.daemon = True
        timer.start()

    # -- data --------------------------------------------------------------------------
    @property
    def storyboard(self) -> Storyboard:
        return self.project.storyboard(self.episode)

    def refresh(self) -> None:
        try:
            self.states, self.takes = bay.gate_states(self.project, self.episode)
        except StudioError:
            self.states, self.takes = {}, {}
        sb = self.storyboard
        self.timeline = bay.timeline_model(sb, self.states, self.takes)
        if not hasattr(self, "_thumbs") or self._thumbs_for != (self.episode,
                                                                 tuple(sorted(self.takes.items()))):
            self._thumbs = bay.thumbnails(self.project, self.episode, self.takes)
            self._thumbs_for = (self.episode, tuple(sorted(self.takes.items())))
        self.pace = bay.pacing(sb)
        ids = [s.id for s in sb.shots]
        if self.selected not in ids:
            self.selected = ids[0] if ids else None
        self.shot_pick.options = ids
        self.shot_pick.value = self.selected
        keep_act = self.act_pick.value
        self.act_pick.options = [(a.title or a.id, a.id) for a in sb.acts]
        acts = [a.id for a in sb.acts]
        if acts:
            self.act_pick.value = keep_act if keep_act in acts else acts[0]
        keep = self.pace_act.value
        self.pace_act.options = [(a.title or a.id, a.id) for a in sb.acts]
        if acts:
            self.pace_act.value = keep if keep in acts else acts[0]
        self._fill_pacing()
        self._draw_strip()
        self.pacing_html.value = self._pacing_table()
        self._fill_editor()
        self._fill_review()
        self._draw_player()

    def _switch(self, episode: str) -> None:
        self.episode, self.selected = episode, None
        self.refresh()
        if self.chart:
            threading.Thread(target=self._draw_charts, daemon=True).start()

    def _draw_strip(self) -> None:
        self.strip.value = strip_html(self.timeline, self._thumbs, self.selected, self.pace)

    def _pacing_table(self) -> str:
        rows = []
        for p in self.pace:
            tgt = f"{p.target_avg_shot_s:.1f}" if p.target_avg_shot_s else "-"
            warn = (f"<span class='studio-pacing-warning' style='color:#b26a00'>&#9888; "
                    f"{html.escape(p.warning)}</span>" if p.warning else "")
            rows.append(f"<tr data-act='{html.escape(p.act)}'><td>{html.escape(p.title)}</td>"
                        f"<td>{p.kind}</td><td>{p.shots}</td><td>{p.duration_s:.1f}</td>"
                        f"<td>{p.avg_shot_s:.2f}</td><td>{tgt}</td><td>{warn}</td></tr>")
        return ("<table class='studio-pacing-table'><tr><th>act</th><th>kind</th><th>shots</th>"
                "<th>s</th><th>avg shot s</th><th>target</th><th></th></tr>"
                + "".join(rows) + "</table>")

    def _fill_pacing(self) -> None:
        act = next((a for a in self.storyboard.acts if a.id == self.pace_act.value), None)
        if act is not None:
            self.pace_target.value = act.target_avg_shot_s or 0.0
            self.pace_max.value = act.max_duration_s or 0.0

    def _set_pacing(self) -> str:
        act_id = self.pace_act.value
        new = bay.set_pacing(self.storyboard, act_id, self.pace_target.value or None,
                             self.pace_max.value or None)
        return self._apply(new, f"pacing of {act_id} saved")

    def _draw_charts(self) -> None:
        """Render the timeline and pacing charts (on a thread). Draws are serialised (one
        HoloViews render at a time: its renderer state is global) and only the newest
        request is shown, so a slow first draw cannot replace the chart of a later move."""
        with self._chart_lock:
            self._chart_gen += 1
            gen = self._chart_gen
        if not self._chart_drawn:
            self.chart_box.children = [w.HTML("<i class='studio-chart-drawing'>drawing the "
                                              "timeline (started)...</i>")]
        with _RENDER_LOCK:
            if gen != self._chart_gen:
                return  # a newer draw is queued behind this one
            try:
                import holoviews as hv
                from jupyter_bokeh import BokehModel

                # the backend only: hv.extension would also load the notebook's JS and
                # comms, which is display work for the kernel's main thread, not this one
                # (BokehJS is already in the page, load_bokehjs; BokehModel draws the figure)
                hv.renderer("bokeh")
                hv.Store.set_current_backend("bokeh")
                tl_fig = hv.render(timeline_plot(self.timeline, self._thumbs),
                                   backend="bokeh")
                self._wire_taps(tl_fig)
                pace_fig = hv.render(pacing_plot(self.pace), backend="bokeh")
                if gen != self._chart_gen:
                    return
                self.chart_box.children = [self.chart_hint, BokehModel(tl_fig)]
                self.pacing_box.children = [BokehModel(pace_fig)]
                self._chart_drawn = True
            except Exception as exc:  # shown; the rest of the surface keeps working
                self.chart_box.children = [w.HTML(
                    "<span class='studio-chart-failed' style='color:#b00020'>timeline chart "
                    "failed: "
                    f"{html.escape(repr(exc))}</span>")]

    def _wire_taps(self, fig) -> None:
        """Tap a shot block to pick it, then tap another shot (it takes that shot's place,
        in that shot's act) or an act's band (the end of that act): the storyboard is saved
        at once. The taps reach the kernel through jupyter_bokeh's document sync."""
        from bokeh.models import GlyphRenderer, TapTool

        tappable = []
        for r in fig.select(type=GlyphRenderer):
            data = r.data_source.data
            for col in ("shot", "act"):
                if col in data:
                    src = r.data_source
                    tappable.append(r)
                    src.selected.on_change("indices", lambda _a, _o, new, src=src, col=col:
                                           self._chart_tap(col, src, new))
        tools = list(fig.select(type=TapTool))
        if not tools:
            fig.add_tools(TapTool())
            tools = list(fig.select(type=TapTool))
        for t in tools:  # HoloViews gives each element's tap only its own renderer
            t.renderers = tappable

    def _chart_tap(self, col: str, src, indices: list[int]) -> None:
        if not indices:
            return
        value = str(src.data[col][indices[0]])
        guarded(self.form, lambda: self.chart_gesture(col, value))

    def chart_gesture(self, kind: str, target: str) -> str:
        """One tap on the chart: ``kind`` "shot" or "act". The first shot tapped is picked;
        the next tap moves it (onto a shot: to its place; onto an act: to its end)."""
        armed = self._armed
        if kind == "shot" and (armed is None or armed == target):
            self._armed = target
            self.select(target)
            self.chart_hint.value = (f"<b class='studio-chart-armed' data-shot='{target}'>"
                                     f"{html.escape(target)}</b> picked: tap a shot to put it "
                                     "there, or an act's band to end that act with it")
            return f"picked {target}"
        if armed is None:
            return "pick a shot first"
        self._armed = None
        self.chart_hint.value = CHART_HINT
        sb = self.storyboard
        if kind == "act":
            new = bay.move_shot(sb, armed, act=target)
            return self._apply(new, f"moved {armed} to the end of {target}; storyboard saved")
        act = next(a for a in sb.acts if any(s.id == target for s in a.shots))
        index = [s.id for s in act.shots].index(target)
        new = bay.move_shot(sb, armed, act=act.id, index=index)
        return self._apply(new, f"moved {armed} to {target}'s place; storyboard saved")

    # -- selection, moves --------------------------------------------------------------
    def select(self, shot_id: str) -> None:
        if shot_id == self.selected:
            return
        self.selected = shot_id
        if self.shot_pick.value != shot_id:
            self.shot_pick.value = shot_id
        self._draw_strip()
        self._fill_editor()
        self._fill_review()

    def _apply(self, new: Storyboard, what: str) -> str:
        bay.save(self.project, new)
        self.refresh()
        if self.chart:
            threading.Thread(target=self._draw_charts, daemon=True).start()
        return what

    def _step(self, delta: int) -> None:
        sid = self.selected
        if sid:
            guarded(self.form, lambda: self._apply(bay.step_shot(self.storyboard, sid, delta),
                                                   f"moved {sid} {'left' if delta < 0 else 'right'}"
                                                   "; storyboard saved"))

    def _move_to_act(self) -> None:
        sid, act = self.selected, self.act_pick.value
        if sid and act:
            guarded(self.form, lambda: self._apply(bay.move_shot(self.storyboard, sid, act=act),
                                                   f"moved {sid} to {act}; storyboard saved"))

    # -- editor ------------------------------------------------------------------------
    def _fill_editor(self) -> None:
        if not self.selected:
            return
        s = self.storyboard.shot(self.selected)
        if s.scene not in self.e_scene.options:
            self.e_scene.options = sorted({*self.e_scene.options, s.scene})
        self.e_scene.value = s.scene
        self.e_chars.value = ", ".join(s.character_ids)
        self.e_action.value = s.action
        self.e_dialogue.value = "\n".join(f"{d.character}: {d.text}" for d in s.dialogue)
        self.e_duration.value = s.duration_s
        self.e_engine.value = s.engine or ""
        self.e_angle.value = s.camera.angle.value
        self.e_move.value = s.camera.movement.type.value
        self.e_dir.value = s.camera.movement.direction.value if s.camera.movement.direction \
            else ""
        self.e_speed.value = s.camera.movement.speed
        self.form.clear()

    def editor_changes(self) -> dict[str, Any]:
        s = self.storyboard.shot(self.selected or "")
        old_cast = {c.character: c.model_dump(mode="json", exclude_none=True)
                    for c in s.characters}
        cast = [old_cast.get(c, {"character": c}) for c in
                (x.strip() for x in self.e_chars.value.split(",")) if c]
        old_lines = {(d.character, d.text): d.model_dump(mode="json", exclude_none=True)
                     for d in s.dialogue}
        lines = []
        for raw in self.e_dialogue.value.splitlines():
            if not raw.strip():
                continue
            who, sep, text = raw.partition(":")
            if not sep:
                raise StudioError(f"dialogue line {raw!r} has no speaker", field="dialogue",
                                  hint="write 'character: line'")
            key = (who.strip(), text.strip())
            lines.append(old_lines.get(key, {"character": key[0], "text": key[1]}))
        movement = {"type": self.e_move.value, "speed": self.e_speed.value,
                    "direction": self.e_dir.value or None}
        return {"scene": self.e_scene.value, "characters": cast, "action": self.e_action.value,
                "dialogue": lines, "duration_s": self.e_duration.value,
                "engine": self.e_engine.value.strip() or None,
                "camera": {"angle": self.e_angle.value, "movement": movement}}

    def _save_shot(self) -> str:
        sid = self.selected or ""
        path = self.project.episode(self.episode).storyboard_path
        try:
            new = bay.update_shot(self.storyboard, sid, self.editor_changes(), path)
            return self._apply(new, f"saved {sid}")
        except StudioError as err:
            for p in err.problems:  # beside the control: acts.N.shots.M.<field>
                p.field = bay.shot_field_loc(p.field)
                if p.field == "camera.movement":  # the movement's direction check
                    p.field = "camera.movement.direction"
            raise

    # -- review ------------------------------------------------------------------------
    def _fill_review(self) -> None:
        if not self.selected:
            return
        r = bay.shot_review(self.project, self.episode, self.selected)
        self._review_state = r
        colour = STATE_COLOURS.get(r.state, "#757575")
        who = f" by {html.escape(r.who or '')}: {html.escape(r.why or '')}" if r.who else ""
        self.take_html.value = (
            f"<div class='studio-take-state' style='color:{colour}'><b>{r.state}</b>{who}</div>"
            f"<div style='font-size:11px'>take {html.escape((r.take or 'none')[:16])}</div>"
            + _video_html(r.take_path, "studio-take-video"))
        if r.scores:
            rows = "".join(
                f"<tr style='color:{'#c62828' if r_['passed'] == 0 else 'inherit'}'>"
                f"<td>{html.escape(r_['metric'])}</td><td>{r_['score']:.3f}</td>"
                f"<td>{(r_['threshold'] or 0):.3f}</td>"
                f"<td>{'pass' if r_['passed'] else 'FAIL'}</td></tr>" for r_ in r.scores)
            fails = ("<div class='studio-qc-failures' style='color:#c62828'>failed: "
                     + html.escape("; ".join(r.failures)) + "</div>") if r.failures else ""
            self.scores_html.value = ("<table class='studio-qc-table'><tr><th>metric</th>"
                                      "<th>score</th><th>threshold</th><th></th></tr>"
                                      + rows + "</table>" + fails)
        else:
            self.scores_html.value = "<i>no QC scores yet</i>"
        imgs = []
        for p in r.references[:4]:
            try:
                imgs.append(f"<img src='{_b64png(p.read_bytes())}' height=60 "
                            f"title='{html.escape(p.name)}'>")
            except OSError:
                continue
        scene = r.scene_frame
        self.refs_html.value = ("<div class='studio-refs'>checked against: " + "".join(imgs)
                                + (f" <img src='{_b64png(scene)}' height=60 title='scene frame'>"
                                   if scene else "") + "</div>")

    def _review(self, action: str) -> None:
        sid = self.selected
        if not sid:
            return

        def run() -> str:
            st = bay.review(self.project, self.episode, sid, action, who=self.who.value,
                            why=self.why.value)
            self.why.value = ""
            self.refresh()
            return f"{sid}: {st.state.value} by {st.who}"

        ok = guarded(self.form, run)
        self.review_msg.value = self.form.general.value
        if not ok:
            self.review_msg.value = self.form.general.value

    # -- player ------------------------------------------------------------------------
    def _draw_player(self, seek: bool = False, keep: bool = False) -> None:
        if keep and not self._player_ready:
            return  # the pickers are being filled
        src = bay.player_sources(self.project, self.episode)
        start = src.record_times.get(self.selected or "", 0.0) if seek else 0.0
        self._player_ready = False
        try:
            names = [(f"{lang} ({'original' if n == 0 else 'dub'})", n)
                     for n, lang in enumerate(src.audio_tracks)]
            keep_a = self.audio_pick.value
            self.audio_pick.options = names
            if names:
                self.audio_pick.value = keep_a if keep_a in [n for _l, n in names] else 0
            caps = [("off", "")] + [(lang, lang) for lang in sorted(src.captions)]
            keep_c = self.caption_pick.value
            self.caption_pick.options = caps
            self.caption_pick.value = (keep_c if keep_c in [c for _l, c in caps]
                                       else (caps[1][1] if len(caps) > 1 else ""))
        finally:
            self._player_ready = True
        video = src.master
        audio = None
        if video is not None and src.audio_tracks:
            n = self.audio_pick.value or 0
            audio = src.audio_tracks[n]
            try:
                video = bay.master_with_audio(self.project, video, n)
            except StudioError as err:
                self.form.show(err)
        self.player.value = (
            _video_html(video, "studio-player", start, src.captions,
                        caption=self.caption_pick.value, audio=audio)
            + f"<div style='font-size:11px'>audio: "
            f"{html.escape(', '.join(src.audio_tracks) or 'none')}; captions: "
            f"{html.escape(', '.join(sorted(src.captions)) or 'none')}</div>")
