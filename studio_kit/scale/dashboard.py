"""The season's state for the dashboard (no UI here): episodes x stages, progress, failures
and spend, read from ``<out>/season.json`` (written by ``render_season`` as it goes) and the
project's ledger (the spend is the ledger's, not the file's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .season import SEASON_FILE, SeasonResult

#: the stage columns, in pipeline order (others follow, sorted)
STAGE_ORDER = ["dialogue", "prompt", "generate", "regeneration", "qc", "sign", "grade",
               "assemble", "mix", "conform", "captions", "mux", "prores", "certify", "summary"]


class SeasonView(BaseModel):
    series: str = ""
    executor: str = ""
    workers: int = 0
    seconds: float = 0.0
    done: int = 0
    total: int = 0
    spend: float = 0.0
    stages: list[str] = Field(default_factory=list)
    rows: list[dict[str, Any]] = Field(default_factory=list, description=(
        "per episode: episode, status, worker, seconds, spend, error, and one cell per "
        "stage ('3 run / 2 cached', '-' when not reached)"))
    failures: list[str] = Field(default_factory=list)

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else 0.0


def load_season(out_dir: str | Path) -> SeasonResult | None:
    path = Path(out_dir) / SEASON_FILE
    if not path.is_file():
        return None
    try:
        return SeasonResult.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        return None  # being replaced (atomic writes: the next read sees a whole file)


def season_view(season: SeasonResult | None, ledger=None) -> SeasonView:
    if season is None:
        return SeasonView()
    names = {s for e in season.episodes for s in e.stages}
    stages = [s for s in STAGE_ORDER if s in names] + sorted(names - set(STAGE_ORDER))
    rows, failures = [], []
    for e in season.episodes:
        spend = ledger.total_cost(e.episode) if ledger is not None else e.spend
        row: dict[str, Any] = {"episode": e.episode, "status": e.status, "worker": e.worker,
                               "seconds": e.seconds, "spend": round(spend, 2),
                               "paid takes": e.paid_takes, "error": e.error}
        for s in stages:
            c = e.stages.get(s)
            row[s] = "-" if c is None else f"{c['run']} run / {c['cached']} cached"
        rows.append(row)
        if e.status == "failed":
            failures.append(f"episode {e.episode}: {e.error}")
    return SeasonView(series=season.series, executor=season.executor, workers=season.workers,
                      seconds=season.seconds, total=len(season.episodes),
                      done=sum(e.status == "done" for e in season.episodes),
                      spend=round(sum(r["spend"] for r in rows), 2), stages=stages, rows=rows,
                      failures=failures)
