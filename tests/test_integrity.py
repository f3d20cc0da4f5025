"""Money and integrity across processes: two renders of one project pay each request once
(ledger leases), a dead holder's lease is taken over and its job polled, dead runs are
marked interrupted, billed-then-uncollected jobs stay pending with their cost and are
collected on the next run, and no secret reaches the ledger."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakes.engine_servers import FakeEngineServer

from studio_kit.engines.factory import get_engine
from studio_kit.production.generation import generate_shot
from studio_kit.production.routing import RoutingRules, build_request
from studio_kit.store.ledger import Ledger

TESTS = Path(__file__).resolve().parent
FAST = dict(poll_interval=0.01, max_poll_interval=0.05, timeout_s=3.0, retry_backoff=0.01,
            max_download_bytes=200_000)

WORKER = textwrap.dedent("""
    import asyncio, os, sys
    sys.path.insert(0, os.environ["TESTS_DIR"])
    from studio_kit.engines.factory import get_engine
    from studio_kit.project.series_folder import Project
    from studio_kit.production.failover import generate_episode
    from studio_kit.production.routing import EngineSettings, RoutingRules

    p = Project.load(sys.argv[1])
    eng = get_engine("replicate", base_url=os.environ["FAKE_URL"], poll_interval=0.02,
                     max_poll_interval=0.05, timeout_s=30)
    rules = RoutingRules(default="replicate", engines={"replicate": EngineSettings(concurrency=3)})
    open(sys.argv[2], "w").close()
    while not os.path.exists(sys.argv[3]):  # both processes start their render together
        pass
    outs = asyncio.run(generate_episode(p, "01", rules=rules, engines={"replicate": eng}))
    print("done", sum(o.ok for o in outs), flush=True)
