"""generate_shot idempotency, Gate A enforcement, failover, the fault run, kill -9 resume,
and LoRA training - all against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fakes.engine_servers import ENGINE_SERVICE, KEY_ENV, FakeEngineServer, register_test_engine

from studio_kit.engines.adapters import errors as E
from studio_kit.engines.factory import get_engine
from studio_kit.errors import BudgetError
from studio_kit.production.failover import Router, generate_episode
from studio_kit.production.generation import generate_shot
from studio_kit.production.routing import (
    EngineSettings,
    RoutingRules,
    Rule,
    RuleMatch,
    build_request,
)

FREE = register_test_engine()
TESTS = Path(__file__).resolve().parent
FAST = dict(poll_interval=0.01, max_poll_interval=0.05, timeout_s=3.0, retry_backoff=0.01,
            max_download_bytes=200_000)


@pytest.fixture
def proj(sample_project, keys):
    return sample_project


def approve(ledger, episode="01"):
    ledger.decide(episode=episode, gate="A", subject="budget", decision="approved", who="t")


def test_paid_engine_refused_without_gate_a(proj):
    vault, ledger = proj.vault(), proj.ledger()
    req = build_request(proj, "01", "s01-cliff-wide")
    with FakeEngineServer("runway") as server:
        eng = get_engine("runway", base_url=server.url, **FAST)
        with pytest.raises(BudgetError, match="Gate A"):
            asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
        assert server.calls == [] and ledger.query("SELECT * FROM engine_calls") == []
        ledger.decide(episode="01", gate="A", subject="budget", decision="rejected", who="t")
        with pytest.raises(BudgetError):
            asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
        approve(ledger)
        res = asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
        assert res.cost == pytest.approx(0.25)
        # a free engine needs no approval
        res = asyncio.run(generate_shot(build_request(proj, "02" if False else "01",
                                                      "s02-cliff-mara"), FREE, vault=vault,
                                        ledger=proj.ledger()))
        assert res.cost == 0


def test_same_request_never_paid_twice(proj):
    vault, ledger = proj.vault(), proj.ledger()
    approve(ledger)
    req = build_request(proj, "01", "s03-lamp-wide")
    with FakeEngineServer("replicate") as server:
        eng = get_engine("replicate", base_url=server.url, **FAST)
        first = asyncio.run(generate_shot(req, "replicate", vault=vault, ledger=ledger,
                                          engine=eng))
        n = len(server.calls)

        async def twice():
            return await asyncio.gather(*(generate_shot(req, "replicate", vault=vault,
                                                        ledger=ledger, engine=eng)
                                          for _ in range(3)))

        again = asyncio.run(twice())
        from studio_kit.store.ledger import Ledger

        fresh = Ledger(ledger.path)  # another process's view
        later = asyncio.run(generate_shot(req, "replicate", vault=vault, ledger=fresh,
                                          engine=eng))
        assert len(server.calls) == n  # no call at all
        assert {r.asset for r in [first, *again, later]} == {first.asset}
        import shutil

        shutil.rmtree(vault.stages)  # stage records lost: the ledger still knows it is paid
        rebuilt = asyncio.run(generate_shot(req, "replicate", vault=vault, ledger=ledger,
                                            engine=eng))
        assert rebuilt.asset == first.asset and len(server.calls) == n
        assert len(server.submissions) == 1 and len(server.billed) == 1
        rows = ledger.query("SELECT status, cost FROM engine_calls")
        assert rows == [{"status": "succeeded", "cost": pytest.approx(0.28)}]
        # a different seed is a different request
        other = req.model_copy(update={"seed": 7})
        asyncio.run(generate_shot(other, "replicate", vault=vault, ledger=ledger, engine=eng))
        assert len(server.billed) == 2
        assert ledger.total_cost() == pytest.approx(0.56)


@pytest.mark.parametrize("approval", ["current", "stale"])
def test_resume_polls_the_recorded_job(proj, approval):
    """A job submitted before a crash is collected by polling; also when routing.yaml was
    edited since Gate A (a stale approval): it is already paid, polling costs nothing."""
    vault, ledger = proj.vault(), proj.ledger()
    if approval == "current":
        approve(ledger)
    else:
        ledger.decide(episode="01", gate="A", subject="budget", decision="approved",
                      who="t", subject_hash="estimate-before-a-routing-edit")
    req = build_request(proj, "01", "s01-cliff-wide")
    with FakeEngineServer("luma") as server:
        eng = get_engine("luma", base_url=server.url, **FAST)
        h = req.request_hash("luma", eng.model)

        async def submit():
            async with eng.client() as c:
                return await eng.submit(c, req, vault)

        call = ledger.begin_call(engine="luma", request_hash=h, shot_id="s01-cliff-wide")
        ledger.update_call(call, status="submitted", remote_id=asyncio.run(submit()))
        res = asyncio.run(generate_shot(req, "luma", vault=vault, ledger=ledger, engine=eng))
        assert len(server.submissions) == 1
        row = ledger.query("SELECT * FROM engine_calls")
        assert len(row) == 1 and row[0]["status"] == "succeeded"
        assert row[0]["asset"] == res.asset


def test_failover_on_error_and_failed_qc(proj):
    vault, ledger = proj.vault(), proj.ledger()
    approve(ledger)
    with FakeEngineServer("runway") as rw, FakeEngineServer("fal") as fal:
        engines = {"runway": get_engine("runway", base_url=rw.url, **FAST),
                   "kling": get_engine("kling", base_url=fal.url, **FAST)}
        rules = RoutingRules(default="runway", failover=["kling", FREE])
        rw.script("submit", "http402")
        req = build_request(proj, "01", "s01-cliff-wide")
        from studio_kit.production.routing import route_shot

        d = route_shot(proj, "01", "s01-cliff-wide", rules, engines=engines)
        router = Router(rules, vault=vault, ledger=ledger, engines=engines)
        out = asyncio.run(router.run_shot(req, d, episode="01"))
        assert out.engine == "kling"
        assert out.attempts[0]["error"] == "InsufficientCredits"
        # QC rejects the cloud clips of another shot: it moves on to the free engine
        router.qc = lambda r, res: res.engine == FREE
        req2 = build_request(proj, "01", "s03-lamp-wide")
        d2 = route_shot(proj, "01", "s03-lamp-wide", rules, engines=engines)
        out2 = asyncio.run(router.run_shot(req2, d2, episode="01"))
        assert [a["engine"] for a in out2.attempts] == ["runway", "kling", FREE]
        assert out2.attempts[1]["error"] == "QcFailed" and out2.engine == FREE
        # after a restart the paid-but-rejected clips are not re-used, and not paid again
        out3 = asyncio.run(router.run_shot(req2, d2, episode="01"))
        assert out3.reused and out3.engine == FREE
        statuses = [r["status"] for r in ledger.query("SELECT status FROM engine_calls "
                                                      "ORDER BY id")]
        assert statuses == ["failed", "succeeded", "succeeded", "succeeded", "succeeded"]


def test_concurrency_limit_per_engine(proj):
    vault, ledger = proj.vault(), proj.ledger()
    approve(ledger)
    with FakeEngineServer("replicate", job_latency_s=0.25) as server:
        eng = get_engine("replicate", base_url=server.url, **FAST)
        peak = [0, 0]
        orig = eng.run_job

        async def counted(*a, **k):
            peak[0] += 1
            peak[1] = max(peak[1], peak[0])
            try:
                return await orig(*a, **k)
            finally:
                peak[0] -= 1

        eng.run_job = counted
        rules = RoutingRules(default="replicate",
                             engines={"replicate": EngineSettings(concurrency=2)})
        outs = asyncio.run(generate_episode(proj, "01", rules=rules,
                                            engines={"replicate": eng}, vault=vault,
                                            ledger=ledger))
        # two jobs ran at once (so faster than one at a time), never more than the limit
        assert all(o.ok for o in outs) and peak[1] == 2


def test_fault_run_completes_through_failover(proj):
    """30% of calls fail at random (seeded) across fault kinds; every shot completes."""
    vault, ledger = proj.vault(), proj.ledger()
    approve(ledger)
    servers = {s: FakeEngineServer(s, fault_rate=0.3, seed=1 + i, job_latency_s=0.03,
                                   slow_s=0.05).start()
               for i, s in enumerate(["runway", "luma", "fal", "replicate"])}
    try:
        names = ["runway", "luma", "kling", "pika", "replicate"]
        engines = {n: get_engine(n, base_url=servers[ENGINE_SERVICE[n]].url,
                                 **dict(FAST, timeout_s=0.4, max_retries=2)) for n in names}
        rules = RoutingRules(
            default="runway", failover=[FREE],
            engines={n: EngineSettings(concurrency=3) for n in names},
            rules=[Rule(name="wide", when=RuleMatch(wide=True), engine="runway",
                        failover=["kling", "luma", "replicate", "pika"]),
                   Rule(name="rest", engine="replicate",
                        failover=["pika", "luma", "kling", "runway"])])
        outs = asyncio.run(generate_episode(proj, "01", rules=rules, engines=engines,
                                            vault=vault, ledger=ledger))
        injected = sum((s.faults_injected for s in servers.values()), start=type(
            servers["fal"].faults_injected)())
        assert all(o.ok for o in outs), [o.attempts for o in outs if not o.ok]
        assert sum(injected.values()) >= 10 and len(injected) >= 6, injected
        assert any(len(o.attempts) > 1 for o in outs)  # failover happened
        rows = ledger.query("SELECT * FROM engine_calls")
        ok = [r for r in rows if r["status"] == "succeeded"]
        # the ledger's total is everything billed (failed billed attempts too); the takes
        # kept are the successful calls, the rest is waste
        expected = sum(o.result.cost for o in outs)
        assert ledger.total_cost() == pytest.approx(sum(r["cost"] for r in rows))
        spend = ledger.spend("01")
        assert spend["kept"] == pytest.approx(expected)
        assert spend["kept"] == pytest.approx(sum(r["cost"] for r in ok))
        assert spend["billed"] == pytest.approx(ledger.total_cost("01"))
        assert spend["waste"] == pytest.approx(spend["billed"] - expected - spend["pending"])
        # no request paid twice: per server, and per request hash in the ledger
        for s in servers.values():
            assert max(s.billed_per_request().values(), default=0) <= 1
        hashes = [r["request_hash"] for r in ok]
        assert len(hashes) == len(set(hashes)) == len(outs)
        # every job an engine billed is in the ledger with its cost (rejected downloads too)
        billed = sum(len(s.billed) for s in servers.values())
        assert billed == len([r for r in rows if r["cost"] > 0])
        # a second run pays nothing and calls nobody
        before = sum(len(s.calls) for s in servers.values())
        again = asyncio.run(generate_episode(proj, "01", rules=rules, engines=engines,
                                             vault=vault, ledger=ledger))
        assert all(o.reused for o in again)
        assert sum(len(s.calls) for s in servers.values()) == before
    finally:
        for s in servers.values():
            s.stop()


WORKER = textwrap.dedent("""
    import asyncio, os, sys
    sys.path.insert(0, os.environ["TESTS_DIR"])
    from fakes.engine_servers import register_test_engine
    from studio_kit.engines.factory import get_engine
    from studio_kit.project.series_folder import Project
    from studio_kit.production.failover import generate_episode
    from studio_kit.production.routing import EngineSettings, RoutingRules

    p = Project.load(sys.argv[1])
    eng = get_engine("replicate", base_url=os.environ["FAKE_URL"], poll_interval=0.02,
                     max_poll_interval=0.05, timeout_s=30)
    rules = RoutingRules(default="replicate", engines={"replicate": EngineSettings(concurrency=2)})
    outs = asyncio.run(generate_episode(p, "01", rules=rules, engines={"replicate": eng}))
    print("done", sum(o.ok for o in outs), flush=True)
