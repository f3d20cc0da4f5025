"""Per-shot tasks inside an episode (issue 17): with ``shot_tasks`` each shot's generation and
QC is a task of its own (through the stage graph's per-shot seam), spread over a
LocalCluster's workers before the episode's task; the masters are bit-identical to the
in-process render's and the ledger holds the same stage rows and engine calls."""

from __future__ import annotations

import pytest
from scale_helpers import TINY, tiny_season

from studio_kit.pipeline import render_episode
from studio_kit.project.series_folder import Project
from studio_kit.scale import make_executor, render_season
from studio_kit.scale.season import shot_chains
from studio_kit.store.hashing import file_hash

EPISODES = ["01", "02", "03"]
STAGES = ("generate", "qc", "grade", "mux", "prores")


def _rows(root, episode: str, run_id: int | None = None):
    with Project.load(root).ledger() as led:
        if run_id is None:
            run_id = led.query("SELECT MAX(id) AS id FROM runs WHERE kind='render' AND "
                               "episode=? AND status='ok'", (episode,))[0]["id"]
        stages = led.query("SELECT stage, key FROM stage_results WHERE run_id=?", (run_id,))
        calls = led.query("SELECT engine, shot_id, request_hash, asset, cost FROM "
                          "engine_calls WHERE run_id=?", (run_id,))
    keys = sorted((r["stage"], r["key"]) for r in stages if r["stage"] in STAGES)
    return keys, sorted((c["shot_id"], c["request_hash"], c["asset"]) for c in calls)


def test_chains_keep_a_continued_shot_with_its_previous():
    class S:
        def __init__(self, id, cont=False):
            self.id, self.continue_from_previous = id, cont

    assert shot_chains([S("a"), S("b", True), S("c"), S("d")]) == [["a", "b"], ["c"], ["d"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tiny_season(tmp_path_factory.mktemp("ref") / "lighthouse")
    masters = {ep: file_hash(render_episode(root, ep, options=TINY, out_dir=root / "out")
                             .master) for ep in EPISODES}
    return root, masters


def test_shot_tasks_on_two_workers_are_bit_identical_with_the_same_ledger(tmp_path,
                                                                         reference):
    ref_root, masters = reference
    root = tiny_season(tmp_path / "lighthouse")
    with make_executor(workers=2) as ex:
        season = render_season(root, EPISODES, options=TINY, out_dir=root / "out",
                               executor=ex, shot_tasks=True)
    assert season.ok, [(e.episode, e.error) for e in season.episodes]
    assert {e.episode: file_hash(e.master) for e in season.episodes} == masters
    sb_shots = {ep: len(Project.load(root).storyboard(ep).shots) for ep in EPISODES}
    workers = set()
    for e in season.episodes:
        assert len(e.shot_workers) == len(shot_chains(Project.load(root).storyboard(
            e.episode).shots)) <= sb_shots[e.episode]
        workers.update(e.shot_workers)
        # the shot tasks' generation counts as run for the episode, as in process
        assert e.stages["generate"]["run"] >= sb_shots[e.episode]
        assert _rows(root, e.episode, e.run_id) == _rows(ref_root, e.episode)
    assert len(workers) == 2  # the shots were spread over both workers


def test_shot_tasks_in_process_through_the_cli(tmp_path, capsys, reference):
    from studio_kit.cli import main

    _ref_root, masters = reference
    root = tiny_season(tmp_path / "lighthouse")
    code = main(["render-season", str(root), "--episodes", "01", "--engine", "local",
                 "--width", "64", "--height", "36", "--no-sign", "--shot-tasks",
                 "--out", str(root / "out")])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    season = render_season(root, ["01"], options=TINY, out_dir=root / "out2",
                           shot_tasks=True)
    e = season.episode("01")
    assert season.ok and file_hash(e.master) == masters["01"]
    assert len(e.shot_workers) == 2 and e.stages["generate"]["cached"] == 2  # now all hits
