"""The Feature Bay's logic (no UI imports): the rendered episodes across the series folders
of a root, building and editing ``features/<id>.yaml``, the running time against the
format, the act / mood arc, the credits preview and the export with progress.

The root is the folder that holds the series folders and ``features/`` (as in
docs/feature_bay.md). Every edit is a pure function returning a new :class:`Feature`;
:func:`save` writes it atomically, keeping the file's comments (yamlio.save_model).
Cards belong to the source they precede: reordering sources moves their cards with them,
and the acts are renumbered in the order they now appear.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ..errors import StudioError
from ..models.feature import RUNNING_TIME_S, Card, Feature, FeatureFormat, Source
from ..progress import ProgressCallback
from ..store.yamlio import save_model
from .model import load_feature

if TYPE_CHECKING:
    from .assemble import EpisodeSource

#: the title card and the end credits the assembly adds (assemble.CARD_FPS_FRAMES and twice
#: it); read from the assembly module so the estimate follows it
try:
    from .assemble import CARD_FPS_FRAMES as _TITLE_S
except ImportError:  # pragma: no cover - the assembly renamed it
    _TITLE_S = 2.0
CREDITS_S = 2 * _TITLE_S


class RenderedEpisode(BaseModel):
    """One episode of one series folder with a render record and its master."""

    series: str = Field(description="Series folder name, relative to the root.")
    series_title: str
    episode: str
    title: str = ""
    duration_s: float
    width: int
    height: int
    fps: float
    master: str
    render_json: str
    gate_c: str = Field("open", description="Gate C state of this master (gates.master_status)")

    @property
    def key(self) -> str:
        return f"{self.series}/{self.episode}"

    @property
    def label(self) -> str:
        t = f" {self.title}" if self.title else ""
        return (f"{self.series} {self.episode}{t} ({self.series_title}) "
                f"{self.duration_s:.1f}s {self.width}x{self.height}@{self.fps:g} "
                f"Gate C: {self.gate_c}")


class RunningTime(BaseModel):
    seconds: float
    episodes_s: float = Field(description="The episodes as cut: their drops applied.")
    cards_s: float
    dropped_s: float = Field(0.0, description="What the drops take out of the episodes.")
    recaps_s: float = Field(0.0, description="The recaps the feature adds (recaps: true).")
    format: FeatureFormat
    min_s: float
    max_s: float
    status: str = Field(description="under | ok | over (under is accepted with allow_short)")
    allowed: bool

    def text(self) -> str:
        return (f"{self.seconds / 60:.2f} min ({self.seconds:.1f} s) for a "
                f"{self.format.value}: {self.min_s / 60:.0f}-{self.max_s / 60:.0f} min, "
                f"{self.status}" + ("" if self.allowed else " (not allowed)"))


class ArcSegment(BaseModel):
    """One piece of the feature's timeline, with its act and the mood of its music."""

    kind: str = Field(description="title | card | recap | episode | credits")
    label: str
    start_s: float
    end_s: float
    act: int
    mood: str
    intensity: float = Field(ge=0, le=1)
    source: int | None = Field(None, description="Index in Feature.sources (episodes).")


