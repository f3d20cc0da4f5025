"""Routing rules, decisions explained per shot, Gate A estimates and approval, CLI."""

from __future__ import annotations

import shutil

import pytest
import yaml
from conftest import SAMPLE
from fakes.engine_servers import register_test_engine

from studio_kit.cli import main
from studio_kit.errors import BudgetError, ValidationFailed
from studio_kit.models import LoraRef
from studio_kit.production.budget import approve_gate_a, estimate_episode, gate_a_status
from studio_kit.production.routing import decisions_table, load_rules, route_episode, route_shot
from studio_kit.project.series_folder import Project

FREE = register_test_engine()

RULES = {
    "default": FREE,
    "failover": [FREE],
    "rules": [
        {"name": "lora close-ups", "when": {"trained_character": True, "close_up": True},
         "engine": "comfyui", "failover": ["kling"]},
        {"name": "establishing", "when": {"establishing": True, "photoreal": True},
         "engine": "runway", "failover": ["luma"]},
        {"name": "motion", "when": {"motion_heavy": True}, "engine": "kling"},
        {"name": "premium dialogue", "when": {"tier": ["premium"], "has_dialogue": True},
         "engine": "replicate"},
    ],
}


@pytest.fixture
def proj(sample_dir, keys):
    (sample_dir / "routing.yaml").write_text(yaml.safe_dump(RULES), encoding="utf-8")
    p = Project.load(sample_dir)
    mara = p.characters["mara"]
    p.save_character(mara.model_copy(update={"lora": LoraRef(
        name="mara", uri="loras/mara.safetensors", trigger="MARAQ")}))
    return Project.load(sample_dir)


def by_shot(decisions):
    return {d.shot_id: d for d in decisions}


def test_rules_route_by_shot_features(proj):
    d = by_shot(route_episode(proj, "01"))
    assert d["s01-cliff-wide"].engine == "runway"
    assert d["s01-cliff-wide"].rule == "establishing"
    assert d["s01-cliff-wide"].chain == ["runway", "luma", FREE]
    assert d["s02-cliff-mara"].engine == "comfyui"  # mara has a LoRA, close-up
    assert "trained_character" in d["s02-cliff-mara"].reason
    assert d["s03-lamp-wide"].engine == "runway"  # first shot of the lamp room, wide
    assert d["s09-cafe-elodie"].engine == "kling"  # handheld
    assert d["s10-cliff-beam"].rule == "default"  # crane at 0.4 is below motion_speed
    assert d["s10-cliff-beam"].engine == FREE
    assert all(x.features["shot_id"] == x.shot_id for x in d.values())


def test_stylized_note_and_tier(proj):
    sb = proj.storyboard("01")
    sb.shot("s01-cliff-wide").notes = "#stylized"
    proj.save_storyboard(sb)
    proj.series.tier = "premium"
    d = by_shot(route_episode(proj, "01"))
    assert d["s01-cliff-wide"].engine == FREE
    assert d["s05-lamp-theo"].engine == "replicate"  # premium tier, has dialogue
    assert str(route_shot(proj, "01", "s05-lamp-theo", tier="standard")) == FREE


def test_operator_override_beats_rules(proj):
    sb = proj.storyboard("01")
    sb.shot("s01-cliff-wide").engine = "pika"
    proj.save_storyboard(sb)
    d = by_shot(route_episode(Project.load(proj.root), "01"))["s01-cliff-wide"]
    assert (d.engine, d.rule) == ("pika", "override")
    assert "operator override" in d.reason


def test_duration_limit_and_missing_key_skip_engines(proj, monkeypatch):
    sb = proj.storyboard("01")
    sb.shot("s01-cliff-wide").duration_s = 12.0
    proj.save_storyboard(sb)
    d = by_shot(route_episode(proj, "01"))
    assert d["s01-cliff-wide"].engine == FREE
    assert "maximum" in d["s01-cliff-wide"].skipped["runway"]
    monkeypatch.delenv("RUNWAYML_API_SECRET")
    d = by_shot(route_episode(proj, "01"))["s03-lamp-wide"]
    assert d.engine == "luma"
    assert d.skipped == {"runway": "$RUNWAYML_API_SECRET not set"}
    assert "runway unusable" in d.reason


def test_table_rows(proj):
    rows = decisions_table(route_episode(proj, "01"))
    assert len(rows) == 10
    assert set(rows[0]) == {"shot", "engine", "rule", "failover", "seconds", "reason",
                            "skipped"}
    assert rows[0]["failover"] == f"luma > {FREE}"


