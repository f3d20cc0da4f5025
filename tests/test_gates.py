"""Gates B and C, publishing, and the end-to-end story: an injected drifting shot is caught
by QC, regenerated with a new seed, passes, goes through Gate B (including a rejection that
feeds regeneration) and Gate C, and the ledger tells the whole story."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from studio_kit.engines.base import Drift, RenderFormat
from studio_kit.production import gates
from studio_kit.production.regeneration import attempt_plan, attempt_seed, produce_shot
from studio_kit.production.routing import build_request, load_rules, route_shot
from studio_kit.store.ledger import Ledger

SHOTS = ["s02-cliff-mara", "s04-lamp-mara", "s08-cafe-mara"]
DRIFTING = "s04-lamp-mara"


def test_attempt_plan_and_seeds():
    assert attempt_plan(["a", "b"], 5, 2) == ["a", "a", "b", "b", "a"]
    assert attempt_seed(7, "s1", 1) == 7
    seeds = {attempt_seed(7, "s1", n) for n in range(1, 6)}
    assert len(seeds) == 5 and attempt_seed(7, "s1", 3) == attempt_seed(7, "s1", 3)


def test_gate_b_decisions_bind_to_the_take(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        with pytest.raises(gates.GateError):
            gates.review_shot(ledger, "01", "s1", approve=False, who="ana", why="",
                              asset="a1")
        with pytest.raises(gates.GateError):
            gates.review_shot(ledger, "01", "s1", approve=True, who=" ", asset="a1")
        st = gates.review_shot(ledger, "01", "s1", approve=True, who="ana", why="lovely",
                               asset="a1")
        assert st.state == gates.GateState.approved and st.who == "ana"
        assert gates.shot_status(ledger, "01", "s1", "a2").state == gates.GateState.reopened
        assert gates.gate_b_complete(ledger, "01", {"s1": "a1", "s2": "b1"}) == ["s2"]


def test_gate_c_reopens_when_the_master_changes(tmp_path):
    master = tmp_path / "master.mp4"
    master.write_bytes(b"master v1")
    dest = tmp_path / "out" / "ep01.mp4"
    with Ledger(tmp_path / "l.sqlite") as ledger:
        with pytest.raises(gates.GateError) as err:
            gates.publish(ledger, "01", master, dest)
        assert "not been reviewed" in str(err.value) and "hint" in str(err.value)
        gates.decide_master(ledger, "01", master, approve=False, who="bo", why="too dark")
        with pytest.raises(gates.GateError, match="rejected by bo: too dark"):
            gates.publish(ledger, "01", master, dest)
        gates.decide_master(ledger, "01", master, approve=True, who="bo", why="graded")
        assert gates.publish(ledger, "01", master, dest).read_bytes() == b"master v1"
        master.write_bytes(b"master v2")
        with pytest.raises(gates.GateError, match="changed after it was approved"):
            gates.publish(ledger, "01", master, tmp_path / "out" / "again.mp4")
        d = ledger.latest_decision("01", "C", "master")
        assert d["decision"] == "reopened" and d["who"] == "system"
        assert not (tmp_path / "out" / "again.mp4").exists()


def _concat(paths, out):
    import imageio_ffmpeg

    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in paths))
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "concat",
                    "-safe", "0", "-i", str(listing), "-c", "copy", str(out)], check=True)


def test_end_to_end_drift_caught_regenerated_gated_published(sample_project, tmp_path):
    project = sample_project
    vault, ledger = project.vault(), project.ledger()
    fmt = RenderFormat(width=320, height=180, fps=24)
    rules = load_rules(project)
    sb = project.storyboard("01")
    run_id = ledger.start_run("episode", "01", {"test": "e2e"})

    def injected(attempt: int, engine: str):
        # the generator drifts on the first seed of one shot only
        return Drift(amount=0.6, kinds=["garment_hue"]) if attempt == 1 else None

    async def produce_all():
        out = {}
        for sid in SHOTS:
            req = build_request(project, "01", sid, duration_s=0.5).model_copy(
                update={"format": fmt})
            chain = route_shot(project, "01", sb.shot(sid), rules).chain
            out[sid] = await produce_shot(
                req, chain=chain, vault=vault, ledger=ledger, run_id=run_id, budget=3,
                injected_drift=injected if sid == DRIFTING else None)
        return out

    prods = asyncio.run(produce_all())
    for sid in SHOTS:
        assert prods[sid].passed, (sid, [a.failures for a in prods[sid].attempts])
    bad = prods[DRIFTING]
    assert len(bad.attempts) == 2
    first, second = bad.attempts
    assert not first.passed and any(f.startswith("character.") for f in first.failures)
    assert second.passed and second.seed != first.seed and second.asset != first.asset
    assert all(len(prods[s].attempts) == 1 for s in SHOTS if s != DRIFTING)

    # Gate B: a reviewer rejects one take with a note -> regenerated (new seed), approved
    s02 = prods["s02-cliff-mara"]
    req02 = build_request(project, "01", "s02-cliff-mara", duration_s=0.5).model_copy(
        update={"format": fmt})
    redo = asyncio.run(gates.reject_and_regenerate(
        ledger, "01", "s02-cliff-mara", who="director", why="wants another take",
        asset=s02.result.asset, request=req02, chain=["local"], vault=vault, run_id=run_id))
    assert redo.passed and redo.attempts[0].attempt == 2
    assert redo.attempts[0].reason.startswith("Gate B rejected by director")
    takes = {sid: prods[sid].result.asset for sid in SHOTS}
    takes["s02-cliff-mara"] = redo.result.asset
    for sid, asset in takes.items():
        gates.review_shot(ledger, "01", sid, approve=True, who="director", why="ok",
                          asset=asset)
    assert gates.gate_b_complete(ledger, "01", takes) == []

    # Gate C on a real master (the approved takes joined), then publish
    master = tmp_path / "master.mp4"
    _concat([vault.get(takes[s]) for s in SHOTS], master)
    with pytest.raises(gates.GateError):
        gates.publish(ledger, "01", master, tmp_path / "pub" / "ep01.mp4", run_id=run_id)
    gates.decide_master(ledger, "01", master, approve=True, who="producer", why="ship it")
    gates.publish(ledger, "01", master, tmp_path / "pub" / "ep01.mp4", run_id=run_id)

    # the ledger tells the story
    story = gates.story(ledger, "01")
    shot_story = [r for r in story if r["shot"] == DRIFTING]
    kinds = [r["kind"] for r in shot_story]
    assert kinds.count("engine_call") == 2 and kinds.count("attempt") == 2
    assert "gate_B" in kinds
    whats = " | ".join(r["what"] for r in shot_story)
    assert "attempt 1 (local" in whats and "failed QC: character." in whats
    assert "attempt 2 (local" in whats and "passed QC" in whats
    assert [r["kind"] for r in story][-2:] == ["gate_C", "publish"]
    calls = ledger.query("SELECT attempt, status FROM engine_calls WHERE shot_id=? "
                         "ORDER BY id", (DRIFTING,))
    assert calls == [{"attempt": 1, "status": "succeeded"}, {"attempt": 2, "status": "succeeded"}]
    qc = ledger.query("SELECT scorer, passed, details FROM qc_scores WHERE shot_id=? AND "
                      "scorer LIKE 'character.%'", (DRIFTING,))
    by_attempt = {}
    for r in qc:
        d = json.loads(r["details"])
        if not d.get("skipped"):
            by_attempt.setdefault(d["attempt"], []).append(r["passed"])
    assert not all(by_attempt[1]) and all(by_attempt[2])
    decisions = ledger.query("SELECT gate, subject, decision, who, why FROM gate_decisions "
                             "ORDER BY id")
    assert {"gate": "B", "subject": "s02-cliff-mara", "decision": "rejected",
            "who": "director", "why": "wants another take"} in decisions
    assert decisions[-1]["gate"] == "C" and decisions[-1]["decision"] == "approved"
    # the CLI re-scores the latest takes from the stored requests, and shows Gate B
    from studio_kit.cli import main

    assert main(["qc", str(project.root), "01"]) == 0
    assert main(["gate", str(project.root), "01", "--gate", "B"]) == 0
    # a change to the master after approval re-opens Gate C
    _concat([vault.get(takes[s]) for s in reversed(SHOTS)], master)
    assert gates.master_status(ledger, "01", master).state == gates.GateState.reopened
    with pytest.raises(gates.GateError):
        gates.publish(ledger, "01", master, tmp_path / "pub" / "ep01-b.mp4")


def test_cli_gate_c_and_b(sample_dir, tmp_path, capsys):
    from studio_kit.cli import main

    master = tmp_path / "m.mp4"
    master.write_bytes(b"v1")
    assert main(["gate", str(sample_dir), "01", "--gate", "C", "--master", str(master)]) == 0
    assert "open" in capsys.readouterr().err
    assert main(["gate", str(sample_dir), "01", "--gate", "C", "--master", str(master),
                 "--approve", "--who", "producer", "--why", "good"]) == 0
    assert "approved by producer" in capsys.readouterr().err
    master.write_bytes(b"v2")
    assert main(["gate", str(sample_dir), "01", "--gate", "C", "--master", str(master)]) == 0
    assert "reopened" in capsys.readouterr().err
    assert main(["gate", str(sample_dir), "01", "--gate", "B", "--shot", "s01-cliff-wide",
                 "--approve", "--who", "x"]) == 2
    assert "no take to review" in capsys.readouterr().err
    assert main(["gate", str(sample_dir), "01", "--gate", "X"]) == 2
    capsys.readouterr()
    assert main(["status", str(sample_dir)]) == 0  # the gates column, from the gates API
    out = capsys.readouterr().out
    assert "gates" in out and "A: " in out and "C: " in out


def test_cli_gates_review_the_latest_renders_takes_and_master(sample_dir, tmp_path, capsys):
    """After a render, `studio gate` decides on the same takes and master the widget and
    status show: the render's clip per shot (no regeneration needed), and by default the
    render's master."""
    from fakes.render_record import fake_render_record

    from studio_kit.cli import main
    from studio_kit.production import gates
    from studio_kit.project.series_folder import Project

    p = Project.load(sample_dir)
    assert main(["gate", str(sample_dir), "01", "--gate", "C"]) == 2
    assert "no successful render" in " ".join(capsys.readouterr().err.split())  # (wrapped)
    master = fake_render_record(p, tmp_path)
    sid = p.storyboard("01").shots[0].id
    assert main(["gate", str(sample_dir), "01", "--gate", "B", "--shot", sid, "--approve",
                 "--who", "director"]) == 0
    assert main(["gate", str(sample_dir), "01", "--gate", "C", "--approve",
                 "--who", "producer"]) == 0
    with p.ledger() as led:
        eg = gates.episode_gates(led, p, "01")
        assert eg.shots[0].state == gates.GateState.approved
        assert eg.takes[sid] == f"take1-{sid}"
        assert gates.master_status(led, "01", master).state == gates.GateState.approved


