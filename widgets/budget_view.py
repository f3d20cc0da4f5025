"""Budget against spend, per episode and for the series, from the ledger (HoloViews)."""

from __future__ import annotations

from typing import Any

from studio_kit.project.series_folder import Project


def budget_rows(project: Project) -> list[dict[str, Any]]:
    """One row per episode: budget (per-episode limit, else an even share of the total)
    and what the ledger says was spent on succeeded engine calls."""
    b = project.series.budget
    eps = sorted(project.episodes)
    share = b.per_episode if b.per_episode is not None else (b.total / len(eps) if eps else 0.0)
    has_ledger = (project.studio_dir / "ledger.sqlite").exists()
    ledger = project.ledger() if has_ledger else None
    try:
        rows = [{"episode": ep, "budget": float(share),
                 "spent": ledger.total_cost(ep) if ledger else 0.0} for ep in eps]
        total_spent = ledger.total_cost() if ledger else 0.0
    finally:
        if ledger:
            ledger.close()
    rows.append({"episode": "series", "budget": float(b.total), "spent": float(total_spent)})
    return rows


def budget_plot(project: Project, *, height: int = 260, width: int = 520):
    """Grouped bars (budget vs spent) as a HoloViews object; rendered by Panel/Bokeh."""
    import holoviews as hv

    rows = budget_rows(project)
    data = [(r["episode"], kind, r[kind]) for r in rows for kind in ("budget", "spent")]
    cur = project.series.budget.currency
    bars = hv.Bars(data, kdims=["episode", "kind"], vdims=[hv.Dimension("amount", unit=cur)])
    try:
        return bars.opts(height=height, width=width, title=f"Budget vs spend ({cur})",
                         tools=["hover"], xrotation=0, color="kind",
                         cmap=["#90a4ae", "#e65100"], show_legend=False)
    except Exception:  # opts need a plotting backend loaded; data is still right
        return bars
