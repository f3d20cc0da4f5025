"""The QC measurements added for dark hair and small figures (synthetic frames, fast):
hair compared cell by cell against the reference frame's hair cells, and the coarse torso
shading profile of figures too small for the fine one."""

from __future__ import annotations

import numpy as np
import pytest

from studio_kit.qc.continuity import SMALL_PROFILE_WEIGHT
from studio_kit.qc.references import (
    MIN_TORSO_PX,
    SMALL_PROFILE_BINS,
    hair_grid,
    hair_grid_colour,
    profile_distance,
    shading_profile,
)
from studio_kit.qc.thresholds import threshold_for
from tests.test_qc import REGIONS, context, figure_frame, rot, scores

DARK = (52, 30, 22)  # dark brown hair: low chroma, the case hue angles miss


@pytest.fixture
def spec(sample_project):
    return sample_project.resolve_shot("01", "s02-cliff-mara")


def test_hair_cells_line_up_with_the_reference():
    ref = figure_frame(hair=DARK)
    grid = hair_grid(ref, REGIONS, 1.0, np.array([[50.0, 2.0, 8.0], [30.0, 3.0, 7.0]]))
    assert grid is not None and np.asarray(grid).sum() >= 4
    same = hair_grid_colour(figure_frame(hair=DARK, noise=1.5), REGIONS, 1.0, grid)
    moved = hair_grid_colour(figure_frame(hair=rot(DARK, 60)), REGIONS, 1.0, grid)
    base = hair_grid_colour(ref, REGIONS, 1.0, grid)
    assert np.abs(same - base).max() < 3
    assert np.abs(moved - base).max() > 5


def test_dark_hair_change_is_flagged_by_character_hair(spec, monkeypatch):
    import tests.test_qc as tq

    monkeypatch.setattr(tq, "figure_frame",
                        lambda **kw: figure_frame(**{"hair": DARK, **kw}))
    ok_report, ok = scores(context(spec, [figure_frame(hair=DARK, noise=1.5, seed=i)
                                          for i in range(6)]))
    assert not ok["character.hair"].skipped
    assert ok["character.hair"].passed, ok_report.summary()
    _, bad = scores(context(spec, [figure_frame(hair=rot(DARK, 60), noise=1.5, seed=i)
                                   for i in range(6)]))
    assert not bad["character.hair"].passed
    assert bad["character.hair"].value > 2 * ok["character.hair"].value


def _small_torso(light_x: float, width: int = 24) -> np.ndarray:
    img = np.full((90, 160, 3), 90.0)
    xs = np.arange(width)
    nx = (xs + 0.5 - width / 2) / (width / 2)
    shade = np.clip((light_x * nx + 0.6 * np.sqrt(np.clip(1 - nx ** 2, 0, 1)) + 0.25) / 1.25,
                    0, 1) * 0.8 + 0.2
    img[30:70, 60:60 + width] = np.array([60.0, 90.0, 150.0]) * shade[None, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def test_small_torso_gives_a_coarse_light_reading():
    box = (60, 30, 84, 70)
    left, right = _small_torso(-0.7), _small_torso(0.7)
    assert box[2] - box[0] < MIN_TORSO_PX and shading_profile(left, box) is None
    a = shading_profile(left, box, min_px=12, bins=SMALL_PROFILE_BINS)
    b = shading_profile(_small_torso(-0.7), box, min_px=12, bins=SMALL_PROFILE_BINS)
    c = shading_profile(right, box, min_px=12, bins=SMALL_PROFILE_BINS)
    assert a is not None and b is not None and c is not None
    limit = threshold_for("continuity.light_direction", "standard")[1]
    assert SMALL_PROFILE_WEIGHT * profile_distance(a, b) < 1
    assert SMALL_PROFILE_WEIGHT * profile_distance(a, c) > limit