""")


def approve(ledger: Ledger, episode: str = "01") -> None:
    ledger.decide(episode=episode, gate="A", subject="budget", decision="approved", who="t")


def test_two_render_processes_bill_each_request_once(sample_project, keys, tmp_path):
    proj = sample_project
    with proj.ledger() as led:
        approve(led)
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    go = tmp_path / "go"
    with FakeEngineServer("replicate", job_latency_s=0.4) as server:
        env = dict(os.environ, TESTS_DIR=str(TESTS), FAKE_URL=server.url,
                   REPLICATE_API_TOKEN="test-key")
        procs = [subprocess.Popen([sys.executable, str(script), str(proj.root),
                                   str(tmp_path / f"ready{i}"), str(go)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(2)]
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
            time.sleep(0.01)
        go.touch()
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        assert all("done 10" in o for o, _ in outs), outs
        # counted at the engine: every request billed (and submitted) exactly once
        assert len(server.billed) == 10
        assert max(server.billed_per_request().values()) == 1
        assert max(server.submissions_per_request().values()) == 1
    with Ledger(proj.studio_dir / "ledger.sqlite") as led:
        rows = led.query("SELECT * FROM engine_calls")
        assert led.total_cost() == pytest.approx(10 * 0.28)
        assert led.query("SELECT * FROM leases") == []
    assert len([r for r in rows if r["status"] == "succeeded"]) == 10
    assert not [r for r in rows if r["status"] == "orphaned"]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_dead_holders_lease_is_taken_over_and_its_job_polled(sample_project, keys):
    proj = sample_project
    vault, ledger = proj.vault(), proj.ledger()
    approve(ledger)
    req = build_request(proj, "01", "s01-cliff-wide")
    with FakeEngineServer("luma") as server:
        eng = get_engine("luma", base_url=server.url, **FAST)
        h = req.request_hash("luma", eng.model)
        # a process submitted the job, stored its id, took the lease and died (kill -9)
        async def submit() -> str:
            async with eng.client() as c:
                return await eng.submit(c, req, vault)

        rid = asyncio.run(submit())
        call = ledger.begin_call(engine="luma", request_hash=h, model=eng.model,
                                 shot_id="s01-cliff-wide")
        ledger.update_call(call, status="submitted", remote_id=rid)
        dead = _dead_pid()
        with ledger.transaction() as c:
            c.execute("INSERT INTO leases VALUES (?,?,?,?,?,?)",
                      (h, "x", dead, __import__("socket").gethostname(), "t",
                       time.time() + 3600))
        res = asyncio.run(generate_shot(req, "luma", vault=vault, ledger=ledger, engine=eng))
        assert res.metadata["remote_id"] == rid
        assert len(server.submissions) == 1 and len(server.billed) == 1
        assert ledger.query("SELECT status FROM engine_calls") == [{"status": "succeeded"}]


def test_a_live_holder_is_waited_for_then_refused_clearly(sample_project, keys, monkeypatch):
    proj = sample_project
    vault, ledger = proj.vault(), proj.ledger()
    approve(ledger)
    req = build_request(proj, "01", "s01-cliff-wide")
    monkeypatch.setenv("STUDIO_LEASE_WAIT_S", "0.3")
    with FakeEngineServer("luma") as server:
        eng = get_engine("luma", base_url=server.url, **FAST)
        h = req.request_hash("luma", eng.model)
        holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            with ledger.transaction() as c:
                c.execute("INSERT INTO leases VALUES (?,?,?,?,?,?)",
                          (h, "x", holder.pid, __import__("socket").gethostname(), "t",
                           time.time() + 3600))
            from studio_kit.errors import EngineError

            with pytest.raises(EngineError) as info:
                asyncio.run(generate_shot(req, "luma", vault=vault, ledger=ledger,
                                          engine=eng))
            assert f"pid {holder.pid}" in str(info.value) and info.value.hint
            assert server.calls == []
        finally:
            holder.kill()
            holder.wait()


def test_dead_runs_are_marked_interrupted(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        run = led.start_run("render", episode="01")
        mine = led.start_run("render", episode="02")
        with led.transaction() as c:
            c.execute("UPDATE runs SET pid=? WHERE id=?", (_dead_pid(), run))
    with Ledger(path) as led:
        status = {r["id"]: r["status"] for r in led.query("SELECT id, status FROM runs")}
    assert status == {run: "interrupted", mine: "running"}


def test_completed_job_whose_result_fetch_fails_is_kept_and_collected(sample_project, keys):
    """The job finished (billed) but its result cannot be fetched: not recorded failed at
    $0, no other engine paid; the next run collects it with no new submission."""
    proj = sample_project
    vault, ledger = proj.vault(), proj.ledger()
    approve(ledger)
    with FakeEngineServer("runway") as server:
        eng = get_engine("runway", base_url=server.url, **dict(FAST, max_retries=1))
        free = get_engine("local")
        rules = RoutingRules(default="runway", failover=["local"])
        server.script("download", *["http500"] * 40)
        sb = proj.storyboard("01")
        one = sb.shots[0].id
        req = build_request(proj, "01", one)
        from studio_kit.engines.adapters.errors import ResultUnavailable

        with pytest.raises(ResultUnavailable):
            asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
        rows = ledger.query("SELECT status, cost, remote_id FROM engine_calls")
        assert rows == [{"status": "submitted", "cost": pytest.approx(0.25),
                         "remote_id": rows[0]["remote_id"]}] and rows[0]["remote_id"]
        assert ledger.total_cost() == pytest.approx(0.25) == len(server.billed) * 0.25
        assert ledger.spend()["pending"] == pytest.approx(0.25)
        # the router does not pay (or run) another engine for it
        from studio_kit.production.routing import route_episode

        d = next(x for x in route_episode(proj, "01", rules, {"runway": eng, "local": free})
                 if x.shot_id == one)
        from studio_kit.production.failover import Router

        router = Router(rules, vault=vault, ledger=ledger,
                        engines={"runway": eng, "local": free})
        out = asyncio.run(router.run_shot(req, d, episode="01", project=proj))
        assert not out.ok and [a["engine"] for a in out.attempts] == ["runway"]
        server._scripted.clear()
        res = asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
        assert res.cost == pytest.approx(0.25)
        assert len(server.submissions) == 1 and len(server.billed) == 1
        assert ledger.query("SELECT status, cost FROM engine_calls") == [
            {"status": "succeeded", "cost": pytest.approx(0.25)}]
        assert ledger.total_cost() == pytest.approx(0.25)


def test_echoed_key_never_reaches_the_ledger(sample_project, monkeypatch):
    secret = "sk-live-0123456789abcdef"
    monkeypatch.setenv("RUNWAYML_API_SECRET", secret)
    with sample_project.ledger() as led:
        run = led.start_run("render", params={"note": f"key {secret}"})
        call = led.begin_call(engine="runway", request_hash="h")
        led.update_call(call, status="failed", error=f"400: bad key Bearer {secret}")
        led.qc_score(shot_id="s", scorer="x", score=1, passed=True,
                     details={"msg": secret})
        led.finish_run(run, record=f"render {secret}")
    data = (sample_project.studio_dir / "ledger.sqlite").read_bytes()
    for f in sample_project.studio_dir.glob("ledger.sqlite*"):
        data += f.read_bytes()
    assert secret.encode() not in data


def test_status_and_gate_a_count_billed_failures_and_show_waste(sample_project):
    from studio_kit.production.budget import estimate_episode
    from studio_kit.surfaces.status import project_status

    with sample_project.ledger() as led:
        run = led.start_run("render", episode="01")
        ok = led.begin_call(engine="runway", request_hash="a", run_id=run, shot_id="s1")
        led.update_call(ok, status="succeeded", cost=0.25, asset="x")
        bad = led.begin_call(engine="runway", request_hash="b", run_id=run, shot_id="s2")
        led.update_call(bad, status="failed", cost=0.5, error="truncated delivery")
        led.finish_run(run, status="incomplete")
    st = project_status(sample_project)
    assert st.spent == pytest.approx(0.75) and st.waste == pytest.approx(0.5)
    ep = next(e for e in st.episodes if e.episode == "01")
    assert ep.spent == pytest.approx(0.75) and ep.waste == pytest.approx(0.5)
    est = estimate_episode(sample_project, "01")
    assert est.spent_series == pytest.approx(0.75) and est.waste_series == pytest.approx(0.5)


def test_corrupt_paid_take_is_refetched_by_its_job_id_not_paid_again(sample_project, keys):
    proj = sample_project
    vault, ledger = proj.vault(), proj.ledger()
    approve(ledger)
    req = build_request(proj, "01", "s01-cliff-wide")
    with FakeEngineServer("luma") as server:
        eng = get_engine("luma", base_url=server.url, **FAST)
        first = asyncio.run(generate_shot(req, "luma", vault=vault, ledger=ledger, engine=eng))
        path = vault.path(first.asset)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # a flipped byte in the clip
        os.chmod(path, 0o644)
        path.write_bytes(bytes(data))
        again = asyncio.run(generate_shot(req, "luma", vault=vault, ledger=ledger, engine=eng))
        assert again.asset == first.asset  # detected before use, fetched again: same bytes
        assert vault.get(again.asset).read_bytes() != bytes(data)
        assert (vault.root / "quarantine" / first.asset).is_file()
        assert len(server.submissions) == 1 and len(server.billed) == 1
        rows = ledger.query("SELECT status, cost FROM engine_calls")
        assert rows == [{"status": "succeeded", "cost": pytest.approx(first.cost)}]
        assert ledger.total_cost() == pytest.approx(first.cost)


def test_flipped_vault_bytes_are_repaired_before_use_and_never_delivered(tmp_path):
    """A flipped byte in a shot clip and in the signed master in the vault: the next render
    detects both before use, re-makes them, and delivers a master whose bytes are what its
    C2PA report (valid) describes."""
    import json

    from test_pipeline_episode import small_sample

    from studio_kit.pipeline import RenderOptions, render_episode
    from studio_kit.project.series_folder import Project
    from studio_kit.store.hashing import file_hash

    root = small_sample(tmp_path / "lighthouse")
    opts = RenderOptions(width=160, height=90)
    first = render_episode(root, "01", options=opts, out_dir=root / "out")
    vault = Project.load(root).vault()
    master = file_hash(first.master)
    clip = first.shots[0].asset
    for digest in (master, clip):
        p = vault.path(digest)
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0xFF
        os.chmod(p, 0o644)
        p.write_bytes(bytes(data))
    Path(first.master).unlink()
    again = render_episode(root, "01", options=opts, out_dir=root / "out")
    delivered = file_hash(again.master)
    report = json.loads(Path(again.provenance_report).read_text(encoding="utf-8"))
    assert report["sha256"] == delivered and report["validation_state"] == "Valid"
    assert vault.has(delivered) and file_hash(vault.path(delivered)) == delivered
    assert again.shots[0].asset == clip and file_hash(vault.path(clip)) == clip
    assert (vault.root / "quarantine" / master).is_file()
    assert (vault.root / "quarantine" / clip).is_file()
    assert vault.verify().ok


@pytest.mark.heavy
def test_two_studio_render_processes_bill_each_shot_once(tmp_path, monkeypatch):
    """Two real ``studio render`` commands on one project, at the same time, against a
    loopback runway with latency: each request is billed once at the engine."""
    from test_pipeline_episode import small_sample

    from studio_kit.production.budget import approve_gate_a
    from studio_kit.project.series_folder import Project

    monkeypatch.setenv("RUNWAYML_API_SECRET", "test-key")
    root = small_sample(tmp_path / "lighthouse")
    with FakeEngineServer("runway", job_latency_s=0.5) as server:
        (root / "routing.yaml").write_text(
            "schema_version: 1\ndefault: runway\nfailover: [local]\nengines:\n"
            f"  runway: {{base_url: '{server.url}', concurrency: 3}}\nrules: []\n")
        approve_gate_a(Project.load(root), "01", who="producer")
        env = dict(os.environ, RUNWAYML_API_SECRET="test-key", STUDIO_ENGINE_POLL_S="0.02",
                   STUDIO_ENGINE_MAX_POLL_S="0.05")
        studio = [sys.executable, "-m", "studio_kit.cli", "render", str(root), "01",
                  "--width", "160", "--height", "90", "--no-prores", "--no-sign",
                  "--attempts", "1"]  # the fake's test pattern fails QC: no regeneration
        procs = [subprocess.Popen(studio + ["--out", str(root / f"out{i}")], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(2)]
        outs = [p.communicate(timeout=240) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        # (QC may regenerate a shot with another seed: that is another request)
        assert server.billed and max(server.billed_per_request().values()) == 1
        assert max(server.submissions_per_request().values()) == 1
        billed = len(server.billed)
    with Ledger(root / ".studio" / "ledger.sqlite") as led:
        rows = led.query("SELECT request_hash, cost FROM engine_calls WHERE engine='runway'")
        assert led.total_cost() == pytest.approx(billed * 0.25)
    assert len(rows) == len({r["request_hash"] for r in rows}) == billed
