"""Distribution Hub: choose platforms, preview each deliverable's framing side by side (the
crop drawn on a still of every shot, the cropped picture and a crop plot per shot), pick a
thumbnail per platform (optionally with a title drawn on it, clear of the faces), choose a
caption language to burn into each platform's video, edit its metadata (title,
description, tags) and publish to a folder. Publishing is refused until Gate C approved
the master; the banner says why. Logic: ``studio_kit.distribution.hub``."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import ipywidgets as w

from studio_kit.distribution import hub
from studio_kit.distribution.platforms import platforms
from studio_kit.errors import StudioError
from studio_kit.project.series_folder import Project

from .common import header, open_project, storyboarded_episodes
from .validation import Form, guarded

PLOT_W, PLOT_H = 220, 70
GATE_COLOURS = {"approved": "#1b5e20", "open": "#b26a00", "rejected": "#b00020",
                "reopened": "#b00020", "no master": "#b00020"}


def _png_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def crop_plot_svg(fr: hub.Framing, s: hub.ShotFraming) -> str:
    """One shot's crop over time: the crop window (band) and the subject's box (lines), in
    master x (vertical) against time (horizontal)."""
    if not s.t:
        return ""
    t0, t1 = s.t[0], max(s.t[-1], s.t[0] + 1e-6)

    def px(t: float, x: float) -> str:
        return f"{(t - t0) / (t1 - t0) * (PLOT_W - 2) + 1:.1f},{x / fr.width * (PLOT_H - 2) + 1:.1f}"

    band = " ".join(px(t, x) for t, x in zip(s.t, s.crop_left, strict=True))
    band += " " + " ".join(px(t, x) for t, x in reversed(list(zip(s.t, s.crop_right,
                                                                  strict=True))))
    lines = []
    for side in (s.subject_left, s.subject_right):
        pts = [px(t, x) for t, x in zip(s.t, side, strict=True) if x is not None]
        if pts:
            lines.append(f"<polyline points='{' '.join(pts)}' fill='none' stroke='#0288d1' "
                         "stroke-width='1.5'/>")
    return (f"<svg class='studio-crop-svg' width='{PLOT_W}' height='{PLOT_H}' "
            f"viewBox='0 0 {PLOT_W} {PLOT_H}' style='background:#fafafa;border:1px solid #ccc'>"
            f"<polygon points='{band}' fill='#fbc02d' fill-opacity='0.45' stroke='#f57f17'/>"
            + "".join(lines) + "</svg>")


def framing_html(frames: list[tuple[hub.Framing, list[hub.FramingStill]]]) -> str:
    """Shots as rows, platforms as columns: the master still with the crop drawn, what the
    platform shows, and the shot's crop plot."""
    if not frames:
        return "<i>choose a platform to preview its framing</i>"
    heads = "".join(f"<th>{html.escape(fr.label)} <span style='color:#666'>{fr.aspect}"
                    f"{' reframed' if fr.reframed else ''}</span></th>" for fr, _ in frames)
    shot_ids = [s.shot_id for s in frames[0][0].shots]
    rows = []
    for sid in shot_ids:
        cells = []
        for fr, stills in frames:
            st = next((x for x in stills if x.shot_id == sid), None)
            sh = next((x for x in fr.shots if x.shot_id == sid), None)
            if st is None or sh is None:
                cells.append("<td></td>")
                continue
            cells.append(
                f"<td class='studio-framing-cell' data-platform='{fr.platform}' "
                f"data-shot='{html.escape(sid)}' style='vertical-align:top;padding:4px'>"
                f"<img class='studio-framing-master' src='{_png_url(st.master_png)}'> "
                f"<img class='studio-framing-crop' src='{_png_url(st.crop_png)}'>"
                f"<div class='studio-crop-plot' data-platform='{fr.platform}' "
                f"data-shot='{html.escape(sid)}'>{crop_plot_svg(fr, sh)}</div></td>")
        rows.append(f"<tr><th style='font-family:monospace;font-size:11px'>{html.escape(sid)}"
                    f"</th>{''.join(cells)}</tr>")
    return (f"<table class='studio-framing-table'><thead><tr><th>shot</th>{heads}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
            "<div style='font-size:11px;color:#555'>yellow: the crop window over the shot "
            "(master x against time); blue: the subject's box</div>")


