"""Feature Bay: pick rendered episodes across series into a feature (``features/<id>.yaml``),
see its running time against the format and its act / mood arc (HoloViews), reorder the
sources, add chapter cards, preview the credits and export with a progress bar.
Logic: ``studio_kit.feature.bay``; every edit is saved to the feature file at once."""

from __future__ import annotations

import html
import threading
from pathlib import Path

import ipywidgets as w

from studio_kit.audio.music import known_moods
from studio_kit.errors import StudioError
from studio_kit.feature import bay
from studio_kit.models.feature import Drop, Feature, FeatureFormat
from studio_kit.progress import ProgressEvent

from .common import header
from .validation import Form, guarded

STATUS_COLOURS = {"ok": "#2e7d32", "under": "#ef6c00", "over": "#c62828"}
MOODS = ["", *known_moods()]  # "": the episode's own mood


def _cls(widget: w.Widget, name: str) -> w.Widget:
    widget.add_class(name)
    return widget


class FeatureBay(w.VBox):
    def __init__(self, root: str | Path, feature: str | None = None, *,
                 chart: bool = True) -> None:
        self.root = Path(root).resolve()
        self.chart = chart
        self.form = Form()
        self.library = bay.rendered_episodes(self.root)
        self.feature: Feature | None = None
        self._loaded: Feature | None = None  # as last read from / written to disk
        self._exporting = False
        self._spans: dict[str, tuple[float, float]] = {}  # the export's stages on its bar
        self._chart_lock = threading.Lock()
        self._segs: list[bay.ArcSegment] = []
        self._missing: set[str] = set()

        # the library of rendered episodes, across series
        self.lib_pick = _cls(w.SelectMultiple(rows=min(10, max(3, len(self.library))),
                                              layout=w.Layout(width="820px")),
                             "studio-library")
        self.add_btn = _cls(w.Button(description="add to feature"), "studio-add-sources")
        self.add_btn.on_click(lambda _b: self._edit(self._add_selected))
        self.refresh_btn = _cls(w.Button(description="refresh (renders, Gate C)"),
                                "studio-refresh-library")
        self.refresh_btn.on_click(lambda _b: guarded(self.form, self._refresh_library))
        self.new_id = _cls(w.Text(placeholder="id, e.g. tales", description="id"),
                           "studio-new-id")
        self.new_title = _cls(w.Text(placeholder="Tales of the Coast", description="title"),
                              "studio-new-title")
        self.new_format = _cls(w.Dropdown(options=[f.value for f in FeatureFormat],
                                          value="anthology", description="format"),
                               "studio-new-format")
        self.new_short = _cls(w.Checkbox(value=False, description="allow short (draft)"),
                              "studio-new-allow-short")
        self.create_btn = _cls(w.Button(description="create feature from selection",
                                        button_style="primary"), "studio-create-feature")
        self.create_btn.on_click(lambda _b: guarded(self.form, self._create))

        # the feature
        self.feature_pick = _cls(w.Dropdown(description="Feature"), "studio-feature-pick")
        self.feature_pick.observe(lambda c: self._open(c["new"]) if c["new"] else None, "value")
        self.format_pick = _cls(w.Dropdown(options=[f.value for f in FeatureFormat],
                                           description="format"), "studio-format")
        self.format_pick.observe(lambda c: self._set_format(c["new"]), "value")
        self.running = _cls(w.HTML(""), "studio-running-time")
        self.sources_html = _cls(w.HTML(""), "studio-sources")
        self.source_pick = _cls(w.Dropdown(description="source",
                                           layout=w.Layout(width="360px")), "studio-source-pick")
        self.source_pick.observe(lambda _c: self._fill_source(), "value")
        self.up_btn = _cls(w.Button(description="▲ earlier"), "studio-source-up")
        self.down_btn = _cls(w.Button(description="▼ later"), "studio-source-down")
        self.remove_btn = _cls(w.Button(description="remove"), "studio-source-remove")
        self.up_btn.on_click(lambda _b: self._edit(lambda f: self._move(f, -1)))
        self.down_btn.on_click(lambda _b: self._edit(lambda f: self._move(f, 1)))
        self.remove_btn.on_click(lambda _b: self._edit(
            lambda f: (bay.remove_source(f, self._index()), "source removed")))
        self.act = _cls(w.BoundedIntText(min=1, max=99, value=1, description="act",
                                         layout=w.Layout(width="150px")), "studio-source-act")
        self.mood = _cls(w.Dropdown(options=MOODS, description="mood",
                                    layout=w.Layout(width="220px")), "studio-source-mood")
        self.drop = _cls(w.SelectMultiple(options=[d.value for d in Drop], rows=3,
                                          description="drop", layout=w.Layout(width="240px")),
                         "studio-source-drop")
        self.apply_btn = _cls(w.Button(description="set act / mood / drop"),
                              "studio-source-apply")
        self.apply_btn.on_click(lambda _b: self._edit(self._apply_source))
        self.card_text = _cls(w.Text(placeholder="Part Two", description="card"),
                              "studio-card-text")
        self.card_seconds = _cls(w.BoundedFloatText(value=3.0, min=0.1, max=30, step=0.5,
                                                    description="seconds",
                                                    layout=w.Layout(width="180px")),
                                 "studio-card-seconds")
        self.card_btn = _cls(w.Button(description="add card before source"),
                             "studio-add-card")
        self.card_btn.on_click(lambda _b: self._edit(self._add_card))
        self.uncard_btn = _cls(w.Button(description="remove its card"), "studio-remove-card")
        self.uncard_btn.on_click(lambda _b: self._edit(
            lambda f: (bay.remove_card(f, self._index()), "card removed")))
        self.acts_html = _cls(w.HTML(""), "studio-acts")
        self.chart_box = _cls(w.VBox([]), "studio-arc-chart")

        # credits and export
        self.credits_btn = _cls(w.Button(description="preview credits"),
                                "studio-preview-credits")
        self.credits_btn.on_click(lambda _b: guarded(self.form, self._preview_credits))
        self.credits_html = _cls(w.HTML(""), "studio-credits-box")
        self.ex_prores = _cls(w.Checkbox(value=False, description="ProRes 422 HQ master"),
                              "studio-export-prores")
        self.ex_dcp = _cls(w.Checkbox(value=False, description="DCP (24 fps sources)"),
                           "studio-export-dcp")
        self.ex_sign = _cls(w.Checkbox(value=True, description="C2PA-sign the MP4"),
                            "studio-export-sign")
        self.ex_draft = _cls(w.Checkbox(value=False, description="draft: accept masters "
                                        "not approved at Gate C"), "studio-export-draft")
        self.export_btn = _cls(w.Button(description="Export", button_style="success"),
                               "studio-export")
        self.export_btn.on_click(lambda _b: self._start_export())
        self.progress = _cls(w.FloatProgress(value=0.0, min=0.0, max=1.0,
                                             description="export"), "studio-export-progress")
        self.export_status = _cls(w.HTML(""), "studio-export-status")
        self.export_result = _cls(w.HTML(""), "studio-export-result")

        super().__init__([
            w.HTML(header("Feature Bay", f"{self.root} · {len(self.library)} rendered "
                          f"episodes in {len({e.series for e in self.library})} series")),
            w.HTML("<h3>Rendered episodes</h3>"),
            self.lib_pick,
            w.HBox([self.add_btn, self.refresh_btn]),
            w.HBox([self.new_id, self.new_title, self.new_format, self.new_short,
                    self.create_btn]),
            self.form.general,
            w.HTML("<h3>Feature</h3>"),
            w.HBox([self.feature_pick, self.format_pick]),
            self.running,
            self.sources_html,
            w.HBox([self.source_pick, self.up_btn, self.down_btn, self.remove_btn]),
            w.HBox([self.act, self.mood, self.drop, self.apply_btn]),
            w.HBox([self.card_text, self.card_seconds, self.card_btn, self.uncard_btn]),
            w.HTML("<h3>Acts and mood arc</h3>"), self.acts_html, self.chart_box,
            w.HTML("<h3>Credits</h3>"), self.credits_btn, self.credits_html,
            w.HTML("<h3>Export</h3>"),
            w.HBox([self.ex_prores, self.ex_dcp, self.ex_sign, self.ex_draft]),
            w.HBox([self.export_btn, self.progress, self.export_status]),
            self.export_result,
        ])
        self.add_class("studio-feature-bay")
        if chart:
            from .command_center import load_bokehjs

            load_bokehjs()  # BokehJS in the page before any chart widget
        self._chart_ready = False  # the first chart is drawn once the cell has run
        self.lib_pick.options = [(e.label, e.key) for e in self.library]
        ids = bay.list_features(self.root)
        self._guard_pick = True
        self.feature_pick.options = ids
        self._guard_pick = False
        if ids:
            self._open(feature if feature in ids else ids[0])
        else:
            self._draw()
        if chart:
            self._after_cell(self._first_chart)

    def _after_cell(self, fn) -> None:
        """Run ``fn`` once the notebook cell that built the surface has finished (its
        widgets are displayed by then); at once outside IPython."""
        try:
            from IPython import get_ipython

            ip = get_ipython()
        except ImportError:
            ip = None
        if ip is None:
            fn()
            return

        def once(*_a: object) -> None:
            ip.events.unregister("post_run_cell", once)
            fn()

        ip.events.register("post_run_cell", once)

    def _first_chart(self) -> None:
        self._chart_ready = True
        if self.feature is not None:
            self._draw()

    # -- data ----------------------------------------------------------------------------
    def _selected_episodes(self) -> list[bay.RenderedEpisode]:
        by_key = {e.key: e for e in self.library}
        return [by_key[k] for k in self.lib_pick.value if k in by_key]

    def _index(self) -> int:
        if self.source_pick.value is None:
            raise StudioError("pick a source first", field="sources")
        return int(self.source_pick.value)

    def _open(self, feature_id: str) -> None:
        if getattr(self, "_guard_pick", False):
            return

        def run() -> str:
            self.feature = self._loaded = bay.load(self.root, feature_id)
            self._draw()
            return f"opened features/{feature_id}.yaml"

        guarded(self.form, run)

    def _save(self, new: Feature, what: str) -> str:
        path = bay.save(self.root, new, base=self._loaded)
        self.feature = self._loaded = bay.load(self.root, new.id)
        return f"{what}; saved {path.relative_to(self.root)}"

    def _edit(self, fn) -> None:
        """Apply ``fn(feature) -> (new feature, message)``, save it, redraw."""
        def run() -> str:
            if self.feature is None:
                raise StudioError("no feature yet", field="sources",
                                  hint="pick episodes above and create a feature")
            keep = self.source_pick.value
            new, what = fn(self.feature)
            msg = self._save(new, what)
            self._draw(select=getattr(self, "_select_next", keep))
            self.__dict__.pop("_select_next", None)
            return msg

        guarded(self.form, run)

    # -- actions -------------------------------------------------------------------------
    def _refresh_library(self) -> str:
        keep = self.lib_pick.value
        self.library = bay.rendered_episodes(self.root)
        self.lib_pick.options = [(e.label, e.key) for e in self.library]
        self.lib_pick.value = tuple(k for k in keep if k in {e.key for e in self.library})
        if self.feature is not None:
            self._draw()
        approved = sum(e.gate_c == "approved" for e in self.library)
        return f"{len(self.library)} rendered episodes, {approved} approved at Gate C"

    def _create(self) -> str:
        fid = self.new_id.value.strip()
        if fid in bay.list_features(self.root):
            raise StudioError(f"features/{fid}.yaml exists already", field="id",
                              hint="pick it in the Feature list, or choose another id")
        new = bay.new_feature(fid, self.new_title.value.strip(), self.new_format.value,
                              self._selected_episodes(), allow_short=self.new_short.value)
        self._loaded = None
        msg = self._save(new, f"created {fid} from {len(new.sources)} episodes")
        self._guard_pick = True
        self.feature_pick.options = bay.list_features(self.root)
        self.feature_pick.value = fid
        self._guard_pick = False
        self._draw(select=0)
        return msg

    def _add_selected(self, f: Feature) -> tuple[Feature, str]:
        eps = self._selected_episodes()
        if not eps:
            raise StudioError("no episode selected", field="sources",
                              hint="select rendered episodes in the list first")
        self._select_next = len(f.sources)
        return bay.add_sources(f, eps), f"added {', '.join(e.key for e in eps)}"

    def _move(self, f: Feature, delta: int) -> tuple[Feature, str]:
        i = self._index()
        new = bay.move_source(f, i, delta)
        self._select_next = max(0, min(len(f.sources) - 1, i + delta))
        s = f.sources[i]
        return new, f"moved {s.series} {s.episode} {'earlier' if delta < 0 else 'later'}"

    def _apply_source(self, f: Feature) -> tuple[Feature, str]:
        i = self._index()
        new = bay.set_source(f, i, act=int(self.act.value), mood=self.mood.value or None,
                             drop=list(self.drop.value))
        return new, f"source {i + 1}: act {self.act.value}, mood {self.mood.value or '-'}"

    def _add_card(self, f: Feature) -> tuple[Feature, str]:
        i = self._index()
        new = bay.add_card(f, i, self.card_text.value, float(self.card_seconds.value))
        self.card_text.value = ""
        return new, f"card before {f.sources[i].series} {f.sources[i].episode}"

    def _set_format(self, value: str) -> None:
        if getattr(self, "_drawing", False):
            return
        if self.feature is not None and value and value != self.feature.format.value:
            self._edit(lambda f: (f.model_copy(update={"format": FeatureFormat(value)}),
                                  f"format {value}"))

    def _preview_credits(self) -> str:
        if self.feature is None:
            raise StudioError("no feature yet", hint="create a feature first")
        text = bay.credits_preview(self.feature, self.root)
        self.credits_html.value = ("<pre class='studio-credits' style='background:#111;"
                                   "color:#eee;padding:8px;text-align:center'>"
                                   f"{html.escape(text)}</pre>")
        return "credits previewed"

    # -- drawing -------------------------------------------------------------------------
    def _draw(self, select: int | None = None) -> None:
        f = self.feature
        if f is None:
            self.running.value = "<i>no feature yet: select episodes and create one</i>"
            self.sources_html.value = ""
            return
        self._drawing = True
        try:
            self.format_pick.value = f.format.value
        finally:
            self._drawing = False
        tm = bay.timing(f, self.root, self.library)  # once per refresh
        rt = bay.running_time(f, self.root, self.library, timing=tm)
        missing = set(bay.missing_sources(f, self.root, self.library, timing=tm))
        segs = bay.arc(f, self.root, self.library, timing=tm)
        colour = STATUS_COLOURS[rt.status]
        frac = min(1.0, rt.seconds / rt.max_s) if rt.max_s else 0.0
        lo = rt.min_s / rt.max_s if rt.max_s else 0.0
        self.running.value = (
            f"<div class='studio-running' data-status='{rt.status}' data-seconds="
            f"'{rt.seconds}'><b style='color:{colour}'>{html.escape(rt.text())}</b>"
            "<div style='position:relative;width:560px;height:12px;background:#eee;"
            "border:1px solid #999'>"
            f"<div style='position:absolute;left:{lo * 100:.2f}%;right:0;top:0;bottom:0;"
            "background:#c8e6c9'></div>"
            f"<div class='studio-running-bar' style='position:absolute;left:0;top:3px;"
            f"height:6px;width:{max(frac * 100, 0.5):.2f}%;background:{colour}'></div></div>"
            f"<span class='studio-running-parts' data-dropped='{rt.dropped_s}' "
            f"style='font-size:11px'>episodes {rt.episodes_s:.1f} s as cut"
            + (f" ({rt.dropped_s:.1f} s dropped: cold opens, end hooks, recaps)"
               if rt.dropped_s else "")
            + (f" + recaps {rt.recaps_s:.1f} s" if rt.recaps_s else "")
            + f" + title, cards and credits {rt.cards_s:.1f} s</span></div>")
        self._segs, self._missing = segs, missing
        opts = [(f"{i + 1}. {s.series} {s.episode}", i) for i, s in enumerate(f.sources)]
        keep = select if select is not None else self.source_pick.value
        self.source_pick.options = opts
        self.source_pick.value = keep if keep is not None and keep < len(opts) else 0
        self._fill_source()
        self.acts_html.value = ("<table class='studio-act-table'><tr><th>act</th><th>from"
                                "</th><th>to</th><th>parts</th><th>moods</th></tr>" + "".join(
                                    f"<tr data-act='{a['act']}'><td>{a['act']}</td>"
                                    f"<td>{a['start_s']:.1f}</td><td>{a['end_s']:.1f}</td>"
                                    f"<td>{html.escape(', '.join(a['parts']))}</td>"
                                    f"<td>{html.escape(', '.join(a['moods']))}</td></tr>"
                                    for a in bay.acts(segs)) + "</table>")
        if self.chart and self._chart_ready:
            threading.Thread(target=self._draw_chart, args=(segs, rt), daemon=True,
                             name="feature-bay-chart").start()

    def _fill_source(self) -> None:
        f = self.feature
        if f is None or self.source_pick.value is None:
            return
        s = f.sources[int(self.source_pick.value)]
        self.act.value = s.act
        self.mood.value = s.mood if s.mood in MOODS else ""
        self.drop.value = tuple(d.value for d in s.drop)
        self._draw_sources()

    def _draw_sources(self) -> None:
        """The sources table: cards where they go, the selected source highlighted."""
        f, segs, missing = self.feature, self._segs, self._missing
        if f is None:
            return
        cards = {c.before: c for c in f.cards}
        rows = []
        for i, s in enumerate(f.sources):
            card = cards.get(i)
            if card is not None:
                rows.append(f"<tr class='studio-card-row' data-before='{i}'><td></td>"
                            f"<td colspan=4><i>card: {html.escape(card.text)} "
                            f"({card.seconds:g} s)</i></td></tr>")
            seg = next(x for x in segs if x.source == i)
            bad = (" <b class='studio-not-rendered' style='color:#c62828'>not rendered</b>"
                   if f"{s.series} {s.episode}" in missing else "")
            sel = i == self.source_pick.value
            rows.append(f"<tr class='studio-source{' studio-source-selected' if sel else ''}'"
                        f" data-index='{i}' style='{'background:#fff59d' if sel else ''}' "
                        f"data-key='{html.escape(s.series)}/{html.escape(s.episode)}'>"
                        f"<td>{i + 1}</td><td>{html.escape(s.series)} {html.escape(s.episode)}"
                        f"{bad}</td><td>act {s.act}</td><td>{html.escape(seg.mood)}</td>"
                        f"<td>{seg.end_s - seg.start_s:.1f} s</td>"
                        f"<td>{html.escape(', '.join(d.value for d in s.drop))}</td></tr>")
        self.sources_html.value = ("<table class='studio-source-table'><tr><th>#</th>"
                                   "<th>episode</th><th>act</th><th>mood</th><th>length</th>"
                                   "<th>drop</th></tr>" + "".join(rows) + "</table>")

    def _draw_chart(self, segs: list[bay.ArcSegment], rt: bay.RunningTime) -> None:
        with self._chart_lock:
            try:
                import holoviews as hv
                from jupyter_bokeh import BokehModel

                hv.extension("bokeh", logo=False)
                fig = hv.render(bay.arc_plot(segs, rt), backend="bokeh")
                self.chart_box.children = [BokehModel(fig)]
            except Exception as exc:  # shown; the rest of the surface keeps working
                self.chart_box.children = [w.HTML(
                    "<span class='studio-chart-error' style='color:#b00020'>arc chart failed: "
                    f"{html.escape(repr(exc))}</span>")]

    # -- export --------------------------------------------------------------------------
    def _start_export(self) -> None:
        if self._exporting:
            return
        if self.feature is None:
            self.form.show(StudioError("no feature yet", hint="create a feature first"))
            return
        self._exporting = True
        self.export_btn.disabled = True
        from studio_kit.feature.export import stage_spans

        self._spans = stage_spans(prores=self.ex_prores.value, dcp=self.ex_dcp.value)
        self.progress.value = 0.0
        self.progress.bar_style = ""
        self.export_status.value = "starting"
        self.export_result.value = ""
        threading.Thread(target=self._export, args=(self.feature,), daemon=True,
                         name="feature-bay-export").start()

    def _progress(self, ev: ProgressEvent) -> None:
        """The bar is the whole export; the label names the stage and how far it is."""
        stage, fraction = ("done" if ev.status == "done" else ev.stage), ev.fraction
        self.progress.value = max(self.progress.value, min(1.0, float(fraction)))
        lo, hi = self._spans.get(stage, (0.0, 1.0))
        own = min(1.0, max(0.0, (fraction - lo) / (hi - lo))) if hi > lo else 1.0
        self.export_status.value = (
            f"<span class='studio-export-stage' data-stage='{html.escape(stage)}'>"
            f"{html.escape(stage)} {own * 100:.0f}% · export {fraction * 100:.0f}%</span>")

    def _export(self, feature: Feature) -> None:
        try:
            res = bay.export(feature, self.root, prores=self.ex_prores.value,
                             dcp=self.ex_dcp.value, sign=self.ex_sign.value,
                             draft=self.ex_draft.value, progress=self._progress)
            a = res.assembly
            chapters = "".join(f"<li>{c.start_s:.2f} s {html.escape(c.title)}</li>"
                               for c in a.chapters)
            files = [res.mp4, res.prores, res.dcp, *res.captions.values()]
            self.export_result.value = (
                "<div class='studio-export-done'><b>exported</b> "
                f"{a.duration_s:.1f} s, {a.loudness.get('integrated_lufs')} LUFS, "
                f"{len(a.pieces_encoded)} pieces made, {len(a.pieces_reused)} reused"
                "<ul class='studio-export-files'>" + "".join(
                    f"<li>{html.escape(str(p))}</li>" for p in files if p)
                + f"</ul>chapters:<ol class='studio-export-chapters'>{chapters}</ol></div>")
            self.progress.value = 1.0
            self.progress.bar_style = "success"
            self.export_status.value = "<span class='studio-export-stage'>done 100%</span>"
        except StudioError as err:
            self.progress.bar_style = "danger"
            self.export_status.value = ("<span class='studio-export-error' style='color:"
                                        f"#b00020'>{html.escape(str(err))}</span>")
        except Exception as exc:  # shown, never lost in a thread
            self.progress.bar_style = "danger"
            self.export_status.value = ("<span class='studio-export-error' style='color:"
                                        f"#b00020'>export failed: {html.escape(repr(exc))}"
                                        "</span>")
        finally:
            self._exporting = False
            self.export_btn.disabled = False
