"""Summary plots of a render (shot timeline, cost, QC, loudness) as HoloViews objects.

HoloViews is imported inside each function so ``studio_kit`` stays free of plotting
imports until a notebook asks for a plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .episode import RenderResult

#: Category colours (Tableau 10), given as hex so no colour-map lookup is needed.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]


def shot_timeline(result: RenderResult) -> Any:
    """One bar per shot from its start to its end, one row per act, hover for details."""
    import holoviews as hv

    acts = list(dict.fromkeys(s.act for s in result.shots))
    rows = [(s.start_s, acts.index(s.act) - 0.4, s.start_s + s.duration_s,
             acts.index(s.act) + 0.4, s.shot_id, s.act, s.engine, s.duration_s)
            for s in result.shots]
    rects = hv.Rectangles(rows, kdims=["start", "y0", "end", "y1"],
                          vdims=["shot", "act", "engine", "seconds"])
    return rects.opts(color="act", cmap=PALETTE, line_color="white", tools=["hover"],
                      yticks=[(i, a) for i, a in enumerate(acts)], xlabel="seconds",
                      ylabel="act", title=f"Episode {result.episode}: shots",
                      width=800, height=60 + 50 * len(acts))


def cost(result: RenderResult) -> Any:
    import holoviews as hv

    bars = hv.Bars([(s.shot_id, s.cost) for s in result.shots], kdims=["shot"],
                   vdims=["cost"])
    return bars.opts(title=f"Cost per shot (total {result.total_cost:.2f})", xrotation=45,
                     width=800, height=280, tools=["hover"])


def qc(result: RenderResult) -> Any:
    """Shot x metric heat map of QC values (empty when no scorer ran)."""
    import holoviews as hv

    data = [(s.shot_id, metric, float(v)) for s in result.shots for metric, v in s.qc.items()]
    heat = hv.HeatMap(data or [("-", "-", 0.0)], kdims=["shot", "metric"], vdims=["value"])
    return heat.opts(title="QC scores", xrotation=45, width=800, height=300, colorbar=True,
                     cmap=["#f7fbff", "#6baed6", "#08306b"], tools=["hover"])


def short_term_loudness(path: str | Path, window_s: float = 3.0, hop_s: float = 0.5
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(times, LUFS) of short-term loudness (3 s windows, BS.1770 via pyloudnorm)."""
    import pyloudnorm
    import soundfile as sf

    data, rate = sf.read(str(path), always_2d=True)
    meter = pyloudnorm.Meter(rate)
    win, hop = int(window_s * rate), int(hop_s * rate)
    times, values = [], []
    for start in range(0, max(1, len(data) - win + 1), hop):
        block = data[start:start + win]
        if len(block) < int(0.4 * rate):
            break
        with np.errstate(divide="ignore"):
            values.append(meter.integrated_loudness(block))
        times.append((start + len(block) / 2) / rate)
    return np.asarray(times), np.asarray(values)


def loudness(result: RenderResult, target_lufs: float | None = None) -> Any:
    import holoviews as hv

    if not result.mix or not Path(result.mix).is_file():
        return hv.Curve([], kdims=["seconds"], vdims=["LUFS"]).opts(
            title="Loudness (no mix in this run)", width=800, height=250)
    t, v = short_term_loudness(result.mix)
    v = np.where(np.isfinite(v), v, -70.0)
    curve = hv.Curve((t, v), kdims=["seconds"], vdims=["LUFS"])
    title = "Short-term loudness"
    if "integrated_lufs" in result.loudness:
        title += f" (integrated {result.loudness['integrated_lufs']:.1f} LUFS)"
    plot = curve.opts(title=title, width=800, height=250, tools=["hover"])
    if target_lufs is not None:
        plot = plot * hv.HLine(target_lufs).opts(color="red", line_dash="dashed")
    return plot


def summary(result: RenderResult, target_lufs: float | None = None) -> Any:
    """All four plots in one column layout."""
    return (shot_timeline(result) + cost(result) + qc(result)
            + loudness(result, target_lufs)).cols(1)