def test_regeneration_compiles_with_the_project_prompt_policy(sample_project, tmp_path):
    """produce_shot uses the project's prompt_policy.yaml (as the pipeline does): found from
    the ledger's series folder, or given as project_root / policy."""
    from studio_kit.production.regeneration import project_policy
    from studio_kit.prompts import PromptPolicy, compile_prompt

    project = sample_project
    (project.root / "prompt_policy.yaml").write_text(
        "style: hand-inked harbour house style\nextra_negative: [neon signage]\n")
    vault, ledger = project.vault(), project.ledger()
    fmt = RenderFormat(width=160, height=90, fps=24)
    sid = "s02-cliff-mara"
    req = build_request(project, "01", sid, duration_s=0.5).model_copy(update={"format": fmt})
    prod = asyncio.run(produce_shot(req, chain=["local"], vault=vault, ledger=ledger,
                                    budget=1, scorers=[]))
    policy = PromptPolicy.for_project(project.root)
    want = compile_prompt(req.spec, "local", policy=policy)
    assert prod.request is not None
    assert "hand-inked harbour house style" in prod.request.prompt
    assert "neon signage" in prod.request.negative_prompt
    assert (prod.request.prompt, prod.request.negative_prompt) == (want.prompt,
                                                                   want.negative_prompt)
    assert project_policy(ledger) == policy
    with Ledger(tmp_path / "scratch.sqlite") as scratch:  # not a project's ledger: defaults
        assert project_policy(scratch) == PromptPolicy()
        assert project_policy(scratch, project.root) == policy


