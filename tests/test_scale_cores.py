"""Scale-out without oversubscription (issue 17): with ``share_cores`` a LocalCluster's
workers each get their share of the machine's cores (affinity, inherited by the ffmpeg processes they start; the
numeric libraries' pools sized to it); a worker rebuilds the series once per season and
later episodes reuse it (a file changed since is copied again), bit-identical to the
in-process render; the per-episode phases are recorded; the no-op overhead measures."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial

import pytest
from scale_helpers import TINY, tiny_season

from studio_kit.pipeline import render_episode
from studio_kit.scale import make_executor, render_season, task_overhead_ms
from studio_kit.scale import season as season_mod
from studio_kit.scale.executor import cores_for
from studio_kit.store.hashing import file_hash

CHILD = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]


def test_cores_are_shared_equally():
    assert cores_for(0, 2, [0, 1]) == [0] and cores_for(1, 2, [0, 1]) == [1]
    assert cores_for(1, 2, [0, 1, 2, 3]) == [2, 3]
    assert cores_for(0, 1, [0, 1]) == [0, 1]
    assert cores_for(2, 3, [0, 1]) == [0]  # more workers than cores: round robin


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux affinity")
def test_two_workers_get_their_own_cores_and_their_children_too():
    cores = sorted(os.sched_getaffinity(0))
    with make_executor(workers=2, share_cores=True) as ex:
        pinned = ex.client.run(os.sched_getaffinity, 0)
        children = ex.client.run(partial(subprocess.check_output, CHILD, text=True))
        omp = ex.client.run(os.environ.get, "OMP_NUM_THREADS")
        overhead = task_overhead_ms(ex, 50, mode="map")
    want = len(cores) // 2 if len(cores) >= 2 else 1
    assert all(len(c) == want for c in pinned.values())
    if len(cores) >= 2:
        a, b = pinned.values()
        assert not a & b  # disjoint shares
    for w, out in children.items():  # an ffmpeg started by the worker inherits its share
        assert out.strip() == str(sorted(pinned[w]))
    assert set(omp.values()) == {str(want)}
    assert overhead > 0
    with make_executor(workers=2, share_cores=False) as ex:  # asked not to: not pinned
        free = ex.client.run(os.sched_getaffinity, 0)
    assert all(sorted(c) == cores for c in free.values())


def test_a_season_rebuilds_the_series_once_per_worker(tmp_path):
    root = tiny_season(tmp_path / "lighthouse")
    ref_root = tiny_season(tmp_path / "ref")
    ref = {ep: file_hash(render_episode(ref_root, ep, options=TINY,
                                        out_dir=ref_root / "out").master)
           for ep in ("01", "02")}
    season = render_season(root, ["01", "02"], options=TINY, out_dir=root / "out")
    assert season.ok, [(e.episode, e.error) for e in season.episodes]
    assert {e.episode: file_hash(e.master) for e in season.episodes} == ref
    for e in season.episodes:
        assert {"series", "render", "store", "rows", "prepare", "record"} <= set(e.phases)
    assert len(season_mod._SERIES) == 1
    [(key, entries)] = season_mod._SERIES.items()
    assert len(entries) == 1  # one root, reused by the second episode
    scratch, series_root, _stamps = entries[0]
    # a file the last render (or anyone) changed there is copied again from the vault
    sb = series_root / "episodes" / "02" / "storyboard.yaml"
    good = sb.read_bytes()
    sb.write_bytes(b"# changed\n" + good)
    again = render_season(root, ["02"], options=TINY, out_dir=root / "out2")
    assert again.ok and file_hash(again.episode("02").master) == ref["02"]
    assert sb.read_bytes() == good
    # another season (other files): the old root goes
    (root / "episodes" / "02" / "notes.txt").write_text("a new file\n")
    render_season(root, ["02"], options=TINY, out_dir=root / "out3")
    assert key not in season_mod._SERIES and not scratch.exists()


def test_shared_cores_keep_the_masters_bit_identical(tmp_path):
    """Pinned workers (the default for LocalCluster) write the in-process render's bytes:
    every x264 encode has a fixed thread count (``H264Params.threads``); at 160x90 an
    unfixed count gave other bytes under one core."""
    opts = TINY.model_copy(update={"width": 160, "height": 90})
    root = tiny_season(tmp_path / "lighthouse")
    ref_root = tiny_season(tmp_path / "ref")
    ref = {ep: file_hash(render_episode(ref_root, ep, options=opts,
                                        out_dir=ref_root / "out").master)
           for ep in ("01", "02")}
    with make_executor(workers=2) as ex:
        pinned = ex.client.run(os.sched_getaffinity, 0) if hasattr(os, "sched_getaffinity") \
            else {}
        season = render_season(root, ["01", "02"], options=opts, out_dir=root / "out",
                               executor=ex)
    assert season.ok, [(e.episode, e.error) for e in season.episodes]
    if len(os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ()) >= 2:
        assert all(len(c) < os.cpu_count() for c in pinned.values())  # really pinned
    assert {e.episode: file_hash(e.master) for e in season.episodes} == ref