# -- the library --------------------------------------------------------------------------
def series_folders(root: str | Path) -> list[Path]:
    """The series folders (a series.yaml inside) directly under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise StudioError("no such folder", file=root,
                          hint="pass the folder holding the series folders and features/")
    return sorted(p for p in root.iterdir() if (p / "series.yaml").is_file())


def _series_title(folder: Path) -> str:
    import yaml

    try:
        data = yaml.safe_load((folder / "series.yaml").read_text(encoding="utf-8")) or {}
        return str(data.get("title") or folder.name)
    except (OSError, yaml.YAMLError):
        return folder.name


def _episode_title(folder: Path, episode: str) -> str:
    import yaml

    p = folder / "episodes" / episode / "storyboard.yaml"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        return str(data.get("title") or "")
    except (OSError, yaml.YAMLError):
        return ""


def read_render(series_dir: Path, render_json: Path, root: Path) -> RenderedEpisode | None:
    """The episode a render record describes, or None if it has no master on disk."""
    try:
        data = json.loads(render_json.read_text(encoding="utf-8"))
        master = data.get("master")
        fmt = data["format"]
        if not master or not Path(master).is_file():
            return None
        ep = str(data.get("episode") or render_json.parent.name.removeprefix("episode-"))
        return RenderedEpisode(
            series=series_dir.relative_to(root).as_posix(), series_title=_series_title(
                series_dir), episode=ep, title=_episode_title(series_dir, ep),
            duration_s=float(data.get("duration_s") or 0.0), width=int(fmt["width"]),
            height=int(fmt["height"]), fps=float(fmt["fps"]), master=str(master),
            render_json=str(render_json), gate_c=_gate_c_state(series_dir, ep, master))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _ledger_path(series_dir: Path) -> Path:
    return series_dir / ".studio" / "ledger.sqlite"


def _gate_c_state(series_dir: Path, episode: str, master: str) -> str:
    from ..production.gates import master_status
    from ..store.ledger import Ledger

    if not _ledger_path(series_dir).is_file():
        return "open"
    try:
        with Ledger(_ledger_path(series_dir)) as ledger:
            return master_status(ledger, episode, master).state.value
    except StudioError:
        return "open"


def require_approved(feature: Feature, root: str | Path, *, file: str | None = None) -> None:
    """Every master the feature draws on approved at Gate C (gates.require_gate_c), as for
    any delivery; a GateError names the first that is not."""
    from ..production.gates import require_gate_c
    from ..store.ledger import Ledger
    from .assemble import resolve_sources

    for s in resolve_sources(feature, Path(root), file):
        with Ledger(_ledger_path(Path(s.series_dir))) as ledger:
            require_gate_c(ledger, s.episode, s.master, action="put in a feature")


def rendered_episodes(root: str | Path) -> list[RenderedEpisode]:
    """Every rendered episode (``<series>/out/episode-NN/render.json`` with its master) of
    every series folder under ``root``, by series then episode."""
    root = Path(root).resolve()
    out: list[RenderedEpisode] = []
    for folder in series_folders(root):
        for rec in sorted((folder / "out").glob("episode-*/render.json")):
            ep = read_render(folder, rec, root)
            if ep is not None:
                out.append(ep)
    return out


def features_dir(root: str | Path) -> Path:
    return Path(root) / "features"


def list_features(root: str | Path) -> list[str]:
    """The ids of the feature files in ``<root>/features``."""
    d = features_dir(root)
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def feature_path(root: str | Path, feature_id: str) -> Path:
    return features_dir(root) / f"{feature_id}.yaml"


def load(root: str | Path, feature_id: str) -> Feature:
    return load_feature(feature_path(root, feature_id))


def save(root: str | Path, feature: Feature, *, base: Feature | None = None) -> Path:
    """Write ``features/<id>.yaml`` atomically (comments kept; with ``base``, edits made to
    the file elsewhere since it was loaded are merged or refused by field)."""
    path = feature_path(root, feature.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(path, feature, base=base)
    return path


# -- building and editing (pure: each returns a new Feature) ------------------------------
def source_for(ep: RenderedEpisode, act: int = 1, mood: str | None = None) -> Source:
    return Source(series=ep.series, episode=ep.episode, act=act, mood=mood)


def new_feature(feature_id: str, title: str, fmt: FeatureFormat | str,
                episodes: list[RenderedEpisode], *, allow_short: bool = False) -> Feature:
    """A feature drawing on ``episodes`` in order, one act per series."""
    if not episodes:
        raise StudioError("a feature needs at least one rendered episode", field="sources",
                          hint="pick episodes from the list of rendered episodes")
    acts: dict[str, int] = {}
    srcs = [source_for(e, act=acts.setdefault(e.series, len(acts) + 1)) for e in episodes]
    data = {"id": feature_id, "title": title or feature_id, "format": str(FeatureFormat(fmt)),
            "sources": [s.model_dump(exclude_defaults=True) for s in srcs],
            "allow_short": allow_short}
    from pydantic import ValidationError

    try:
        return Feature.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        raise StudioError(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}",
                          field=".".join(str(x) for x in e["loc"]),
                          hint="an id is lower case letters, digits, - and _") from None


def _with(feature: Feature, **changes: Any) -> Feature:
    return Feature.model_validate({**feature.model_dump(), **changes})


def _check_index(feature: Feature, index: int) -> None:
    if not 0 <= index < len(feature.sources):
        raise StudioError(f"no source {index} (the feature has {len(feature.sources)})",
                          field="sources", hint="pick a source from the list")


def add_sources(feature: Feature, episodes: list[RenderedEpisode], *,
                act: int | None = None) -> Feature:
    """Append episodes (act: the last source's, unless given)."""
    act = act or (feature.sources[-1].act if feature.sources else 1)
    srcs = [*feature.sources, *(source_for(e, act=act) for e in episodes)]
    return _with(feature, sources=[s.model_dump() for s in srcs])


def renumber_acts(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Acts numbered 1, 2, ... in the order they first appear (the grouping is kept): after
    a reorder the feature's acts still run forwards."""
    seen: dict[int, int] = {}
    for s in sources:
        s["act"] = seen.setdefault(int(s.get("act", 1)), len(seen) + 1)
    return sources


def _reindex(feature: Feature, order: list[int]) -> Feature:
    """Sources in ``order`` (old indexes), acts renumbered (``renumber_acts``); cards follow
    the source they precede, a card whose source is gone is dropped."""
    new_pos = {old: new for new, old in enumerate(order)}
    cards = [c.model_copy(update={"before": new_pos[c.before]}) for c in feature.cards
             if c.before in new_pos]
    cards.sort(key=lambda c: c.before)
    srcs = renumber_acts([feature.sources[i].model_dump() for i in order])
    return _with(feature, sources=srcs, cards=[c.model_dump() for c in cards])


def move_source(feature: Feature, index: int, delta: int) -> Feature:
    """Move source ``index`` by ``delta`` places (clamped); its cards go with it."""
    _check_index(feature, index)
    order = list(range(len(feature.sources)))
    j = max(0, min(len(order) - 1, index + delta))
    order.insert(j, order.pop(index))
    return _reindex(feature, order)


def reorder(feature: Feature, order: list[int]) -> Feature:
    if sorted(order) != list(range(len(feature.sources))):
        raise StudioError(f"order {order} is not a permutation of the "
                          f"{len(feature.sources)} sources", field="sources")
    return _reindex(feature, order)


def remove_source(feature: Feature, index: int) -> Feature:
    _check_index(feature, index)
    if len(feature.sources) == 1:
        raise StudioError("a feature keeps at least one source", field="sources",
                          hint="add another episode first")
    return _reindex(feature, [i for i in range(len(feature.sources)) if i != index])


def set_source(feature: Feature, index: int, **fields: Any) -> Feature:
    """Change a source's act, mood or drop list."""
    _check_index(feature, index)
    srcs = [s.model_dump() for s in feature.sources]
    srcs[index].update(fields)
    return _with(feature, sources=srcs)


def add_card(feature: Feature, before: int, text: str, seconds: float = 3.0) -> Feature:
    """A chapter card / interstitial before source ``before`` (one card per place)."""
    _check_index(feature, before)
    if not text.strip():
        raise StudioError("a card needs text", field="cards.text",
                          hint="write the chapter title, e.g. 'Part Two'")
    card = Card(before=before, text=text, seconds=seconds)
    cards = [c for c in feature.cards if c.before != before] + [card]
    cards.sort(key=lambda c: c.before)
    return _with(feature, cards=[c.model_dump() for c in cards])


def remove_card(feature: Feature, before: int) -> Feature:
    return _with(feature, cards=[c.model_dump() for c in feature.cards if c.before != before])


# -- what the feature will be -------------------------------------------------------------
def _lookup(root: Path, library: list[RenderedEpisode] | None) -> dict[str, RenderedEpisode]:
    return {e.key: e for e in (library if library is not None else rendered_episodes(root))}


def _episodes(feature: Feature, root: Path,
              library: list[RenderedEpisode] | None) -> list[RenderedEpisode | None]:
    lib = _lookup(root, library)
    out: list[RenderedEpisode | None] = []
    for s in feature.sources:
        ep = lib.get(f"{s.series}/{s.episode}") if s.render is None else None
        if ep is None:  # a render folder of its own, or not in the library: read it
            folder = (root / s.series).resolve()
            out_dir = Path(s.render) if s.render else folder / "out"
            if not out_dir.is_absolute():
                out_dir = folder / out_dir
            rec = out_dir / f"episode-{s.episode}" / "render.json"
            ep = read_render(folder, rec, root.resolve()) if rec.is_file() else None
        out.append(ep)
    return out


_KEPT: dict[tuple, list[tuple[int, int]] | None] = {}


def _episode_source(ep: RenderedEpisode, series_dir: Path) -> EpisodeSource:
    """The render as the assembly's EpisodeSource (no content key: nothing is cut here)."""
    from .assemble import EpisodeSource

    return EpisodeSource(series_dir=str(series_dir), episode=ep.episode,
                         render_json=ep.render_json, master=ep.master, mix=None,
                         duration_s=ep.duration_s, width=ep.width, height=ep.height,
                         fps=ep.fps, key="")


def _master_frames(ep: RenderedEpisode) -> int:
    """The master's frame count as the assembly counts it."""
    from fractions import Fraction

    return int(round(ep.duration_s * Fraction(ep.fps).limit_denominator(1001)))


def _kept_ranges(ep: RenderedEpisode, series_dir: Path, drops: list[str],
                 frames: int) -> list[tuple[int, int]] | None:
    """The master's frame ranges its drops keep (assemble.kept_ranges, what the export
    cuts); None when the drops cannot be applied (no timeline record: the export says so).
    Cached by the render record's and the storyboard's modification times."""
    from .assemble import kept_ranges

    sb = series_dir / "episodes" / ep.episode / "storyboard.yaml"
    try:
        key = (ep.render_json, Path(ep.render_json).stat().st_mtime_ns,
               sb.stat().st_mtime_ns if sb.is_file() else 0, tuple(drops), frames)
    except OSError:
        return None
    if key not in _KEPT:
        try:
            _KEPT[key] = kept_ranges(_episode_source(ep, series_dir), drops, frames)
        except StudioError:
            _KEPT[key] = None
    return _KEPT[key]


class Timing(BaseModel):
    """Per source of one feature: its render, its rendered length, what stays of it once
    its drops are applied (seconds, and the master's frame ranges the export keeps) and the
    recap that opens it (feature.recaps), in seconds; None / [] when it is not rendered.
    Computed once (:func:`timing`) and passed to ``running_time``, ``missing_sources`` and
    ``arc`` (``timing=``) for one refresh of the surface."""

    sources: list[Source] = Field(description="The feature's sources it was computed for.")
    recaps: bool = Field(description="The feature's recaps flag it was computed for.")
    episodes: list[RenderedEpisode | None]
    full: list[float | None]
    kept: list[float | None]
    ranges: list[list[tuple[int, int]]]
    recap: list[float]


def timing(feature: Feature, root: str | Path,
           library: list[RenderedEpisode] | None = None) -> Timing:
    """The feature's :class:`Timing` (renders found in ``library``, else on disk)."""
    return _timing(feature, Path(root), library)


def _timing(feature: Feature, root: Path,
            library: list[RenderedEpisode] | None,
            given: Timing | None = None) -> Timing:
    """``given`` when it was computed for this feature's sources, else a new Timing."""
    from fractions import Fraction

    from .assemble import _recap_cuts, _recap_points

    if given is not None:
        if given.sources != feature.sources or given.recaps != feature.recaps:
            raise ValueError(f"the timing passed is not that of feature {feature.id!r}: "
                             "compute it with bay.timing(feature, ...)")
        return given
    eps = _episodes(feature, root, library)
    full: list[float | None] = []
    kept: list[float | None] = []
    ranges: list[list[tuple[int, int]]] = []
    for s, ep in zip(feature.sources, eps, strict=True):
        if ep is None:
            full.append(None)
            kept.append(None)
            ranges.append([])
            continue
        fps = Fraction(ep.fps).limit_denominator(1001)
        frames = _master_frames(ep)
        drops = [d.value for d in s.drop]
        rs = _kept_ranges(ep, (root / s.series).resolve(), drops, frames) if drops else None
        rs = rs if rs is not None else [(0, frames)]
        ranges.append(rs)
        full.append(ep.duration_s)
        kept.append(ep.duration_s if rs == [(0, frames)]
                    else sum(b - a for a, b in rs) / float(fps))
    recap = [0.0] * len(feature.sources)
    if feature.recaps:
        fps = next((e.fps for e in eps if e is not None), 24.0)
        for i in _recap_points(feature):
            recap[i] = sum(c.b - c.a for c in _recap_cuts(i, ranges, fps)) / fps
    return Timing(sources=list(feature.sources), recaps=feature.recaps, episodes=eps,
                  full=full, kept=kept, ranges=ranges, recap=recap)


def missing_sources(feature: Feature, root: str | Path,
                    library: list[RenderedEpisode] | None = None, *,
                    timing: Timing | None = None) -> list[str]:
    """The sources that are not rendered (``series episode``), for the surface to flag;
    ``timing``: the feature's :func:`timing`, when already computed."""
    ds = _timing(feature, Path(root), library, timing).kept
    return [f"{s.series} {s.episode}" for s, d in zip(feature.sources, ds, strict=True)
            if d is None]


def running_time(feature: Feature, root: str | Path,
                 library: list[RenderedEpisode] | None = None, *,
                 timing: Timing | None = None) -> RunningTime:
    """The feature's real running time against its format: the episodes as the export cuts
    them (cold opens, end hooks, recaps dropped), the recaps it adds, the title, cards and
    credits; ``timing``: the feature's :func:`timing`, when already computed."""
    tm = _timing(feature, Path(root), library, timing)
    eps = sum(d or 0.0 for d in tm.kept)
    dropped = sum((f or 0.0) - (k or 0.0) for f, k in zip(tm.full, tm.kept, strict=True))
    recaps = sum(tm.recap)
    cards = _TITLE_S + CREDITS_S + sum(c.seconds for c in feature.cards)
    total = eps + recaps + cards
    lo, hi = RUNNING_TIME_S[feature.format]
    status = "over" if total > hi else "under" if total < lo else "ok"
    allowed = status == "ok" or (status == "under" and feature.allow_short)
    return RunningTime(seconds=round(total, 3), episodes_s=round(eps, 3),
                       cards_s=round(cards, 3), dropped_s=round(dropped, 3),
                       recaps_s=round(recaps, 3), format=feature.format, min_s=lo,
                       max_s=hi, status=status, allowed=allowed)


def mood_of(mood: str | None) -> tuple[str, float]:
    """(mood name, intensity 0-1) as the score uses it (audio.music.mood_spec)."""
    from ..audio.music import mood_spec

    spec, _known = mood_spec(mood)
    return spec.mood, spec.intensity


_EPISODE_MOODS: dict[tuple, str | None] = {}


def _source_mood(ep: RenderedEpisode, series_dir: Path,
                 ranges: list[tuple[int, int]]) -> str | None:
    """assemble.episode_mood of the render over ``ranges``; None when it cannot be read.
    Cached by the render record's and the storyboard's modification times."""
    from .assemble import episode_mood as scored_mood

    sb = series_dir / "episodes" / ep.episode / "storyboard.yaml"
    try:
        key = (ep.render_json, Path(ep.render_json).stat().st_mtime_ns,
               sb.stat().st_mtime_ns if sb.is_file() else 0, tuple(ranges))
    except OSError:
        return None
    if key not in _EPISODE_MOODS:
        try:
            _EPISODE_MOODS[key] = scored_mood(_episode_source(ep, series_dir), ranges)
        except (StudioError, OSError, ValueError, KeyError):
            _EPISODE_MOODS[key] = None
    return _EPISODE_MOODS[key]


def episode_mood(series_dir: str | Path, episode: str,
                 ranges: list[tuple[int, int]] | None = None, *,
                 rendered: RenderedEpisode | None = None) -> str | None:
    """The episode's music mood as the export scores it (``assemble.episode_mood``): the
    mood of its act that runs longest in ``ranges``, the master's frames the feature keeps
    (default: all of them). ``rendered``: its render (default: the record in
    ``<series_dir>/out``). None when it is not rendered, has no timeline record or
    nothing says."""
    series_dir = Path(series_dir).resolve()
    if rendered is None:
        rec = series_dir / "out" / f"episode-{episode}" / "render.json"
        rendered = read_render(series_dir, rec, series_dir.parent) if rec.is_file() else None
        if rendered is None:
            return None
    if ranges is None:
        ranges = [(0, _master_frames(rendered))]
    return _source_mood(rendered, series_dir, ranges)


def arc(feature: Feature, root: str | Path,
        library: list[RenderedEpisode] | None = None, *,
        timing: Timing | None = None) -> list[ArcSegment]:
    """The feature's timeline as segments with act and mood: the title, each card, each
    episode, the end credits. A source's mood is its ``mood``, else the episode's own as
    the export scores it (``episode_mood`` over the frames its drops keep), else the
    previous source's (the music carries on); the title takes the first source's, a card
    the mood of the source it opens, the credits the last. ``timing``: the feature's
    :func:`timing`, when already computed."""
    root = Path(root)
    tm = _timing(feature, root, library, timing)
    ds, recaps = tm.kept, tm.recap
    cards = {c.before: c for c in feature.cards}
    segs: list[ArcSegment] = []
    t = 0.0
    moods: list[str | None] = []
    for s, ep, rs in zip(feature.sources, tm.episodes, tm.ranges, strict=True):
        own = (episode_mood(root / s.series, s.episode, rs, rendered=ep)
               if ep is not None and not s.mood else None)
        moods.append(s.mood or own or (moods[-1] if moods else None))
    first_mood = moods[0]

    def add(kind: str, label: str, d: float, act: int, mood: str | None,
            source: int | None = None) -> None:
        nonlocal t
        name, inten = mood_of(mood)
        segs.append(ArcSegment(kind=kind, label=label, start_s=round(t, 3),
                               end_s=round(t + d, 3), act=act, mood=name, intensity=inten,
                               source=source))
        t += d

    add("title", feature.title, _TITLE_S, feature.sources[0].act, first_mood)
    mood = first_mood
    for i, (s, d) in enumerate(zip(feature.sources, ds, strict=True)):
        mood = moods[i]
        if i in cards:
            add("card", cards[i].text.splitlines()[0], cards[i].seconds, s.act, mood)
        if recaps[i]:
            add("recap", "Recap", recaps[i], s.act, mood, i)
        add("episode", f"{s.series} {s.episode}", d or 0.0, s.act, mood, i)
    add("credits", "End credits", CREDITS_S, feature.sources[-1].act, mood)
    return segs


def acts(segments: list[ArcSegment]) -> list[dict[str, Any]]:
    """Per act: start, end, its sources' labels and moods (the act structure table)."""
    out: dict[int, dict[str, Any]] = {}
    for s in segments:
        a = out.setdefault(s.act, {"act": s.act, "start_s": s.start_s, "end_s": s.end_s,
                                   "parts": [], "moods": []})
        a["end_s"] = s.end_s
        if s.kind == "episode":
            a["parts"].append(s.label)
            if s.mood not in a["moods"]:
                a["moods"].append(s.mood)
    return [out[k] for k in sorted(out)]


def arc_plot(segments: list[ArcSegment], running: RunningTime | None = None):
    """The act structure and mood arc as a HoloViews overlay: one block per segment
    (height: the mood's intensity, colour: its act), the arc as a line, act boundaries,
    labels; with ``running``, the format's minimum and maximum as vertical lines when
    they are in view."""
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401 - the options below are Bokeh's

    palette = ["#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#c62828", "#00838f"]
    rects = [(s.start_s, 0, s.end_s, s.intensity, f"act {s.act}", s.label, s.mood, s.kind)
             for s in segments]
    colours = {f"act {s.act}": palette[(s.act - 1) % len(palette)] for s in segments}
    blocks = hv.Rectangles(rects, vdims=["act", "part", "mood", "kind"]).opts(
        color=hv.dim("act").categorize(colours, default="#757575"), alpha=0.45,
        line_color="black", tools=["hover"])
    pts = [(x, s.intensity) for s in segments for x in (s.start_s, s.end_s)]
    layers: list[Any] = [blocks, hv.Curve(pts, "seconds", "mood intensity").opts(
        color="black", line_width=2)]
    prev = None
    for s in segments:
        if prev is not None and s.act != prev:
            layers.append(hv.VLine(s.start_s).opts(color="#424242", line_dash="dashed"))
        prev = s.act
    layers.append(hv.Labels([((s.start_s + s.end_s) / 2, s.intensity + 0.06,
                              f"{s.label} ({s.mood})") for s in segments],
                            ["seconds", "mood intensity"], "text").opts(text_font_size="7pt"))
    end = segments[-1].end_s if segments else 1.0
    if running is not None:
        for x, what in ((running.min_s, "format min"), (running.max_s, "format max")):
            if 0 < x <= end * 1.5:
                layers.append(hv.VLine(x).opts(color="#c62828", line_width=2))
                layers.append(hv.Text(x, 1.02, what).opts(text_font_size="7pt"))
    return hv.Overlay(layers).opts(width=900, height=280, ylim=(0, 1.1), xlabel="seconds",
                                   ylabel="mood intensity",
                                   title="Acts and mood arc", toolbar="above")


def credits_preview(feature: Feature, root: str | Path) -> str:
    """The end credits as the assembly will write them (studio_kit.feature.credits)."""
    from .assemble import resolve_sources
    from .credits import build_credits

    srcs = resolve_sources(feature, Path(root))
    return build_credits(feature, srcs).text()


# -- export -------------------------------------------------------------------------------
def export_dir(root: str | Path, feature_id: str) -> Path:
    """Where the surface delivers a feature: ``<root>/deliver/<id>/``."""
    return Path(root) / "deliver" / feature_id


def export(feature: Feature, root: str | Path, out_dir: str | Path | None = None, *,
           prores: bool = False, dcp: bool = False, sign: bool = True, draft: bool = False,
           progress: ProgressCallback | None = None, file: str | None = None):
    """Check the sources, the running time and (unless ``draft``) that every master is
    approved at Gate C, then export (studio_kit.feature.export.export_feature) with its
    ``progress`` events; returns its ExportResult. Nothing is written before the
    checks pass. ``file``: the feature file to name in errors (default
    ``<root>/features/<id>.yaml``; the CLI passes the one it was given)."""
    from .export import export_feature

    root = Path(root)
    file = file or str(feature_path(root, feature.id))
    tm = _timing(feature, root, None)
    rt = running_time(feature, root, timing=tm)
    missing = missing_sources(feature, root, timing=tm)
    if missing:
        raise StudioError(f"not rendered: {', '.join(missing)}",
                          file=file, field="sources",
                          hint="render those episodes first, or remove them from the feature")
    if not rt.allowed:
        raise StudioError(f"the feature runs {rt.text()}", file=file,
                          field="format", hint="change the format, add or remove episodes, "
                          "or set allow_short for a draft")
    if not draft:
        require_approved(feature, root, file=file)
    out = Path(out_dir) if out_dir is not None else export_dir(root, feature.id)
    return export_feature(feature, root, out, prores=prores, dcp=dcp, sign=sign,
                          file=file, progress=progress)
