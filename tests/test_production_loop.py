"""The production loop of the render (issue 12): one shot path with QC before a take is kept
and regeneration of a failing take, the prompt linter before any engine call, Gate B notes
folded into the next render's prompt, Gate C before publishing, one current take for
``studio qc`` and the gates after both render paths, transient engine failures retried on the
next render, and shots generated concurrently within each engine's limit."""

from __future__ import annotations

import json
import time

import pytest
from fakes.engine_servers import KEY_ENV, FakeEngineServer
from test_pipeline_episode import small_sample

from studio_kit.cli import main
from studio_kit.engines.base import Drift
from studio_kit.errors import StudioError
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.pipeline.context import RenderContext
from studio_kit.pipeline.stages import pictures as pictures_mod
from studio_kit.production import gates
from studio_kit.production.budget import approve_gate_a
from studio_kit.production.gates import GateError
from studio_kit.production.regeneration import stored_request
from studio_kit.project.series_folder import Project

LOCAL = RenderOptions(engine="local", width=160, height=90, sign=False, prores=False)
CLOUD = RenderOptions(width=160, height=90, sign=False, prores=False, attempts=1)


def _route_to(root, server_url: str, *, failover: str = "", concurrency: int = 1) -> None:
    (root / "routing.yaml").write_text(
        "schema_version: 1\ndefault: runway\n"
        f"failover: [{failover}]\n"
        "engines:\n"
        f"  runway: {{base_url: '{server_url}', concurrency: {concurrency}}}\n"
        "rules: []\n")


