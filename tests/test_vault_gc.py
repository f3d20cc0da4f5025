"""``studio vault gc``: after a reroute (a shot re-generated with another seed) only the
unreferenced objects go, the episode re-renders with every stage a cache hit, a paid take an
episode uses is never removed, and a kill -9 mid-sweep (a real subprocess) loses nothing
referenced; running gc again completes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_sample import sample_copy

from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.project.series_folder import Project
from studio_kit.store.ledger import Ledger
from studio_kit.store.vault import file_sha256
from studio_kit.surfaces.asset_vault import JOURNAL, mark_live, plan_gc

STUDIO = Path(sys.executable).with_name("studio")
OPTS = dict(engine="local", width=64, height=36, sign=False, prores=False)


def _render(root: Path):
    return render_episode(root, "01", options=RenderOptions(**OPTS), out_dir=root / "out")


@pytest.fixture(scope="module")
def rerouted(tmp_path_factory):
    """A 2-shot copy of the sample rendered, then shot 1 re-generated with another seed."""
    root = tmp_path_factory.mktemp("gc") / "lighthouse"
    sample_copy(root)
    first = _render(root)
    old_take = first.shots[0].asset
    sb = Project.load(root).storyboard("01").model_copy(deep=True)
    sb.acts[0].shots[0].seed = 4242
    Project.load(root).save_storyboard(sb)
    second = _render(root)
    assert second.shots[0].asset != old_take  # the reroute made a new take
    return {"root": root, "old_take": old_take, "second": second}


def _live(root: Path) -> set[str]:
    p = Project.load(root)
    live, _, _ = mark_live(p, p.vault(), include_paid_unused=False)
    return {d for d in live if p.vault().has(d)}


def _fake_paid(root: Path, asset: str, cost: float) -> None:
    with Ledger(root / ".studio" / "ledger.sqlite") as led:
        with led.transaction() as c:
            c.execute("UPDATE engine_calls SET cost=? WHERE asset=?", (cost, asset))


def _studio(*args: str, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(STUDIO), *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "200"}, **kw)
    out.stdout += out.stderr  # the console writes to stderr
    return out


def test_gc_after_reroute_removes_only_unreferenced(rerouted) -> None:
    root, old = rerouted["root"], rerouted["old_take"]
    project = Project.load(root)
    vault = project.vault()
    assert vault.has(old)
    live = _live(root)
    current = {s.asset for s in rerouted["second"].shots}
    assert current <= live and old not in live
    # dry run by default: lists, sizes, deletes nothing
    before = {d for d, _, _ in vault.iter_objects()}
    dry = _studio("vault", "gc", str(root))
    assert dry.returncode == 0, dry.stderr
    assert old[:16] in dry.stdout and "dry run" in dry.stdout and " B" in dry.stdout
    assert {d for d, _, _ in vault.iter_objects()} == before
    # a paid unused take is kept, even with --yes, unless --include-paid-unused
    _fake_paid(root, old, 0.75)
    assert old not in plan_gc(project).objects and old in plan_gc(project).kept_paid
    assert old in plan_gc(project, include_paid_unused=True).objects
    # a paid take an episode uses is never removed, whatever the flag
    _fake_paid(root, rerouted["second"].shots[0].asset, 0.5)
    assert rerouted["second"].shots[0].asset not in plan_gc(
        project, include_paid_unused=True).objects
    _fake_paid(root, old, 0.0)
    _fake_paid(root, rerouted["second"].shots[0].asset, 0.0)

    done = _studio("vault", "gc", str(root), "--yes")
    assert done.returncode == 0, done.stderr
    after = {d for d, _, _ in vault.iter_objects()}
    assert old not in after
    assert live <= after  # nothing referenced went
    for d in live:
        assert file_sha256(vault.path(d)) == d
    assert vault.verify().ok  # no record points at a removed object
    assert not plan_gc(project).objects  # a second gc has nothing to do
    again = _render(root)
    assert again.stage_summary["hits"] == again.stage_summary["stages"], again.stage_summary
    assert [s.asset for s in again.shots] == [s.asset for s in rerouted["second"].shots]


def test_kill_9_mid_sweep_loses_nothing_referenced(rerouted, tmp_path) -> None:
    root = tmp_path / "lh"
    shutil.copytree(rerouted["root"], root)
    vault = Project.load(root).vault()
    junk = [vault.put_bytes(os.urandom(64) + bytes([i % 256, i // 256])) for i in range(3000)]
    live = _live(root)
    assert not live & set(junk)
    proc = subprocess.Popen([str(STUDIO), "vault", "gc", str(root), "--yes"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    removed = 0
    for line in proc.stdout:
        if line.startswith("removed object"):
            removed += 1
            if removed == 20:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    left = {d for d, _, _ in vault.iter_objects()}
    assert (vault.root / JOURNAL).exists()  # killed mid-sweep: the journal is there
    assert len(set(junk) & left) > 0  # ... and some junk was not yet swept
    assert live <= left
    for d in live:
        assert file_sha256(vault.path(d)) == d
    rerun = _studio("vault", "gc", str(root), "--yes")
    assert rerun.returncode == 0, rerun.stderr
    left = {d for d, _, _ in vault.iter_objects()}
    assert not set(junk) & left and live <= left
    assert not (vault.root / JOURNAL).exists()
    assert vault.verify().ok
    again = _render(root)
    assert again.stage_summary["hits"] == again.stage_summary["stages"], again.stage_summary


def test_gc_refuses_while_a_run_is_in_progress(rerouted, tmp_path) -> None:
    from studio_kit.errors import StudioError

    root = tmp_path / "lh"
    shutil.copytree(rerouted["root"], root)
    with Ledger(root / ".studio" / "ledger.sqlite") as led:
        led.start_run("render", episode="01")  # this (live) process holds it
    with pytest.raises(StudioError) as err:
        plan_gc(Project.load(root))
    assert "in progress" in str(err.value) and err.value.hint
    res = _studio("vault", "gc", str(root), "--yes")
    assert res.returncode == 2 and "in progress" in res.stdout and "Traceback" not in res.stdout
