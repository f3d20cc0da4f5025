"""Gates B and C, publishing, and the end-to-end story: an injected drifting shot is caught
by QC, regenerated with a new seed, passes, goes through Gate B (including a rejection that
feeds regeneration) and Gate C, and the ledger tells the whole story."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from studio_kit import gates
from studio_kit.engines.base import Drift, RenderFormat
from studio_kit.ledger import Ledger
from studio_kit.regeneration import attempt_plan, attempt_seed, produce_shot
from studio_kit.routing import build_request, load_rules, route_shot

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
