"""QC scores per shot as HoloViews plots (holoviews is imported lazily, on first call)."""

from __future__ import annotations

from typing import Any


def scores_table(ledger, episode: str) -> list[dict[str, Any]]:
    """Latest score of every metric for every shot of an episode (from the ledger)."""
    return ledger.query(
        "SELECT q.shot_id, q.scorer AS metric, q.score, q.threshold, q.passed, q.details "
        "FROM qc_scores q JOIN (SELECT shot_id, scorer, MAX(id) AS id FROM qc_scores "
        "WHERE episode=? GROUP BY shot_id, scorer) last ON q.id = last.id "
        "ORDER BY q.shot_id, q.scorer", (episode,))


def _skipped(row: dict[str, Any]) -> bool:
    """A ledger row whose details say it was skipped (a reason string; ``true`` in rows
    recorded before the reasons were kept)."""
    import json

    d = row.get("details")
    if isinstance(d, str):
        try:
            d = json.loads(d)
        except ValueError:
            return False
    return bool(isinstance(d, dict) and d.get("skipped"))


def plot_scores(rows: list[dict[str, Any]], metrics: list[str] | None = None):
    """One bar chart per metric: score per shot, the threshold as a line, failures in red.

    ``rows``: dicts with shot_id, metric, score, threshold, passed (e.g. ``scores_table``).
    Returns a HoloViews Layout (render it in a notebook or save with ``hv.save``).
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (registers the renderer the options need)

    rows = [r for r in rows if not _skipped(r)]
    metrics = metrics or sorted({r["metric"] for r in rows})
    plots = []
    for metric in metrics:
        data = [(r["shot_id"], float(r["score"]), "pass" if r["passed"] else "fail")
                for r in rows if r["metric"] == metric]
        if not data:
            continue
        bars = hv.Bars(data, kdims=["shot"], vdims=["score", "result"]).opts(
            title=metric, color="result", cmap={"pass": "#2e7d32", "fail": "#c0392b"},
            xrotation=45, width=420, height=260, tools=["hover"])
        limit = next((r["threshold"] for r in rows if r["metric"] == metric
                      and r["threshold"] is not None), None)
        plots.append(bars * hv.HLine(limit).opts(color="black", line_dash="dashed")
                     if limit is not None else bars)
    if not plots:
        return hv.Layout([hv.Text(0, 0, "no scores yet")])
    return hv.Layout(plots).cols(2)
