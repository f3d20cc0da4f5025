"""Asset Vault: every asset of the project (takes, references, audio layers, masters, pieces)
with a thumbnail or a player, its provenance chain (request, engine call, stages), its cost
from the ledger and where it is used; filters by shot, character, engine, kind and date.
Logic: ``studio_kit.surfaces.asset_vault``."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import ipywidgets as w

from studio_kit.project.series_folder import Project
from studio_kit.surfaces import asset_vault as av

from .common import header, open_project

#: assets shown as cards at once (the rest are reached through the filters)
MAX_CARDS = 48
#: files up to this size are put in the page as data URLs (Voila serves no project files)
MAX_INLINE_BYTES = 32 * 1024 * 1024
ALL = "(all)"


def _png_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _label(a: av.Asset) -> str:
    where = a.shot or (a.stages[0] if a.stages else "")
    return f"{a.kind} {a.digest[:10]} {where}".strip()


def provenance_html(a: av.Asset) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(s.what)}</td><td>{html.escape(s.label)}</td>"
        f"<td><code>{html.escape(', '.join(f'{k}={v}' for k, v in s.detail.items())[:400])}"
        "</code></td></tr>" for s in a.provenance) or "<tr><td colspan=3><i>no record names "\
        "this object (unreferenced: 'studio vault gc' would remove it)</i></td></tr>"
    facts = [("engine", a.engine), ("model", a.model), ("seed", a.seed), ("shot", a.shot),
             ("episode", a.episode), ("characters", ", ".join(a.characters)),
             ("created", a.created), ("size", f"{a.size:,d} B"),
             ("cost", f"{a.cost:.2f} USD" + (" (paid)" if a.paid else "")),
             ("prompt", a.prompt), ("ingredients", ", ".join(a.ingredients))]
    dl = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{html.escape(str(v))}</td></tr>"
                 for k, v in facts if v not in (None, ""))
    used = "".join(f"<li>{html.escape(u)}</li>" for u in a.used_in) or "<li><i>unused</i></li>"
    return (f"<div class='studio-provenance'><h4>{html.escape(_label(a))}</h4>"
            f"<code>{a.digest}</code><table>{dl}</table>"
            f"<h4>Provenance chain</h4><table class='studio-provenance-chain'>{rows}</table>"
            f"<h4>Used in</h4><ul class='studio-used-in'>{used}</ul></div>")


class AssetVault(w.VBox):
    def __init__(self, project: Project | str | Path | None = None) -> None:
        self.project = project if isinstance(project, Project) else open_project(project)
        self.assets = av.asset_index(self.project)
        by = self.assets
        self.f_shot = w.Text(description="shot", placeholder="part of a shot id")
        self.f_char = w.Dropdown(description="character", options=[ALL] + sorted(
            {c for a in by for c in a.characters}))
        self.f_engine = w.Dropdown(description="engine", options=[ALL] + sorted(
            {a.engine for a in by if a.engine}))
        self.f_kind = w.Dropdown(description="kind", options=[ALL] + sorted({a.kind for a in by}))
        self.f_since = w.Text(description="since", placeholder="YYYY-MM-DD")
        for f in (self.f_shot, self.f_char, self.f_engine, self.f_kind, self.f_since):
            f.observe(lambda _c: self.refresh(), "value")
        self.count = w.HTML("")
        self.count.add_class("studio-asset-count")
        self.grid = w.HTML("")
        self.grid.add_class("studio-asset-grid")
        self.pick = w.Dropdown(description="asset", layout=w.Layout(width="520px"))
        self.pick.add_class("studio-asset-pick")
        self.pick.observe(lambda c: self.show(c["new"]) if c["new"] else None, "value")
        self.detail = w.HTML("<i>pick an asset to see where it came from</i>")
        self.detail.add_class("studio-asset-detail")
        self.preview = w.HTML("")
        self.preview.add_class("studio-asset-preview")
        super().__init__([
            w.HTML(header("Asset Vault", self.project.series.title)),
            w.HBox([self.f_shot, self.f_char, self.f_engine]),
            w.HBox([self.f_kind, self.f_since, self.count]),
            self.grid, self.pick,
            w.HBox([self.preview, self.detail]),
        ])
        self.add_class("studio-asset-vault")
        self.refresh()

    def filtered(self) -> list[av.Asset]:
        def val(x: w.Dropdown) -> str | None:
            return None if x.value in (ALL, None) else x.value

        return av.search(self.assets, shot=self.f_shot.value.strip() or None,
                         character=val(self.f_char), engine=val(self.f_engine),
                         kind=val(self.f_kind), since=self.f_since.value.strip() or None)

    def refresh(self) -> None:
        shown = self.filtered()
        self.count.value = (f"<span>{len(shown)} of {len(self.assets)} assets, "
                            f"{sum(a.size for a in shown) / 1e6:.1f} MB</span>")
        cards = []
        for a in shown[:MAX_CARDS]:
            png = av.thumbnail(self.project, a)
            pic = (f"<img class='studio-asset-thumb' src='{_png_url(png)}' width='120'>"
                   if png else f"<div class='studio-asset-icon'>{html.escape(a.media or a.kind)}"
                               "</div>")
            cards.append(f"<div class='studio-asset-card' style='display:inline-block;"
                         f"width:130px;margin:3px;vertical-align:top;font-size:11px'>{pic}"
                         f"<div>{html.escape(_label(a))}</div></div>")
        more = (f"<div><i>{len(shown) - MAX_CARDS} more: narrow the filters</i></div>"
                if len(shown) > MAX_CARDS else "")
        self.grid.value = "".join(cards) + more
        self.pick.options = [("", "")] + [(_label(a), a.digest) for a in shown]

    def show(self, digest: str) -> None:
        a = next(x for x in self.assets if x.digest == digest)
        self.detail.value = provenance_html(a)
        path = self.project.vault().path(a.digest)
        if a.media in ("video", "audio") and path.is_file() \
                and path.stat().st_size <= MAX_INLINE_BYTES:
            with open(path, "rb") as fh:
                boxed = fh.read(8)[4:8] == b"ftyp"
            mime = "video/mp4" if a.media == "video" else \
                ("audio/mp4" if boxed else "audio/wav")
            tag = a.media
            src = f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")
            self.preview.value = (f"<{tag} class='studio-asset-player' controls "
                                  f"preload='metadata' width='320' src='{src}'></{tag}>")
        elif a.media == "image":
            png = av.thumbnail(self.project, a, width=320)
            self.preview.value = f"<img class='studio-asset-image' src='{_png_url(png)}'>" \
                if png else ""
        else:
            self.preview.value = ""