def test_story_matches_ids_exactly_not_as_like_patterns(tmp_path):
    """'_' and '%' in shot or episode ids are characters, not SQL LIKE wildcards."""
    from studio_kit.production.regeneration import previous_attempts

    with Ledger(tmp_path / "l.sqlite") as ledger:
        run = ledger.start_run("episode", "e_1")
        for sid in ("s_1", "sx1", "s%"):
            call = ledger.begin_call(engine="local", request_hash=f"h-{sid}", run_id=run,
                                     shot_id=sid)
            ledger.update_call(call, status="succeeded", asset=f"a-{sid}")
            ledger.stage_result(run, "regeneration", f"e_1:{sid}:1", cache_hit=False,
                                subject=sid, outputs={"attempt": "1", "engine": "local"})
            ledger.decide(episode="e_1", gate="B", subject=sid, decision="approved",
                          who="ana", subject_hash=f"a-{sid}")
        # another episode whose id the pattern 'e_1' would match
        ledger.stage_result(None, "regeneration", "ex1:s_1:1", cache_hit=False,
                            subject="s_1", outputs={"attempt": "1", "engine": "local"})
        rows = gates.story(ledger, "e_1", "s_1")
        assert {r["shot"] for r in rows} == {"s_1"}
        assert sorted(r["kind"] for r in rows) == ["attempt", "engine_call", "gate_B"]
        assert {r["shot"] for r in gates.story(ledger, "e_1", "s%")} == {"s%"}
        assert len(gates.story(ledger, "e_1")) == 9
        assert previous_attempts(ledger, "e_1", "s_1") == 1