class DistributionHub(w.VBox):
    def __init__(self, project: Project | str | Path | None = None, episode: str | None = None
                 ) -> None:
        self.project = project if isinstance(project, Project) else open_project(project)
        eps = storyboarded_episodes(self.project)
        self.episode = episode or eps[0]
        self.form = Form()
        self.gate = w.HTML("")
        self.gate.add_class("studio-gate-c")
        self.gate_btn = w.Button(description="check Gate C again")
        self.gate_btn.add_class("studio-gate-refresh")
        self.gate_btn.on_click(lambda _b: self._draw_gate())
        state = hub.load_state(self.project, self.episode)
        self.checks: dict[str, w.Checkbox] = {}
        for name, spec in platforms().items():
            cb = w.Checkbox(value=name in state.platforms, indent=False,
                            description=f"{spec.label} ({spec.aspect_label})",
                            layout=w.Layout(width="210px"))
            cb.add_class(f"studio-platform-{name}")
            cb.observe(lambda _c: guarded(self.form, self._platforms_changed), "value")
            self.checks[name] = cb
        self.framing = w.HTML("")
        self.framing.add_class("studio-framing")
        self.pick = w.Dropdown(description="platform", layout=w.Layout(width="300px"))
        self.pick.add_class("studio-hub-platform")
        self.pick.observe(lambda _c: guarded(self.form, self._draw_choices), "value")
        self.thumbs = w.HTML("")
        self.thumbs.add_class("studio-thumb-candidates")
        self.thumb_pick = w.ToggleButtons(options=[], style={"button_width": "150px"})
        self.thumb_pick.add_class("studio-thumb-pick")
        self.thumb_pick.observe(lambda c: guarded(self.form, lambda: self._thumb(c["new"])),
                                "value")
        self.burn = w.Dropdown(description="burn in", options=[("none (sidecars)", "")],
                               value="", layout=w.Layout(width="300px"))
        self.burn.add_class("studio-burn-in")
        self.burn.observe(lambda c: guarded(self.form, lambda: self._burn(c["new"])), "value")
        self.thumb_title = w.Text(placeholder="title drawn on the thumbnail (optional)",
                                  layout=w.Layout(width="360px"))
        self.thumb_title.add_class("studio-thumb-title")
        self.thumb_title_btn = w.Button(description="Apply title")
        self.thumb_title_btn.add_class("studio-thumb-title-apply")
        self.thumb_title_btn.on_click(lambda _b: guarded(self.form, self._apply_title))
        self.thumb_preview = w.HTML("")
        self.thumb_preview.add_class("studio-thumb-title-preview")
        f = self.form
        self.title = w.Text(layout=w.Layout(width="460px"))
        self.title.add_class("studio-meta-title")
        self.description = w.Textarea(layout=w.Layout(width="460px", height="70px"))
        self.description.add_class("studio-meta-description")
        self.tags = w.Text(placeholder="comma separated", layout=w.Layout(width="460px"))
        self.tags.add_class("studio-meta-tags")
        self.save = w.Button(description="Save metadata", button_style="primary")
        self.save.add_class("studio-save-metadata")
        self.save.on_click(lambda _b: guarded(self.form, self._save_metadata))
        self.dest = w.Text(description="publish to", placeholder="folder",
                           value=str(self.project.root / "out" / "published" / self.episode),
                           layout=w.Layout(width="560px"))
        self.dest.add_class("studio-publish-dest")
        from studio_kit.registry import PUBLISHERS

        self.via = w.Dropdown(description="through", options=PUBLISHERS.names(),
                              value="folder", layout=w.Layout(width="220px"))
        self.via.add_class("studio-publisher")
        self.endpoint = w.Text(description="endpoint", placeholder="upload API URL (plugins)",
                               layout=w.Layout(width="420px"))
        self.endpoint.add_class("studio-publish-endpoint")
        self.publish_btn = w.Button(description="Publish", button_style="success")
        self.publish_btn.add_class("studio-publish")
        self.publish_btn.on_click(lambda _b: self._publish())
        self.result = w.HTML("")
        self.result.add_class("studio-publish-result")
        super().__init__([
            w.HTML(header("Distribution Hub", f"{self.project.series.title}, episode "
                                              f"{self.episode}")),
            w.HBox([self.gate, self.gate_btn]),
            w.HTML("<h3>Platforms</h3>"),
            w.GridBox(list(self.checks.values()),
                      layout=w.Layout(grid_template_columns="repeat(4, 220px)")),
            self.form.general,
            w.HTML("<h3>Framing</h3>"), self.framing,
            w.HTML("<h3>Thumbnail and metadata</h3>"), self.pick,
            self.thumbs, self.thumb_pick,
            w.HBox([self.thumb_title, self.thumb_title_btn]), self.thumb_preview,
            w.HBox([self.burn, w.HTML("<span style='font-size:11px;color:#555'>captions "
                                      "burned into this platform's video, clear of the "
                                      "face</span>")]),
            f.field("title", self.title, "title"),
            f.field("description", self.description, "description"),
            f.field("tags", self.tags, "tags"),
            self.save,
            w.HTML("<h3>Publish</h3>"), w.HBox([self.via, self.dest, self.publish_btn]),
            w.HBox([self.endpoint, w.HTML("<span style='font-size:11px;color:#555'>upload "
                                          "plugins read their API token from the server's "
                                          "environment (e.g. STUDIO_UPLOAD_TOKEN), never from "
                                          "this page</span>")]),
            self.result,
        ])
        self.add_class("studio-distribution-hub")
        self._draw_gate()
        guarded(self.form, self._draw_all)

    # -- drawing -------------------------------------------------------------------------
    @property
    def chosen(self) -> list[str]:
        return [n for n, cb in self.checks.items() if cb.value]

    def _draw_gate(self) -> hub.GateView:
        v = hub.gate_view(self.project, self.episode)
        colour = GATE_COLOURS.get(v.state, "#b00020")
        verdict = "may be published" if v.can_publish else "publishing is refused"
        self.gate.value = (f"<div class='studio-gate-state studio-gate-{v.state.replace(' ', '-')}'"
                           f" style='border-left:6px solid {colour};padding:4px 8px'>"
                           f"<b style='color:{colour}'>Gate C: {html.escape(v.state)}, "
                           f"{verdict}</b><div style='font-size:12px'>{html.escape(v.message)}"
                           "</div></div>")
        self.publish_btn.disabled = False  # a click re-checks and shows the refusal
        return v

    def _draw_all(self) -> None:
        try:
            self.src = hub.source(self.project, self.episode)
        except StudioError as err:
            self.src = None
            self.framing.value = f"<span class='studio-error'>{html.escape(str(err))}</span>"
            return
        frames = []
        for name in self.chosen:
            fr = hub.framing(self.project, self.episode, name, self.src)
            frames.append((fr, hub.framing_stills(self.project, self.episode, fr, self.src)))
        self.framing.value = framing_html(frames)
        keep = self.pick.value
        self.pick.options = [(platforms()[n].label, n) for n in self.chosen]
        if self.chosen:
            self.pick.value = keep if keep in self.chosen else self.chosen[0]
        self._draw_choices()

    def _platforms_changed(self) -> str:
        hub.choose_platforms(self.project, self.episode, self.chosen)
        self._draw_all()
        return f"platforms: {', '.join(self.chosen) or 'none'}"

    def _draw_choices(self) -> None:
        name = self.pick.value
        if not name or self.src is None:
            self.thumbs.value, self.thumb_pick.options = "", []
            self.thumb_preview.value = ""
            return
        cands = hub.thumbnail_candidates(self.project, self.episode, name, src=self.src)
        state = hub.load_state(self.project, self.episode)
        choice = state.choices.get(name, hub.PlatformChoice())
        chosen = choice.thumbnail_frame if choice.thumbnail_frame is not None else (
            cands[0].frame if cands else None)
        cards = []
        for c in cands:
            sel = "outline:3px solid #fbc02d;" if c.frame == chosen else ""
            cards.append(f"<div class='studio-thumb-card' data-frame='{c.frame}' "
                         f"style='display:inline-block;margin:3px;font-size:11px;{sel}'>"
                         f"<img src='{_png_url(Path(c.path).read_bytes())}' height='96'>"
                         f"<div>{html.escape(c.shot_id)} @ {c.time_s:.2f}s, score "
                         f"{c.score:.1f}</div></div>")
        self.thumbs.value = "".join(cards) or "<i>no thumbnail candidate</i>"
        self._quiet = True
        try:
            self.thumb_pick.options = [(f"frame {c.frame}", c.frame) for c in cands]
            self.thumb_pick.value = chosen
            langs = hub.caption_languages(self.project, self.episode)
            self.burn.options = [("none (sidecars)", "")] + [(lang, lang) for lang in langs]
            self.burn.value = choice.burn_captions if choice.burn_captions in langs else ""
            self.thumb_title.value = choice.thumbnail_title or ""
        finally:
            self._quiet = False
        self._draw_title_preview(choice.thumbnail_title, chosen)
        meta = choice.metadata
        if meta is None:
            from studio_kit.distribution.metadata import build_metadata

            gen = build_metadata(self.project, self.episode, name, self.src.tl(),
                                 self.src.render, duration_s=self.src.tl().duration_s,
                                 captions={}, thumbnails=[])
            meta = hub.MetadataEdit(title=gen.title[:hub.MAX_TITLE],
                                    description=gen.description[:hub.MAX_DESCRIPTION],
                                    tags=gen.tags)
        self.title.value, self.description.value = meta.title, meta.description
        self.tags.value = ", ".join(meta.tags)

    def _thumb(self, frame: int | None) -> str | None:
        if getattr(self, "_quiet", False) or frame is None or not self.pick.value:
            return None
        hub.choose_thumbnail(self.project, self.episode, self.pick.value, frame)
        self._draw_choices()
        return f"thumbnail for {self.pick.value}: frame {frame}"

    def _draw_title_preview(self, title: str | None, frame: int | None) -> None:
        if not title or frame is None or not self.pick.value:
            self.thumb_preview.value = ""
            return
        png = hub.titled_preview(self.project, self.episode, self.pick.value, frame, title,
                                 src=self.src)
        self.thumb_preview.value = (f"<img class='studio-thumb-titled' src='{_png_url(png)}' "
                                    f"height='160' title='{html.escape(title)}'>")

    def _burn(self, language: str) -> str | None:
        if getattr(self, "_quiet", False) or not self.pick.value:
            return None
        hub.choose_burn_in(self.project, self.episode, self.pick.value, language or None)
        return (f"{self.pick.value}: {language} captions burned in" if language
                else f"{self.pick.value}: captions as sidecars only")

    def _apply_title(self) -> str:
        name = self.pick.value
        if not name:
            raise StudioError("choose a platform first", field="platforms",
                              hint="tick at least one platform")
        text = self.thumb_title.value.strip() or None
        state = hub.set_thumbnail_title(self.project, self.episode, name, text)
        choice = state.choices[name]
        self._draw_title_preview(choice.thumbnail_title, self.thumb_pick.value)
        return (f"thumbnail title for {name} saved" if text
                else f"thumbnail title for {name} removed")

    def _save_metadata(self) -> str:
        name = self.pick.value
        if not name:
            raise StudioError("choose a platform first", field="platforms",
                              hint="tick at least one platform")
        hub.edit_metadata(self.project, self.episode, name, title=self.title.value,
                          description=self.description.value, tags=self.tags.value)
        return f"metadata for {name} saved"

    def _publish(self) -> None:
        self.result.value = "<i>publishing...</i>"
        out: dict = {}

        def run() -> str:
            via = self.via.value
            opts = ({"dest": self.dest.value.strip()} if via == "folder"
                    else {"endpoint": self.endpoint.value.strip()})
            receipt = hub.publish_episode(self.project, self.episode, via, **opts)
            out["receipt"] = receipt
            return f"published through {via} to {receipt.target}"

        ok = guarded(self.form, run)
        self._draw_gate()
        if not ok:
            self.result.value = ("<div class='studio-publish-refused' style='color:#b00020'>"
                                 f"{self.form.general.value}</div>")
            return
        r = out["receipt"]
        rows = "".join(
            f"<li>{html.escape(str(i.get('platform')))}: "
            + (f"{html.escape(i['role'])} <code>{html.escape(i['path'])}</code>" if "role" in i
               else f"<code>{html.escape(str(i.get('id')))}</code> "
                    f"{html.escape(str(i.get('url') or ''))}") + "</li>" for i in r.items)
        self.result.value = (f"<div class='studio-ok' style='color:#1b5e20'>published to "
                             f"<code>{html.escape(r.target)}</code></div><ul>{rows}</ul>")