def studio(capsys, *args: str) -> tuple[int, str]:
    """Run the ``studio`` CLI in-process: exit code and everything it printed."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, " ".join((out.out + out.err).split())


@pytest.fixture()
def sample(tmp_path):
    return small_sample(tmp_path / "lighthouse")


def test_a_drifted_take_is_caught_by_qc_and_regenerated(sample, monkeypatch):
    """The first take of a character shot has the wrong hair and wardrobe colour (the local
    engine's Drift); QC fails it, a new seed is generated, and the episode keeps that take."""
    p = Project.load(sample)
    target = next(s.id for s in p.storyboard("01").shots if s.characters)
    real = RenderContext.shot_request

    def drifting(self, job, engine, prompt, seed, previous_clip=None):
        req = real(self, job, engine, prompt, seed, previous_clip)
        if job.shot.id == target and seed == job.seed:  # attempt 1 only
            req = req.model_copy(update={"drift": Drift(amount=1.0,
                                                        kinds=["hair_hue", "garment_hue"])})
        return req

    monkeypatch.setattr(RenderContext, "shot_request", drifting)
    result = render_episode(sample, "01", options=LOCAL, out_dir=sample / "out")
    rec = next(s for s in result.shots if s.shot_id == target)
    assert len(rec.attempts) == 2, rec.attempts
    assert "failed QC" in rec.attempts[0] and "character" in rec.attempts[0]
    assert rec.attempts[1].endswith("passed QC") and rec.qc_passed
    with p.ledger() as led:
        rows = [json.loads(r["outputs"]) for r in led.query(
            "SELECT outputs FROM stage_results WHERE stage='regeneration' AND subject=? "
            "ORDER BY id", (target,))]
    assert [r["passed"] for r in rows] == ["false", "true"]
    assert rec.asset == rows[1]["asset"] != rows[0]["asset"]  # the good take is the shot's
    assert stored_request(p.vault(), rec.request).seed != rows[0]["seed"]
    # the master is assembled from the good take's grade
    assert rec.graded and gates.current_takes(p.ledger(), "01")[target] == rec.asset
    others = [s for s in result.shots if s.shot_id != target]
    assert all(len(s.attempts) == 1 and s.qc_passed for s in others)


def test_a_lint_error_stops_the_shot_before_any_engine_call(sample, monkeypatch):
    monkeypatch.setenv(KEY_ENV["runway"], "test-key")
    p = Project.load(sample)
    word = p.storyboard("01").shots[0].action.split()[0].strip(".,").lower()
    (sample / "prompt_policy.yaml").write_text(f"banned_terms: [{word}]\n")
    with FakeEngineServer("runway") as server:
        _route_to(sample, server.url, failover="local")
        approve_gate_a(Project.load(sample), "01", who="producer")
        with pytest.raises(StudioError) as err:
            render_episode(sample, "01", options=CLOUD, out_dir=sample / "out")
        assert not server.calls  # nothing was sent to the engine
    msg = str(err.value)
    shot = p.storyboard("01").shots[0].id
    assert shot in msg and "banned term" in msg and "no engine was called" in msg
    with Project.load(sample).ledger() as led:
        assert not led.query("SELECT 1 FROM engine_calls")


def test_a_gate_b_rejection_regenerates_the_shot_with_the_note(sample, capsys):
    first = render_episode(sample, "01", options=LOCAL, out_dir=sample / "out")
    p = Project.load(sample)
    shot = first.shots[0].shot_id
    led = p.ledger()
    take = gates.current_takes(led, "01")[shot]
    note = "her scarf should be deep crimson"
    code, out = studio(capsys, "gate", sample, "01", "--gate", "B", "--shot", shot,
                       "--reject", "--who", "director", "--why", note)
    assert code == 0, out
    again = render_episode(sample, "01", options=LOCAL, out_dir=sample / "out")
    rec = next(s for s in again.shots if s.shot_id == shot)
    assert rec.asset != take and note in rec.direction
    assert note in stored_request(p.vault(), rec.request).prompt  # in the request's hash
    assert [s.asset for s in again.shots[1:]] == [s.asset for s in first.shots[1:]]
    assert gates.shot_status(led, "01", shot, rec.asset).state == gates.GateState.open
    # approving the new take keeps it: the note stays in the prompt, the take is current
    gates.review_shot(led, "01", shot, approve=True, who="director", asset=rec.asset)
    third = render_episode(sample, "01", options=LOCAL, out_dir=sample / "out")
    assert third.shots[0].asset == rec.asset
    led.close()


def test_publish_needs_gate_c_and_studio_qc_works_after_both_render_paths(sample, tmp_path,
                                                                          capsys):
    from studio_kit.pipeline import run_notebook

    render_episode(sample, "01", options=LOCAL, out_dir=sample / "out")
    code, out = studio(capsys, "qc", sample, "01")
    assert code == 0 and "no generated shots" not in out and "not generated" not in out, out
    dest = tmp_path / "published.mp4"
    code, out = studio(capsys, "publish", sample, "01", dest)
    assert code == 2 and "Gate C" in out and not dest.exists(), out
    # through the notebook: the current takes and the master are the notebook run's
    nb = run_notebook(sample, "01", LOCAL.model_copy(update={"force": True}),
                      out_dir=sample / "out")
    assert nb.is_file()
    code, out = studio(capsys, "qc", sample, "01")
    assert code == 0 and "not generated" not in out and "no stored request" not in out, out
    led = Project.load(sample).ledger()
    g = gates.episode_gates(led, Project.load(sample), "01")
    assert g.master and len(g.takes) == len(Project.load(sample).storyboard("01").shots)
    code, out = studio(capsys, "gate", sample, "01", "--gate", "B")
    assert code == 0 and "no take" not in out, out
    code, out = studio(capsys, "gate", sample, "01", "--gate", "C", "--approve", "--who",
                       "producer")
    assert code == 0, out
    code, out = studio(capsys, "publish", sample, "01", dest)
    assert code == 0 and dest.is_file(), out
    with open(g.master, "ab") as f:  # a master changed after approval is not published
        f.write(b"\0")
    with pytest.raises(GateError, match="changed after it was approved"):
        gates.publish(led, "01", g.master, tmp_path / "x.mp4")
    led.close()


def test_a_transiently_failed_chain_is_retried_on_the_next_render(sample, monkeypatch):
    monkeypatch.setenv(KEY_ENV["runway"], "test-key")
    monkeypatch.setenv("STUDIO_ENGINE_POLL_S", "0.01")
    monkeypatch.setenv("STUDIO_ENGINE_MAX_POLL_S", "0.05")
    n = len(Project.load(sample).storyboard("01").shots)
    with FakeEngineServer("runway") as server:
        _route_to(sample, server.url)  # the chain is runway alone
        approve_gate_a(Project.load(sample), "01", who="producer")
        server.script("submit", *["http500"] * n)  # every shot's call fails once
        with pytest.raises(StudioError, match="every engine of its route failed"):
            render_episode(sample, "01", options=CLOUD, out_dir=sample / "out")
        calls = len(server.submissions)
        again = render_episode(sample, "01", options=CLOUD, out_dir=sample / "out")
        assert len(server.submissions) > calls  # retried, not "failed before"
        assert {s.engine for s in again.shots} == {"runway"}
        assert not any("failed before" in f for s in again.shots for f in s.failover)
        # a permanent refusal is remembered: skipped next time, and says how to retry
        (sample / "routing.yaml").write_text(
            (sample / "routing.yaml").read_text().replace("failover: []",
                                                          "failover: [local]"))
        approve_gate_a(Project.load(sample), "01", who="producer")  # the route changed
        server.script("submit", *["http401"] * n)
        forced = CLOUD.model_copy(update={"force": True, "attempts": 1})
        monkeypatch.setattr(pictures_mod, "shot_seed", lambda e, s, x: 7)  # new requests
        third = render_episode(sample, "01", options=forced, out_dir=sample / "out")
        assert {s.engine for s in third.shots} == {"local"}
        before = len(server.submissions) + len(server.calls)
        fourth = render_episode(sample, "01", options=forced, out_dir=sample / "out")
        assert len(server.submissions) + len(server.calls) == before
        assert all(any(f.startswith("runway: failed before") and "--retry-failed" in f
                       for f in s.failover) for s in fourth.shots)


def test_shots_generate_concurrently_within_the_engine_limit(sample, monkeypatch):
    monkeypatch.setenv(KEY_ENV["runway"], "test-key")
    monkeypatch.setenv("STUDIO_ENGINE_POLL_S", "0.02")
    monkeypatch.setenv("STUDIO_ENGINE_MAX_POLL_S", "0.05")
    latency = 1.0
    n = len(Project.load(sample).storyboard("01").shots)
    seconds = {}
    for conc in (1, n):
        with FakeEngineServer("runway", job_latency_s=latency) as server:
            _route_to(sample, server.url, concurrency=conc)
            approve_gate_a(Project.load(sample), "01", who="producer")
            monkeypatch.setattr(pictures_mod, "shot_seed", lambda e, s, x, c=conc: hash((s, c)) % 999)
            t0 = time.perf_counter()
            render_episode(sample, "01", options=CLOUD, out_dir=sample / "out")
            seconds[conc] = time.perf_counter() - t0
            assert len(server.submissions) == n
    # sequential: about n latencies more than concurrent (n/n = one latency)
    assert seconds[1] - seconds[n] > (n - 1) * latency * 0.7, seconds


@pytest.mark.heavy
def test_a_local_render_scores_every_metric_on_every_shot(sample):
    """Every metric is scored on every shot, skipped only where there is nothing to measure
    (lip-sync in a shot without lines; vlm/embedding without a configured model).

    The size is physical: s07 is a wide two-shot whose faces are 11-12 px wide in a 640 px
    frame. At 320x180 they are about 6 px and the engine draws no eyes or mouth at all
    (features need a head of 8 px or more), so face proportions and lip-sync have nothing
    to read; at 640 px the eyes are 1-2 px and the eye spacing reads 37-43 % off with no
    drift at all (measured). Face proportions need faces of 40 px (``MIN_FACE_PX``), which
    small faces reach on the file's own pixels (``ShotMedia.native_crops``) from about
    2368x1332 (Elodie's face: 40 px); the test renders 2560x1440 (43 px, a 3 px margin)."""
    opts = LOCAL.model_copy(update={"width": 2560, "height": 1440})
    result = render_episode(sample, "01", options=opts, out_dir=sample / "out")
    with Project.load(sample).ledger() as led:
        rows = led.query("SELECT shot_id, scorer AS metric, details FROM qc_scores WHERE "
                         "run_id=?",
                         (result.run_id,))
    assert rows
    metrics = {r["metric"] for r in rows}
    shots = {r["shot_id"] for r in rows}
    assert len(shots) == 3 and len(metrics) >= 17, (shots, metrics)
    for shot in shots:  # every metric recorded for every shot
        assert {r["metric"] for r in rows if r["shot_id"] == shot} == metrics, shot
    allowed = ("no dialogue", "configured")  # lip-sync without lines; vlm/embedding unset
    bad = []
    for r in rows:
        skipped = json.loads(r["details"] or "{}").get("skipped")
        if skipped and not any(a in str(skipped).lower() for a in allowed):
            bad.append((r["shot_id"], r["metric"], skipped))
    assert not bad, bad


def test_regeneration_over_the_approved_estimate_asks_again(sample, monkeypatch):
    """QC fails the fake's test patterns: regenerating on the paid engine goes on only while
    the render's spend stays within the estimate Gate A approved (retries included)."""
    from studio_kit.errors import BudgetError
    from studio_kit.production.budget import estimate_episode

    monkeypatch.setenv(KEY_ENV["runway"], "test-key")
    monkeypatch.setenv("STUDIO_ENGINE_POLL_S", "0.01")
    monkeypatch.setenv("STUDIO_ENGINE_MAX_POLL_S", "0.05")
    with FakeEngineServer("runway") as server:
        _route_to(sample, server.url, failover="local")
        p = Project.load(sample)
        approve_gate_a(p, "01", who="producer")
        approved = estimate_episode(p, "01").total
        opts = CLOUD.model_copy(update={"attempts": 3})
        with pytest.raises(BudgetError) as err:
            render_episode(sample, "01", options=opts, out_dir=sample / "out")
    msg = str(err.value)
    assert "Gate A approved" in msg and "studio estimate" in msg and "studio approve" in msg
    with Project.load(sample).ledger() as led:
        assert 0 < led.total_cost("01") <= approved + 1e-9  # never over what was approved
