"""The episode entry point: timing, stems, M&E, dubs, manifest, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from studio_kit.audio.episode import EpisodeAudio, build_episode_audio
from studio_kit.audio.timing import plan_timing
from studio_kit.models import (
    Act,
    CastMember,
    DialogueLine,
    Shot,
    Storyboard,
    Transition,
    TransitionKind,
)


def _short_episode(project) -> Storyboard:
    """Three short shots in two acts (about 6 s): English and French lines, J-cut, effects."""
    sb = Storyboard(episode="09", acts=[
        Act(id="a1", mood="mysterious", shots=[
            Shot(id="s1", scene="lamp_room", duration_s=1.5,
                 characters=[CastMember(character="mara", mark="by_lens"),
                             CastMember(character="theo", mark="by_window")],
                 action="A door bangs below.",
                 dialogue=[DialogueLine(character="theo", text="Mara?",
                                        translations={"fr": "Mara ?"})],
                 transition=Transition(kind=TransitionKind.j_cut, duration_s=0.5)),
            Shot(id="s2", scene="lamp_room", duration_s=0.5,
                 characters=[CastMember(character="mara", mark="by_lens")],
                 dialogue=[DialogueLine(character="mara", text="Stay where you are.",
                                        translations={"fr": "Reste où tu es."})]),
        ]),
        Act(id="a2", mood="tense", shots=[
            Shot(id="s3", scene="harbour_cafe", duration_s=2.0,
                 characters=[CastMember(character="elodie", mark="seat_right")],
                 action="A phone rings.",
                 dialogue=[DialogueLine(character="elodie", text="Bonjour.", language="fr",
                                        translations={"en": "Hello."})]),
        ]),
    ])
    project.save_storyboard(sb)
    return sb


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    import shutil

    from conftest import SAMPLE

    from studio_kit.project.series_folder import Project

    root = tmp_path_factory.mktemp("ep") / "lighthouse"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns(".studio"))
    project = Project.load(root)
    sb = _short_episode(project)
    steps = []
    result = build_episode_audio(project, "09", out_dir=root / "out",
                                 progress=lambda f, w: steps.append((f, w)))
    return project, sb, result, steps


def test_timing_extends_shots_for_dialogue_and_applies_j_cut(built) -> None:
    project, sb, result, _ = built
    s1, s2, s3 = result.shots
    assert s2.extended and s2.duration_s > s2.storyboard_s  # the line is longer than 0.5 s
    # needs lead + line + tail, minus the J-cut's 0.5 s that plays over s1's picture
    assert s2.duration_s == pytest.approx(np.ceil((s2.dialogue_s - 0.5) * 24) / 24)
    assert s1.duration_s == 1.5 and not s1.extended
    assert s2.audio_lead_s == 0.5  # J-cut from s1: s2's line starts before its picture
    cue2 = next(c for c in result.cues if c.shot_id == "s2")
    assert cue2.start_s == pytest.approx(s2.start_s + 0.25 - 0.5, abs=1e-3)
    assert s2.start_s == pytest.approx(s1.end_s) and s3.start_s == pytest.approx(s2.end_s)
    assert result.duration_s == pytest.approx(s3.end_s, abs=1 / 48000)
    for t in result.shots:  # whole frames at 24 fps
        assert abs(t.duration_s * 24 - round(t.duration_s * 24)) < 1e-6


def test_dual_dialogue_and_l_cut_timing() -> None:
    sb = Storyboard(episode="01", acts=[Act(id="a", shots=[
        Shot(id="x", scene="s", duration_s=1.0,
             dialogue=[DialogueLine(character="a", text="One"),
                       DialogueLine(character="b", text="Two", dual=True)],
             transition=Transition(kind=TransitionKind.l_cut, duration_s=0.5)),
        Shot(id="y", scene="s", duration_s=1.0)])])
    timings, starts = plan_timing(sb, {"x": [(2.0, False), (2.0, True)]})
    assert starts[("x", 1)] - starts[("x", 0)] == pytest.approx(0.15)
    # needs 0.25 + 2.15 + 0.35 = 2.75 s; the L-cut lets 0.5 s trail into y's picture
    assert timings[0].duration_s == pytest.approx(2.25) and timings[0].audio_trail_s == 0.5


def test_stems_master_and_me_are_written_and_consistent(built) -> None:
    _, _, result, steps = built
    assert steps[-1] == (1.0, "done")
    layers = {}
    for name in ("dialogue", "music", "effects", "ambience"):
        x, sr = sf.read(result.stems[name], always_2d=True)
        assert sr == 48000 and x.shape[1] == 2
        assert np.sqrt(np.mean(x ** 2)) > 1e-4, f"{name} stem is empty"
        layers[name] = x
    master, _ = sf.read(result.master, always_2d=True)
    me, _ = sf.read(result.me, always_2d=True)
    assert len(master) == len(me) == len(layers["music"])
    assert np.allclose(sum(layers.values()), master, atol=2e-4)  # stems add up to the master
    assert np.allclose(layers["music"] + layers["effects"] + layers["ambience"], me, atol=2e-4)
    assert np.abs(master).max() < 1.0
    assert result.report.on_target
    assert set(result.music_stems) == {"pads", "bass", "lead", "percussion"}
    assert {e.name for e in result.effects} == {"door", "phone"}
    assert [a.mood for a in result.score] == ["mysterious", "tense"]


def test_dialogue_is_panned_by_the_speakers_mark(built) -> None:
    _, _, result, _ = built
    x, sr = sf.read(result.stems["dialogue"], always_2d=True)
    theo = next(c for c in result.cues if c.character == "theo")  # by_window, x = 0.66
    seg = x[int(theo.start_s * sr): int(theo.end_s * sr)]
    left, right = np.sqrt(np.mean(seg ** 2, axis=0))
    assert right > left * 1.1


def test_original_and_dub_languages(built) -> None:
    _, _, result, _ = built
    langs = {c.shot_id: c.language for c in result.cues}
    assert langs == {"s1": "en", "s2": "en", "s3": "fr"}
    elodie = next(c for c in result.cues if c.shot_id == "s3")
    assert elodie.voice == "fr+f2" and elodie.visemes
    fr = result.dubs["fr"]
    assert [c.language for c in fr.cues] == ["fr", "fr", "fr"]
    assert [c.text for c in fr.cues] == ["Mara ?", "Reste où tu es.", "Bonjour."]
    en = result.dubs["en"]
    assert [c.text for c in en.cues][-1] == "Hello."
    assert fr.missing_translations == 0 and en.report.on_target and fr.report.on_target


def test_dub_track_has_the_picture_duration(built) -> None:
    _, _, result, _ = built
    for dub in result.dubs.values():
        info = sf.info(dub.master)
        assert info.frames == round(result.duration_s * 48000)
        assert dub.duration_s == pytest.approx(result.duration_s)
        assert sf.info(dub.dialogue).frames == info.frames
        for c in dub.cues:  # same starts as the picture's lines
            orig = next(o for o in result.cues if o.shot_id == c.shot_id)
            assert c.start_s == orig.start_s


def test_manifest_round_trip_and_shot_visemes(built) -> None:
    _, _, result, _ = built
    loaded = EpisodeAudio.load(f"{result.out_dir}/audio.json")
    assert loaded == result
    vis = result.shot_visemes("s3")
    assert vis and vis[0][0] > 0 and all(isinstance(v, str) for _, v in vis)
    from studio_kit.visemes import Viseme

    assert {Viseme(v) for _, v in vis} <= set(Viseme)
    assert result.shot_visemes("s3", language="en") != vis


def test_cli_say_mix_voices(built, tmp_path, capsys) -> None:
    from studio_kit.cli import main

    project, _, _, _ = built
    out = tmp_path / "say.wav"
    assert main(["say", str(project.root), "elodie", "Bonjour, Mara.", "-o", str(out)]) == 0
    assert sf.info(out).duration > 0.5
    assert main(["say", str(project.root), "nobody", "Hi", "-o", str(out)]) == 2
    assert main(["voices", "--language", "fr"]) == 0
    assert "fr" in capsys.readouterr().out
    assert main(["mix", str(project.root), "09", "--no-dubs", "-o", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "stems" / "me.wav").is_file()


def test_unknown_mood_and_untranslated_dub_warn(sample_project, tmp_path) -> None:
    sb = Storyboard(episode="08", acts=[Act(id="a", mood="glorbish", shots=[
        Shot(id="z", scene="cliff_path", duration_s=1.0,
             dialogue=[DialogueLine(character="mara", text="Hm.")])])])
    sample_project.save_storyboard(sb)
    r = build_episode_audio(sample_project, "08", out_dir=tmp_path, dubs=["fr"],
                            music_stems=False)
    assert any("glorbish" in w for w in r.warnings)
    assert any("no translation" in w for w in r.warnings)
    assert r.dubs["fr"].missing_translations == 1


@pytest.mark.heavy
def test_sample_episode_end_to_end_with_engine_lipsync(sample_project, tmp_path) -> None:
    """The whole sample episode (32 s, dubs en/fr), then the local engine renders a shot
    from the audio stage's visemes and the lip-sync check passes on the clip."""
    from studio_kit.audio.lipsync import check_rendered_shot
    from studio_kit.engines.base import EngineRequest, RenderFormat
    from studio_kit.engines.local import LocalEngine
    from studio_kit.store.vault import Vault

    result = build_episode_audio(sample_project, "01", out_dir=tmp_path / "a")
    assert result.report.on_target and all(d.report.on_target for d in result.dubs.values())
    shot = result.shot("s02-cliff-mara")
    spec = sample_project.resolve_shot("01", "s02-cliff-mara")
    req = EngineRequest(spec=spec, format=RenderFormat(width=320, height=180, fps=24),
                        duration_s=shot.duration_s,
                        visemes=result.shot_visemes("s02-cliff-mara"))
    vault = Vault(tmp_path / "vault")
    clip = vault.path(LocalEngine().render(req, vault).asset)
    res = check_rendered_shot(clip, req, "mara", visemes=result.shot_visemes("s02-cliff-mara"))
    assert res.ok and abs(res.offset_ms) <= 25, res


def test_main_track_in_another_language_keeps_the_picture(built, tmp_path) -> None:
    project, _, original, _ = built
    fracs: list[float] = []
    fr = build_episode_audio(project, "09", language="fr", out_dir=tmp_path, dubs=False,
                             music_stems=False, progress=fracs.append)  # 1-argument callback
    assert fracs[-1] == 1.0 and fracs == sorted(fracs)
    assert [c.language for c in fr.cues] == ["fr", "fr", "fr"]
    assert [s.model_dump() for s in fr.shots] == [s.model_dump() for s in original.shots]
    assert fr.duration_s == original.duration_s and fr.dubs == {}
