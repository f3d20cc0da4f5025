"""Mix and master: loudness presets, true peak, ducking, panning, music, ambience, effects."""

from __future__ import annotations

import numpy as np
import pyloudnorm as pyln
import pytest
from scipy.signal import resample_poly

from studio_kit.audio import SAMPLE_RATE as SR
from studio_kit.audio.ambience import KINDS, bed, render_ambience, scene_beds
from studio_kit.audio.dialogue import synthesize, to_rate
from studio_kit.audio.effects import KEYWORDS, find_cues, render_effects, synth
from studio_kit.audio.mix import (
    AAC_HEADROOM_DB,
    MixSettings,
    duck_gain,
    master,
    mix_layers,
    true_peak_dbtp,
)
from studio_kit.audio.music import mood_spec, plan_score, render_score
from studio_kit.errors import StudioError
from studio_kit.models import LoudnessPreset, LoudnessTarget, Scene, VoiceProfile


def _oracle_true_peak(x: np.ndarray) -> float:
    """Independent reference: 8x polyphase oversampling over the whole signal."""
    return 20 * np.log10(max(np.abs(resample_poly(x[:, c], 8, 1)).max() for c in range(2)))


@pytest.fixture(scope="module")
def program() -> dict[str, np.ndarray]:
    """Four short layers (3 s): a spoken line, music, ambience, an effect."""
    total = 3.0
    n = int(total * SR)
    sp = synthesize("The lamp is burning again.", VoiceProfile(voice="f3"), "en")
    dia = np.zeros((n, 2), np.float32)
    x = to_rate(sp.samples, sp.sample_rate)[: n - int(0.5 * SR)]
    dia[int(0.5 * SR): int(0.5 * SR) + len(x)] = x[:, None] * 0.7
    music = sum(render_score(plan_score([("a", "tense", 0.0, total)]), total).values())
    amb = render_ambience([(Scene(id="s", name="S", ambience=["sea", "wind"]), 0.0, total)],
                          total)
    fx = render_effects(find_cues("s", "A door slams.", 0.0, total), total)
    return {"dialogue": dia, "music": music, "ambience": amb, "effects": fx}


@pytest.mark.parametrize("preset", list(LoudnessPreset))
def test_master_hits_each_delivery_preset(program, preset: LoudnessPreset) -> None:
    target = LoudnessTarget(preset=preset)
    layers = mix_layers(program)
    mix = sum(layers.values())
    curve, report = master(mix, target)
    out = mix * curve[:, None]
    measured = pyln.Meter(SR).integrated_loudness(out.astype(np.float64))
    assert abs(measured - preset.integrated_lufs) <= 0.5, (measured, report)
    assert report.on_target
    # the PCM is held AAC_HEADROOM_DB under the ceiling (room for the AAC encode)
    limit = preset.true_peak_dbtp - AAC_HEADROOM_DB
    assert report.limit_dbtp == limit and report.ceiling_dbtp == preset.true_peak_dbtp
    assert _oracle_true_peak(out) <= limit + 0.05, _oracle_true_peak(out)
    assert true_peak_dbtp(out) <= limit
    assert np.abs(out).max() < 1.0  # no clipping anywhere


def test_custom_target_and_silent_mix() -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((SR * 2, 2)) * 0.05).astype(np.float32)
    curve, rep = master(x, LoudnessTarget(integrated_lufs=-18, true_peak_dbtp=-3))
    assert abs(rep.integrated_lufs + 18) <= 0.5 and rep.true_peak_dbtp <= -3
    with pytest.raises(StudioError, match="silent"):
        master(np.zeros((SR, 2), np.float32), LoudnessTarget())


def test_true_peak_sees_intersample_overs() -> None:
    t = np.arange(SR) / SR
    x = (0.5 * np.sin(2 * np.pi * 12000 * t + 0.7)).astype(np.float32)[:, None]
    sample_peak = 20 * np.log10(np.abs(x).max())
    tp = true_peak_dbtp(x)
    assert sample_peak < -8 and -6.2 < tp < -5.8  # a 0.5 sine's true peak is -6.02 dBTP