""")


def _rows(db: Path, status: str) -> list[tuple[int, str]]:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT id, request_hash FROM engine_calls WHERE status=?",
                             (status,)).fetchall()
    except sqlite3.OperationalError:
        return []


def test_kill_9_then_resume_pays_nothing_twice(proj, tmp_path):
    ledger = proj.ledger()
    approve(ledger)
    ledger.close()
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    db = proj.studio_dir / "ledger.sqlite"
    with FakeEngineServer("replicate", job_latency_s=0.3) as server:
        env = dict(os.environ, TESTS_DIR=str(TESTS), FAKE_URL=server.url,
                   REPLICATE_API_TOKEN="test-key")
        proc = subprocess.Popen([sys.executable, str(script), str(proj.root)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        # kill once two shots are paid and another job is running at the engine
        while (len(_rows(db, "succeeded")) < 2 or not _rows(db, "submitted")) \
                and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        paid_before = _rows(db, "succeeded")
        in_flight = _rows(db, "submitted")
        assert 2 <= len(paid_before) < 10 and in_flight
        rerun = subprocess.run([sys.executable, str(script), str(proj.root)], env=env,
                               capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert "done 10" in rerun.stdout
    from studio_kit.store.ledger import Ledger

    led = Ledger(db)
    rows = led.query("SELECT * FROM engine_calls ORDER BY id")
    ok = [r for r in rows if r["status"] == "succeeded"]
    assert len(ok) == 10 and len({r["request_hash"] for r in ok}) == 10
    assert not [r for r in rows if r["status"] in ("submitting", "submitted", "running")]
    assert led.total_cost() == pytest.approx(10 * 0.28)
    # the engine billed each request once; jobs in flight at the kill were polled, not resent
    assert max(server.billed_per_request().values()) == 1
    assert len(server.billed) == 10
    orphans = [r for r in rows if r["status"] == "orphaned"]
    dup = [k for k, n in server.submissions_per_request().items() if n > 1]
    assert len(dup) <= len(orphans)
    # the rerun re-used the paid shots (their rows are the original ones) and only
    # submitted the shots that had not been submitted before the kill
    assert set(paid_before) <= {(r["id"], r["request_hash"]) for r in ok}
    # the jobs in flight at the kill were resumed by polling (same ledger rows, no resend)
    assert set(in_flight) <= {(r["id"], r["request_hash"]) for r in ok}
    # (an 'orphaned' row: killed between begin_call and the engine's answer; resubmitted)
    assert 10 <= len(server.submissions) <= 10 + len(orphans)


def test_train_character_lora(sample_dir, keys):
    import yaml

    from studio_kit.production.training import (
        ReplicateTrainer,
        TrainingSettings,
        train_character_lora,
    )
    from studio_kit.project.series_folder import Project

    refs = sample_dir / "characters" / "mara"
    refs.mkdir()
    for i in range(3):
        (refs / f"ref{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([i]) * 64)
    path = sample_dir / "characters" / "mara.yaml"
    data = yaml.safe_load(path.read_text())
    data["reference_images"] = [f"characters/mara/ref{i}.png" for i in range(3)]
    path.write_text(yaml.safe_dump(data))
    p = Project.load(sample_dir)
    with FakeEngineServer("replicate", job_latency_s=0.05) as server:
        trainer = ReplicateTrainer(base_url=server.url, poll_interval=0.01)
        s = TrainingSettings(destination="studio/mara-lora", steps=500)
        ref = asyncio.run(train_character_lora(p, "mara", s, trainer=trainer))
        assert ref.trigger == "MARA" and ref.uri.endswith(".safetensors")
        assert Project.load(sample_dir).characters["mara"].lora == ref
        led = p.ledger()
        rows = led.query("SELECT * FROM engine_calls")
        assert len(rows) == 1 and rows[0]["status"] == "succeeded"
        assert rows[0]["cost"] == pytest.approx(600 * ReplicateTrainer.price_per_second)
        n = len(server.calls)
        again = asyncio.run(train_character_lora(Project.load(sample_dir), "mara", s,
                                                 trainer=trainer))
        assert again == ref and len(server.calls) == n
        with pytest.raises(E.InvalidRequest, match="at least 2"):
            asyncio.run(train_character_lora(p, "theo", s, trainer=trainer))


def test_routing_change_after_gate_a_needs_a_new_approval(proj, capsys):
    """Gate A approves one estimate: editing routing.yaml afterwards refuses paid engines
    (naming routing.yaml, hint 'studio approve') until the new estimate is approved - on the
    CLI (estimate/approve) and through generate_shot, routing.generate_episode and
    regeneration.produce_shot, which find the project from the ledger or are given it."""
    from studio_kit.cli import main
    from studio_kit.production.regeneration import produce_shot

    root = str(proj.root)
    vault, ledger = proj.vault(), proj.ledger()
    req = build_request(proj, "01", "s01-cliff-wide")
    assert main(["approve", root, "01", "--gate", "A", "--who", "ana"]) == 0
    with FakeEngineServer("runway") as server:
        eng = get_engine("runway", base_url=server.url, **FAST)
        res = asyncio.run(generate_shot(req, "runway", vault=vault, ledger=ledger, engine=eng))
        assert res.cost == pytest.approx(0.25)
        routing = proj.root / "routing.yaml"
        routing.write_text(routing.read_text().replace("retry_allowance: 0.5",
                                                       "retry_allowance: 1.5"))
        other = req.model_copy(update={"seed": 11})
        with pytest.raises(BudgetError) as err:
            asyncio.run(generate_shot(other, "runway", vault=vault, ledger=ledger, engine=eng))
        text = str(err.value)
        assert "routing.yaml" in text and "studio approve" in text and "changed" in text
        assert str(routing) in text  # the project's routing.yaml, not "/routing.yaml"
        # the same with the project or the estimate given explicitly
        with pytest.raises(BudgetError, match="routing.yaml"):
            asyncio.run(generate_shot(other, "runway", vault=vault, ledger=ledger, engine=eng,
                                      project=proj))
        with pytest.raises(BudgetError, match="routing.yaml"):
            asyncio.run(generate_shot(other, "runway", vault=vault, ledger=ledger, engine=eng,
                                      estimate_hash="not-the-approved-one"))
        # and through the other callers of Gate A
        rules = RoutingRules(default="runway", failover=[], rules=[])
        with pytest.raises(BudgetError, match="routing.yaml"):
            asyncio.run(generate_episode(proj, "01", rules=rules, engines={"runway": eng},
                                         vault=vault, ledger=ledger,
                                         requests={"s01-cliff-wide": other}))
        with pytest.raises(BudgetError, match="routing.yaml"):
            asyncio.run(produce_shot(other, chain=["runway"], vault=vault, ledger=ledger,
                                     budget=1))
        assert len(server.billed) == 1  # nothing paid after the change
        capsys.readouterr()
        assert main(["estimate", root, "01"]) == 0
        assert "re-approve" in capsys.readouterr().err
        assert main(["approve", root, "01", "--gate", "A", "--who", "ana"]) == 0
        again = asyncio.run(generate_shot(other, "runway", vault=vault, ledger=ledger,
                                          engine=eng))
        assert again.cost == pytest.approx(0.25) and len(server.billed) == 2


def test_gate_a_does_not_depend_on_which_api_keys_this_shell_has(proj, monkeypatch):
    """Approving in one shell and rendering in another (other keys set) keeps Gate A: the
    estimate hash covers the configured routes and prices, not the engines usable here."""
    from studio_kit.production.budget import estimate_episode
    from studio_kit.production.generation import current_estimate_hash, require_gate_a

    ledger = proj.ledger()
    approved = estimate_episode(proj, "01", ledger=ledger)
    ledger.decide(episode="01", gate="A", subject="budget", decision="approved", who="ana",
                  subject_hash=approved.estimate_hash)
    monkeypatch.delenv(KEY_ENV["luma"])  # a failover engine of some shots loses its key
    now = estimate_episode(proj, "01", ledger=ledger)
    assert any("luma" in w for s in now.shots for w in s.warnings)  # the routes did change
    assert current_estimate_hash(proj, "01", ledger) == approved.estimate_hash
    require_gate_a(ledger, "01", "runway")  # no BudgetError
