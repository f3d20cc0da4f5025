"""The checks' ability, measured on real clips from the embedded engine at known drift
levels (bench/qc_eval.py). Goal: >= 95 % of visible drift (amount >= 0.3) caught with
<= 5 % false alarms (amount <= 0.1). The default run uses a reduced set; -m heavy runs all."""

from __future__ import annotations

import pytest

from bench.qc_eval import run_eval, run_quick


def _check(result):
    print(result.table())
    assert result.positives and result.negatives
    assert result.recall >= 0.95, result.table()
    assert result.false_alarm_rate <= 0.05, result.table()


def test_drift_detection_goal_on_reduced_set():
    result = run_quick()
    _check(result)
    # every drift kind is represented among the caught positives
    assert {c.kind for c in result.positives if c.flagged} == {
        "hair_hue", "garment_hue", "face", "light_direction", "colour_temperature"}


@pytest.mark.heavy
def test_drift_detection_on_full_set():
    """The full set (measured 95.7 % recall, 1.4 % false alarms; see docs/quality.md).
    Left: hair under a beanie (Theo) and faces under 40 px in wide shots. This guards the
    measured levels against regressions."""
    from bench.qc_eval import SAMPLE
    from studio_kit.project.series_folder import Project

    result = run_eval(workers=2)
    print(result.table())
    assert result.false_alarm_rate <= 0.05
    assert result.recall >= 0.95
    angles = {s.id: s.camera.angle.value for s in Project.load(SAMPLE).storyboard("01").shots}
    close = [c for c in result.positives if angles[c.shot] not in ("wide", "extreme_wide")]
    wide = [c for c in result.positives if angles[c.shot] in ("wide", "extreme_wide")]
    assert sum(c.flagged for c in close) / len(close) >= 0.95
    assert sum(c.flagged for c in wide) / len(wide) >= 0.85
    light = [c for c in result.positives if c.kind == "light_direction"]
    assert all(c.flagged for c in light)


def test_footage_the_engine_did_not_draw_is_checked_through_the_detector():
    """Real footage operations on rendered clips (recolour hair / garment pixels, another
    character in place, white balance; shift, zoom and tiny recolours must pass), scored
    without the engine's figure regions (``qc.detect``). Reduced set: 2 shots."""
    from bench.qc_eval import run_footage_quick

    result = run_footage_quick()
    print(result.table())
    assert len(result.positives) >= 14 and len(result.negatives) >= 12
    assert result.recall >= 0.95, result.table()
    assert result.false_alarm_rate <= 0.05, result.table()
    assert {c.kind for c in result.positives if c.flagged} >= {
        "hair_recolour", "garment_recolour", "white_balance", "swap", "shift+hair_recolour"}


@pytest.mark.heavy
def test_footage_goal_on_all_ten_shots():
    """The detector-path evaluation over every shot of the sample episode (the extreme wide
    fog shot, the night wide shot, the beanie over-the-shoulder shot included): the goal
    (>= 95 % recall, <= 5 % false alarms) of issue 12."""
    from bench.qc_eval import run_footage_eval

    result = run_footage_eval()
    print(result.table())
    assert len({c.shot for c in result.cases}) == 10
    assert result.recall >= 0.95, result.table()
    assert result.false_alarm_rate <= 0.05, result.table()
