"""The on-disk models: they accept the sample, reject bad values with a located message."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from studio_kit.models import (
    Camera,
    CameraAngle,
    Character,
    Lighting,
    Series,
    Storyboard,
    Transition,
    TransitionKind,
)
from studio_kit.store.yamlio import load_yaml, validate_data


def test_sample_series_loads(sample_project):
    p = sample_project
    assert p.series.title == "The Lighthouse at Kerbrat"
    assert set(p.characters) == {"mara", "theo", "elodie"}
    assert p.series.loudness.lufs == -14
    sb = p.storyboard("01")
    assert len(sb.shots) == 10
    assert sb.acts[0].kind.value == "cold_open"
    assert sb.duration_s == pytest.approx(sum(s.duration_s for s in sb.shots))
    # the French reporter's lines are French; English lines carry a French translation
    elodie = p.characters["elodie"]
    assert elodie.voice.language == "fr"


@pytest.mark.parametrize("preset,lufs", [("streaming", -14), ("ebu_r128", -23),
                                         ("atsc_a85", -24)])
def test_loudness_presets(preset, lufs):
    s = Series(title="x", loudness={"preset": preset})
    assert s.loudness.lufs == lufs
    assert s.loudness.peak <= -1


def test_fill_ratio_accepts_ratio_text():
    assert Lighting(fill_ratio="8:1").fill_ratio == pytest.approx(8.0)
    with pytest.raises(ValidationError):
        Lighting(fill_ratio="bright")


def test_camera_vocabulary_is_complete():
    assert len(list(CameraAngle)) == 12
    from studio_kit.models import Movement

    assert len(list(Movement)) == 8
    kinds = {k.value for k in TransitionKind}
    assert {"cut", "dissolve", "fade", "dip_to_white", "wipe", "match_cut", "j_cut",
            "l_cut"} <= kinds


def test_pan_needs_a_horizontal_direction():
    with pytest.raises(ValidationError):
        Camera(angle="medium", movement={"type": "pan", "direction": "up"})
    Camera(angle="medium", movement={"type": "pan", "direction": "left"})


def test_transition_default_durations():
    assert Transition(kind="cut").seconds == 0
    assert Transition(kind="dissolve").seconds > 0


def test_unknown_field_is_named_with_its_line(tmp_path):
    path = tmp_path / "mara.yaml"
    path.write_text("id: mara\nname: Mara\nhair_colour: red\n")
    data, lines = load_yaml(path)
    from studio_kit.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as info:
        validate_data(Character, data, path, lines)
    text = str(info.value)
    assert "mara.yaml" in text and "hair_colour" in text and ":3" in text


def test_wardrobe_picks_scene_then_episode_then_default(sample_project):
    ch = next(c for c in sample_project.characters.values() if c.wardrobe.per_episode
              or c.wardrobe.per_scene)
    w = ch.wardrobe
    assert w.outfit_id_for("99", "nowhere") == w.default
    for ep, outfit in w.per_episode.items():
        assert w.outfit_id_for(ep, "nowhere") == outfit
    for scene, outfit in w.per_scene.items():
        assert w.outfit_id_for("99", scene) == outfit
        assert ch.outfit_for("99", scene) is w.outfits[outfit]


def test_storyboard_shot_ids_unique():
    shot = {"id": "a", "scene": "x", "camera": {"angle": "medium"}, "duration_s": 1}
    with pytest.raises(ValidationError, match="a"):
        Storyboard(episode="01", title="t", acts=[{"id": "act", "shots": [shot, shot]}])
