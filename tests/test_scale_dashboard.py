"""The season dashboard (issue 17): episodes x stages, progress, failures and spend, read from
``<out>/season.json`` and the ledger; a part of the command center."""

from __future__ import annotations

import shutil

from conftest import SAMPLE

from studio_kit.project.series_folder import Project
from studio_kit.scale.season import SEASON_FILE, SeasonEpisode, SeasonResult


def _series(tmp_path):
    root = tmp_path / "lighthouse"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns(".studio", "out"))
    return root


def test_the_dashboard_shows_episodes_by_stages_progress_failures_and_spend(tmp_path):
    from widgets.season_dashboard import SeasonDashboard

    root = _series(tmp_path)
    p = Project.load(root)
    dash = SeasonDashboard(p)
    assert "no season run yet" in dash.summary.value and dash.bar.value == 0.0
    with p.ledger() as led:  # the spend comes from the ledger
        run = led.start_run("season-pictures", "01")
        call = led.begin_call(engine="runway", request_hash="r1", run_id=run, shot_id="s1")
        led.update_call(call, status="succeeded", cost=1.25, asset="a" * 64)
    season = SeasonResult(project=str(root), series="The Lighthouse", executor="dask",
                          workers=2, seconds=12.5, episodes=[
                              SeasonEpisode(episode="01", status="done", worker="vm:1",
                                            stages={"generate": {"run": 2, "cached": 0,
                                                                 "failed": 0},
                                                    "mux": {"run": 1, "cached": 0,
                                                            "failed": 0}}),
                              SeasonEpisode(episode="02", status="failed",
                                            error="StudioError: shot s9: no take")])
    (root / "out").mkdir()
    (root / "out" / SEASON_FILE).write_text(season.model_dump_json())
    dash.refresh()
    assert "1/2 episodes done on dask (2 worker(s))" in dash.summary.value
    assert dash.bar.value == 0.5
    grid = dash.grid.value
    assert grid.index("generate") < grid.index("mux") and "2 run / 0 cached" in grid
    assert "shot s9: no take" in dash.failures.value
    with p.ledger() as led:
        spend = led.total_cost("01")
    assert spend > 0 and f"spend {spend:.2f}" in dash.summary.value


def test_the_command_center_has_the_season_dashboard(tmp_path):
    from widgets.command_center import CommandCenter
    from widgets.season_dashboard import SeasonDashboard

    cc = CommandCenter(Project.load(_series(tmp_path)), chart=False)
    assert isinstance(cc.season, SeasonDashboard) and cc.season in cc.children
    cc.refresh()