def test_current_take_and_a_new_take_after_rejection(tmp_path):
    """The take Gate B reviews: the latest render's clip, replaced by a regeneration take
    made after it; a rejected shot with a new take is open (awaits its review)."""
    record = tmp_path / "render.json"
    record.write_text(json.dumps({"episode": "01", "master": None, "shots": [
        {"shot_id": "s1", "asset": "r1"}, {"shot_id": "s2", "asset": "r2"}]}))
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.stage_result(None, "regeneration", "01:s1:1", cache_hit=False, subject="s1",
                            outputs={"asset": "old"})  # before the render: superseded
        run = ledger.start_run("render", "01")
        ledger.finish_run(run, "ok", record=str(record))
        assert gates.current_takes(ledger, "01") == {"s1": "r1", "s2": "r2"}
        gates.review_shot(ledger, "01", "s1", approve=False, who="ana", why="too dark",
                          asset="r1")
        assert gates.shot_status(ledger, "01", "s1", "r1").state == gates.GateState.rejected
        ledger.stage_result(None, "regeneration", "01:s1:2", cache_hit=False, subject="s1",
                            outputs={"asset": "n2"})
        takes = gates.current_takes(ledger, "01")
        assert takes == {"s1": "n2", "s2": "r2"}
        assert gates.shot_status(ledger, "01", "s1", "n2").state == gates.GateState.open
        assert gates.gate_b_complete(ledger, "01", takes) == ["s1", "s2"]


def test_an_approval_without_a_note_is_recorded(tmp_path):
    """why=None (no note) on an approval is an empty note, not a database error; a
    rejection without a note is still refused."""
    master = tmp_path / "master.mp4"
    master.write_bytes(b"master")
    with Ledger(tmp_path / "l.sqlite") as ledger:
        with pytest.raises(gates.GateError, match="needs a note"):
            gates.decide_master(ledger, "01", master, approve=False, who="bo", why=None)
        status = gates.decide_master(ledger, "01", master, approve=True, who="bo", why=None)
        assert status.state == gates.GateState.approved and status.why == ""