def test_unknown_engine_in_rules_names_the_line(sample_dir):
    bad = dict(RULES, rules=[{"name": "x", "engine": "nope"}])
    (sample_dir / "routing.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        load_rules(Project.load(sample_dir))
    assert "unknown engine 'nope'" in str(info.value)
    assert info.value.line is not None
    (sample_dir / "routing.yaml").write_text("rules:\n  - {name: x, engine: local, "
                                             "when: {angel: [wide]}}\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        load_rules(Project.load(sample_dir))
    assert info.value.line == 2


def test_estimate_prices_billed_seconds_with_retries(proj):
    est = estimate_episode(proj, "01")
    s = {x.shot_id: x for x in est.shots}
    # runway bills 5 s for a 4 s shot at $0.05/s; retries priced at the dearest chain engine
    assert s["s01-cliff-wide"].seconds == 5 and s["s01-cliff-wide"].cost == pytest.approx(0.25)
    luma = 0.142 * 5
    assert s["s01-cliff-wide"].budgeted == pytest.approx(0.25 + 0.5 * luma)
    assert s["s10-cliff-beam"].cost == 0 and not s["s10-cliff-beam"].paid
    assert est.cost == pytest.approx(sum(x.cost for x in est.shots))
    assert est.ok and not est.missing_keys


def test_gate_a_approval_and_budget(proj, monkeypatch):
    led = proj.ledger()
    est = estimate_episode(proj, "01", ledger=led)
    assert gate_a_status(proj, "01", est, led) == "not approved"
    with pytest.raises(BudgetError):
        approve_gate_a(proj, "01", who=" ", ledger=led)
    approve_gate_a(proj, "01", who="ana", note="ok", ledger=led)
    d = led.latest_decision("01", "A", "budget")
    assert d["decision"] == "approved" and d["subject_hash"] == est.estimate_hash
    assert gate_a_status(proj, "01", est, led).startswith("approved by ana")
    sb = proj.storyboard("01")
    sb.shot("s10-cliff-beam").engine = "luma"
    proj.save_storyboard(sb)
    est2 = estimate_episode(proj, "01", ledger=led)
    assert "re-approve" in gate_a_status(proj, "01", est2, led)
    proj.series.budget.per_episode = 0.5
    with pytest.raises(BudgetError, match="per-episode"):
        approve_gate_a(proj, "01", who="ana", ledger=led)
    approve_gate_a(proj, "01", who="ana", ledger=led, allow_over_budget=True)


def test_missing_key_blocks_approval_when_no_engine_can_take_the_shot(proj, monkeypatch):
    monkeypatch.delenv("FAL_KEY")
    sb = proj.storyboard("01")
    sb.shot("s09-cafe-elodie").engine = "pika"  # override: chain is pika > free
    proj.save_storyboard(sb)
    est = estimate_episode(proj, "01")
    assert est.missing_keys["pika"] == "FAL_KEY"
    assert est.missing_keys["kling"] == "FAL_KEY"
    assert not est.blocking  # the free failover takes it, and the estimate says so
    rules = load_rules(proj).model_copy(update={"failover": []})
    est = estimate_episode(proj, "01", rules=rules)
    assert any("s09-cafe-elodie" in b and "FAL_KEY" in b for b in est.blocking)
    with pytest.raises(BudgetError, match="FAL_KEY"):
        approve_gate_a(proj, "01", who="ana", rules=rules)


def test_cli_route_estimate_approve(proj, capsys):
    root = str(proj.root)
    assert main(["route", root, "01"]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "establishing" in text and "lora close-ups" in text and "est. cost" in text
    assert main(["estimate", root, "01"]) == 0
    assert "Gate A: not approved" in capsys.readouterr().err
    assert main(["approve", root, "01", "--gate", "A", "--who", "ana", "--note", "fine"]) == 0
    assert "Gate A approved" in capsys.readouterr().err
    assert main(["approve", root, "01", "--gate", "B", "--who", "ana"]) == 2
    assert main(["route", root, "01", "--set", "s10-cliff-beam=pika"]) == 0
    capsys.readouterr()
    assert Project.load(root).storyboard("01").shot("s10-cliff-beam").engine == "pika"
    assert main(["route", root, "01", "--set", "nope=pika"]) == 2
    assert main(["route", root, "01", "--set", "s10-cliff-beam=warp"]) == 2


def test_sample_routing_file(tmp_path):
    dest = tmp_path / "lh"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".studio"))
    p = Project.load(dest)
    rules = load_rules(p)
    assert [r.name for r in rules.rules][:2] == ["draft tier renders locally",
                                                 "trained-character close-ups"]
    decisions = route_episode(p, "01", rules)
    assert len(decisions) == 10 and all(d.rule for d in decisions)
    assert main(["validate", str(dest)]) == 0
