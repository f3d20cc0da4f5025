"""Grading: colour transfer toward the scene reference, series look LUTs, keyframes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from studio_kit.edit.grade import (
    LabStats,
    grade_clip,
    grade_shots,
    identity_lut,
    make_look,
    measure_clip,
    read_lut,
    transfer_lut,
    write_lut,
)
from studio_kit.edit.probe import probe
from studio_kit.edit.synth import make_clip
from studio_kit.errors import StudioError

W, H = 160, 90


@pytest.fixture(scope="module")
def shots(artifacts_dir: Path) -> dict[str, Path]:
    d = artifacts_dir / "edit" / "grade"
    return {
        "warm": make_clip(d / "warm.mp4", seconds=1, width=W, height=H, source="testsrc2"),
        "cool": make_clip(d / "cool.mp4", seconds=1, width=W, height=H, source="color",
                          colour="#3050a0"),
        "ref": make_clip(d / "ref.mp4", seconds=1, width=W, height=H, source="color",
                         colour="#b08050"),
    }


def dist(a: LabStats, b: LabStats) -> float:
    return float(np.linalg.norm(np.array(a.mean) - np.array(b.mean)))


def test_grading_moves_lab_mean_toward_reference(shots, artifacts_dir):
    ref = measure_clip(shots["ref"])
    before = measure_clip(shots["cool"])
    lut = transfer_lut(before, ref)
    out = grade_clip(shots["cool"], artifacts_dir / "edit" / "grade" / "cool_graded.mp4", lut,
                     force_keyframes_s=[0.25])
    after = measure_clip(out)
    assert dist(after, ref) < 0.25 * dist(before, ref), (before, after, ref)
    info = probe(out).video
    assert info.frames == 24 and 6 in info.keyframe_indices  # forced keyframe at 0.25 s
    assert info.extradata_hex == probe(shots["cool"]).video.extradata_hex  # still copyable


def test_identity_grade_keeps_the_picture(shots, artifacts_dir):
    out = grade_clip(shots["warm"], artifacts_dir / "edit" / "grade" / "warm_id.mp4",
                     identity_lut(17))
    a, b = measure_clip(shots["warm"]), measure_clip(out)
    assert dist(a, b) < 1.5


def test_strength_zero_is_no_change():
    src = LabStats(mean=(40, 10, -5), std=(20, 8, 8))
    ref = LabStats(mean=(60, -5, 20), std=(10, 4, 4))
    lut = transfer_lut(src, ref, strength=0.0, size=9)
    assert np.allclose(lut.table, identity_lut(9).table, atol=1e-3)


def test_lut_round_trip(artifacts_dir):
    look = make_look(saturation=0.8, contrast=1.1, warmth=0.4, size=17)
    path = write_lut(look, artifacts_dir / "edit" / "grade" / "series_look.cube")
    back = read_lut(path)
    assert back.table.shape == (17, 17, 17, 3)
    assert np.allclose(back.table, look.table, atol=1e-5)
    assert path.read_text().count("\n") >= 17 ** 3
    # warmth pushes the neutral grey toward yellow (R+G over B)
    grey = back.apply(np.array([[0.5, 0.5, 0.5]]))[0]
    assert grey[0] > grey[2] and grey[1] > grey[2]


def test_bad_lut_is_a_studio_error(tmp_path):
    bad = tmp_path / "bad.cube"
    bad.write_text("LUT_3D_SIZE 3\n0 0 0\n1 1\n")
    with pytest.raises(StudioError, match="cannot read the LUT"):
        read_lut(bad)
    with pytest.raises(StudioError, match="not found"):
        read_lut(tmp_path / "missing.cube")


def test_grade_shots_per_scene(shots, artifacts_dir):
    out_dir = artifacts_dir / "edit" / "grade" / "episode"
    shutil.rmtree(out_dir, ignore_errors=True)  # artifacts persist between runs
    look = write_lut(make_look(saturation=0.9, size=17), out_dir / "look.cube")
    plan = [("s1", "cafe", shots["ref"]), ("s2", "cafe", shots["cool"]),
            ("s3", "cliff", shots["warm"])]
    res = grade_shots(plan, out_dir, look_path=look, lut_size=17,
                      keyframes={"s2": [0.25]})
    assert set(res) == {"s1", "s2", "s3"}
    assert res["s2"].reference == res["s1"].before  # the scene's first shot is its reference
    assert res["s3"].reference == res["s3"].before  # another scene: its own first shot
    after = measure_clip(res["s2"].output)
    assert dist(after, res["s2"].reference) < dist(res["s2"].before, res["s2"].reference)
    assert read_lut(res["s2"].lut).size == 17
    assert 6 in probe(res["s2"].output).video.keyframe_indices  # keyframe asked at 0.25 s
    assert 6 not in probe(res["s3"].output).video.keyframe_indices
    # no cache of its own (the pipeline's stage runner caches grading): no stamp files
    assert not list(out_dir.glob("*.grade.json"))