def test_ducking_lowers_music_under_dialogue(program) -> None:
    settings = MixSettings(duck_db=10)
    undocked = mix_layers(program, MixSettings(duck_db=0))
    ducked = mix_layers(program, settings)
    gain = duck_gain(ducked["dialogue"], settings)
    speech = slice(int(1.0 * SR), int(2.0 * SR))  # the line plays from 0.5 s
    before = slice(0, int(0.4 * SR))

    def rms(x):
        return 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-12)

    drop = rms(undocked["music"][speech]) - rms(ducked["music"][speech])
    assert 7.0 < drop <= 10.5, drop
    assert abs(rms(undocked["music"][before]) - rms(ducked["music"][before])) < 0.5
    assert rms(undocked["ambience"][speech]) - rms(ducked["ambience"][speech]) > 7
    assert gain.min() == pytest.approx(10 ** (-10 / 20), abs=0.02) and gain[0] == 1.0


def test_music_follows_the_mood_arc_and_changes_on_bars() -> None:
    spec, known = mood_spec("tense, building")
    assert known and spec.mood == "tense" and spec.mode == "minor"
    spec2, known2 = mood_spec("glorbish")
    assert not known2 and spec2.mood == "neutral"
    cues = plan_score([("a", "mysterious", 0.0, 5.1), ("b", "action", 5.1, 9.0)])
    bar_a = cues[0].spec.bar_s
    assert cues[1].start_s == pytest.approx(round(5.1 / bar_a) * bar_a)
    stems = render_score(cues, 9.0)
    assert set(stems) == {"pads", "bass", "lead", "percussion"}
    assert np.abs(stems["percussion"][: int(3 * SR)]).max() < 1e-6  # mysterious: no drums
    assert np.abs(stems["percussion"][int(7 * SR):]).max() > 0.01  # action: drums
    total = sum(stems.values())
    assert np.isfinite(total).all() and np.abs(total).max() < 1.0


def test_every_ambience_kind_and_atmosphere() -> None:
    for kind in KINDS:
        x = bed(kind, SR // 2)
        assert x.shape == (SR // 2, 2) and np.isfinite(x).all()
        assert 1e-4 < np.sqrt(np.mean(x ** 2)) < 0.3, kind
    rainy = Scene(id="quay", name="Q", interior=False, ambience=["city"],
                  atmosphere={"kind": "rain", "density": 0.8})
    assert dict(scene_beds(rainy)) == {"city": 1.0, "rain": pytest.approx(0.88)}
    with pytest.raises(StudioError, match="unknown ambience 'jungle drums'"):
        scene_beds(Scene(id="x", name="X", ambience=["jungle drums"]), file="scenes/x.yaml")


def test_effects_from_keywords_and_user_files(tmp_path) -> None:
    import soundfile as sf

    cues = find_cues("s1", "Footsteps. She opens the door; a phone rings. Glass shatters. "
                     "A gunshot. A car horn.", 10.0, 4.0)
    names = [c.name for c in cues]
    assert {"footsteps", "door", "phone", "glass", "gunshot", "car", "horn"} <= set(names)
    assert all(10.0 <= c.start_s <= 14.0 for c in cues)
    assert [c.start_s for c in cues] == sorted(c.start_s for c in cues)
    for name in KEYWORDS:
        assert np.abs(synth(name)).max() == pytest.approx(0.5, abs=1e-3)
    sfx = tmp_path / "sfx"
    sfx.mkdir()
    sf.write(sfx / "seagull.wav", np.sin(np.arange(8000) / 5) * 0.3, 16000)
    from studio_kit.audio.effects import user_effects

    user = user_effects(tmp_path)
    cues = find_cues("s2", "Seagulls cry over the harbour.", 0.0, 2.0, user)
    assert [c.name for c in cues] == ["seagull"] and cues[0].source.endswith("seagull.wav")
    layer = render_effects(cues, 2.0)
    assert np.abs(layer).max() > 0.1


def test_plots_are_holoviews_objects(program, tmp_path) -> None:
    import holoviews as hv

    from studio_kit.audio.mix import write_wav
    from studio_kit.audio.plots import layer_mix_plot, loudness_curve, loudness_plot

    layers = mix_layers(program)
    mix = sum(layers.values())
    curve, rep = master(mix, LoudnessTarget())
    path = write_wav(tmp_path / "m.wav", mix * curve[:, None])
    t, lufs = loudness_curve(path, window_s=1.0, hop_s=0.25)
    assert len(t) == len(lufs) > 4 and abs(np.median(lufs) - rep.integrated_lufs) < 4
    fig = loudness_plot(path, target_lufs=-14)
    assert isinstance(fig, hv.Overlay)
    mixfig = layer_mix_plot({k: v * curve[:, None] for k, v in layers.items()})
    assert isinstance(mixfig, hv.Overlay) and len(mixfig) == 4
