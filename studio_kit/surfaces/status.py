"""Where each episode of a series stands: storyboard, last run, cache use, spend.

Read-only over the project files and the ledger; used by ``studio status`` and the
command center surface.
"""

from __future__ import annotations

from pydantic import BaseModel

from ..production.gates import episode_gates
from ..project.series_folder import Project


class EpisodeStatus(BaseModel):
    episode: str
    title: str
    shots: int
    duration_s: float
    stage: str  # script | storyboard | rendered | failed | running
    last_run: str | None = None
    stages_run: int = 0
    cache_hits: int = 0
    spent: float = 0.0  # everything billed (``Ledger.total_cost``)
    waste: float = 0.0  # billed but discarded (failed billed attempts, replaced takes)
    gates: dict[str, str] = {}  # A/B/C -> state (``gates.EpisodeGates.summary``)


class ProjectStatus(BaseModel):
    title: str
    budget: float
    currency: str
    spent: float
    waste: float = 0.0
    pending: float = 0.0  # billed, result still to collect on the next run
    at_risk: float = 0.0  # submissions whose answer was lost (may be billed)
    episodes: list[EpisodeStatus]


def project_status(project: Project) -> ProjectStatus:
    ledger_path = project.studio_dir / "ledger.sqlite"
    ledger = project.ledger() if ledger_path.exists() else None
    episodes = []
    try:
        for key, ep in sorted(project.episodes.items()):
            sb = ep.storyboard
            st = EpisodeStatus(
                episode=key, title=sb.title if sb else "", shots=len(sb.shots) if sb else 0,
                duration_s=sb.duration_s if sb else 0.0,
                stage="storyboard" if sb else "script")
            if ledger is not None:
                runs = ledger.query("SELECT * FROM runs WHERE episode=? ORDER BY id DESC LIMIT 1",
                                    (key,))
                if runs:
                    run = runs[0]
                    st.stage = {"ok": "rendered"}.get(run["status"], run["status"])
                    st.last_run = run["started_at"]
                    rows = ledger.query(
                        "SELECT COUNT(*) AS n, COALESCE(SUM(cache_hit),0) AS hits "
                        "FROM stage_results WHERE run_id=?", (run["id"],))
                    st.stages_run, st.cache_hits = int(rows[0]["n"]), int(rows[0]["hits"])
                money = ledger.spend(key)
                st.spent, st.waste = money["billed"], money["waste"]
                if sb is not None:  # the gates API's records (CLI and gate queue alike)
                    st.gates = episode_gates(ledger, project, key).summary()
            episodes.append(st)
        money = ledger.spend() if ledger is not None else {}
        spent = money.get("billed", 0.0)
    finally:
        if ledger is not None:
            ledger.close()
    budget = project.series.budget
    return ProjectStatus(title=project.series.title, budget=budget.total,
                         currency=budget.currency, spent=spent, waste=money.get("waste", 0.0),
                         pending=money.get("pending", 0.0), at_risk=money.get("at_risk", 0.0),
                         episodes=episodes)
