"""Feature assembly, what the episodes' drops, recaps, music and credits make of it: the
drops measured on the decoded feature, recaps made of earlier episodes' frames, the music
re-scored per act (mood arc) over the re-mixed dialogue/effects stems and mastered once
(pyloudnorm), credits from the ledger, the bible, the scenes and series.yaml."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pyloudnorm as pyln
import pytest
from feature_bay_helpers import one_shot_per_act
from scipy.signal import resample_poly

from studio_kit.audio.mix import SAMPLE_RATE
from studio_kit.feature.assemble import _decode_audio, assemble_feature, resolve_sources
from studio_kit.models.feature import Feature
from studio_kit.pipeline import RenderOptions, render_episode
from studio_kit.project.series_folder import Project

ROOT = Path(__file__).resolve().parents[1]
OPTS = RenderOptions(engine="local", width=64, height=36, sign=False, prores=False)


@pytest.fixture(scope="module")
def coast(tmp_path_factory):
    base = tmp_path_factory.mktemp("coast")
    a = one_shot_per_act(base / "lighthouse", ["01", "02"], credits={"Written by": ["Ana Writer"]})
    b = one_shot_per_act(base / "harbour", ["01"], title="Harbour Lights",
                credits={"Written by": ["Ben Writer"], "Music": ["Studio Score"]})
    renders = {("lighthouse", "01"): render_episode(a, "01", options=OPTS),
               ("lighthouse", "02"): render_episode(a, "02", options=OPTS),
               ("harbour", "01"): render_episode(b, "01", options=OPTS)}
    return base, renders


def _feature(**over) -> Feature:
    spec = {"id": "coast", "title": "Coast", "format": "anthology",
            "sources": [{"series": "lighthouse", "episode": "01", "mood": "tense"},
                        {"series": "lighthouse", "episode": "02", "act": 2},
                        {"series": "harbour", "episode": "01", "act": 3,
                         "drop": ["cold_open", "end_hook"]}]}
    spec.update(over)
    return Feature.model_validate(spec)


def _frames(path: str) -> list[np.ndarray]:
    with av.open(path) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]


def _timeline(render) -> list[dict]:
    import json

    return json.loads(Path(render.timeline).read_text())["items"]


def test_drops_are_applied_to_the_decoded_feature(coast):
    base, renders = coast
    plain = assemble_feature(_feature(sources=[
        {"series": "lighthouse", "episode": "01"}, {"series": "harbour", "episode": "01"}]),
        base, base / "out" / "plain.mp4")
    dropped = assemble_feature(_feature(sources=[
        {"series": "lighthouse", "episode": "01"},
        {"series": "harbour", "episode": "01", "drop": ["cold_open", "end_hook"]}]),
        base, base / "out" / "dropped.mp4")
    # what the harbour episode's timeline says the drops remove: its cold-open shot and its
    # end hook (the tag shot and the hook card), measured in frames of the master
    items = _timeline(renders[("harbour", "01")])
    kept = dropped.kept["harbour 01"]
    n_master = len(_frames(renders[("harbour", "01")].master))
    gone = n_master - sum(b - a for a, b in kept)
    co = next(i for i in items if i["act"] == "cold-open")
    hook = next(i for i in items if i["kind"] == "hook_card")
    assert kept[0][0] >= co["record_end"] - 1e-9 or kept[0][0] > co["record_start"]
    assert all(b <= hook["record_start"] for _a, b in kept)
    assert gone >= (co["record_end"] - co["record_start"]) // 2 + hook["frames"]
    # on the decoded result: exactly that many frames fewer, and the running time follows
    f_plain, f_drop = _frames(plain.out), _frames(dropped.out)
    assert len(f_plain) - len(f_drop) == gone
    with av.open(dropped.out) as c:
        secs = float(c.duration / av.time_base)
        assert c.streams.video[0].average_rate == 24  # the cuts keep the timestamps regular
        chapters = {ch["metadata"]["title"]: ch for ch in c.chapters()}
    assert secs == pytest.approx(plain.duration_s - gone / 24, abs=0.1)
    ch = next(c for c in dropped.chapters if c.title == "harbour 01")
    assert ch.end_s - ch.start_s == pytest.approx(sum(b - a for a, b in kept) / 24, abs=0.05)
    assert "harbour 01" in chapters
    # the harbour chapter opens on the master's first kept frame (not its cold open)
    master = _frames(renders[("harbour", "01")].master)
    first = f_drop[int(round(ch.start_s * 24))]
    assert np.abs(first - master[kept[0][0]]).mean() < 3.0
    assert np.abs(first - master[0]).mean() > np.abs(first - master[kept[0][0]]).mean()


def test_recaps_are_built_from_earlier_episodes_shots(coast):
    base, renders = coast
    res = assemble_feature(_feature(recaps=True), base, base / "out" / "recap.mp4")
    recaps = [c for c in res.chapters if c.title == "Recap"]
    assert len(recaps) == 2  # acts 2 and 3 open with a recap
    frames = _frames(res.out)
    # the second recap ends on the last kept frame of lighthouse 02 (the episode before it)
    lh02 = _frames(renders[("lighthouse", "02")].master)
    last_kept = res.kept["lighthouse 02"][-1][1] - 1
    end = int(round(recaps[1].end_s * 24)) - 1
    assert np.abs(frames[end] - lh02[last_kept]).mean() < 4.0
    assert recaps[1].end_s - recaps[1].start_s == pytest.approx(2.0, abs=0.05)  # 2 x 1 s


def test_music_arc_stems_and_one_master_on_target(coast):
    base, renders = coast
    f = _feature()
    res = assemble_feature(f, base, base / "out" / "arc.mp4")
    moods = [a["mood"] for a in res.music_arc]
    assert [a["act"] for a in res.music_arc] == ["act-1", "act-2", "act-3"]
    assert moods[0] == "tense"                                  # the feature says so
    proj = Project.load(base / "lighthouse")
    from studio_kit.audio.music import act_mood

    want = act_mood(proj.storyboard("02").acts[0], proj.scenes) or "neutral"
    assert moods[1] == want  # no mood in the feature: the episode's act says it
    arc = res.music_arc
    assert all(x["end_s"] == pytest.approx(y["start_s"]) for x, y in zip(arc, arc[1:], strict=False))
    # measured on the delivered AAC with pyloudnorm itself, and a 4x oversampled true peak
    with av.open(res.out) as c:
        secs = float(c.duration / av.time_base)
    x = _decode_audio(res.out, secs)
    lufs = pyln.Meter(SAMPLE_RATE).integrated_loudness(x)
    assert lufs == pytest.approx(f.loudness.lufs, abs=0.5)
    tp = 20 * np.log10(np.abs(resample_poly(x, 4, 1, axis=0)).max())
    assert tp <= -1.0
    # the sound is the episodes' dialogue stems re-mixed: the lines are where they were
    srcs = resolve_sources(f, base)
    dial = _decode_audio(str(Path(srcs[0].mix).parent / "stems" / "dialogue.wav"),
                         srcs[0].duration_s)
    at = next(c.start_s for c in res.chapters if c.title == "lighthouse 01")
    seg = x[int(at * SAMPLE_RATE): int(at * SAMPLE_RATE) + len(dial)]
    loud = np.abs(dial).mean(axis=1) > 0.05
    if loud.any():
        corr = np.corrcoef(seg[loud, 0], dial[loud, 0])[0, 1]
        assert corr > 0.5
    # and the music is not the episodes' score: the feature's one differs from theirs
    ep_music = _decode_audio(str(Path(srcs[0].mix).parent / "stems" / "music.wav"),
                             srcs[0].duration_s)
    seg_all = x[int(at * SAMPLE_RATE): int(at * SAMPLE_RATE) + len(ep_music)]
    quiet = np.abs(dial).mean(axis=1) < 1e-4
    if quiet.sum() > SAMPLE_RATE // 4 and np.abs(ep_music[quiet]).max() > 0:
        c = np.corrcoef(seg_all[quiet, 0], ep_music[quiet, 0])[0, 1]
        assert c < 0.9


def test_credits_name_every_character_voice_and_engine(coast):
    from studio_kit.audio.dialogue import cast_voices
    from studio_kit.store.ledger import Ledger

    base, renders = coast
    res = assemble_feature(_feature(), base, base / "out" / "credits.mp4")
    cr = res.credits
    for series, ep in (("lighthouse", "01"), ("lighthouse", "02"), ("harbour", "01")):
        proj = Project.load(base / series)
        voices = cast_voices(proj.characters)
        sb = proj.storyboard(ep)
        for shot in sb.shots:
            for m in shot.characters:
                assert proj.characters[m.character].name in cr.cast
            for line in shot.dialogue:
                ch = proj.characters[line.character]
                v = voices[line.character]
                assert cr.characters[ch.name] == f"{v.engine} {v.voice or v.gender or 'default'}"
                assert cr.characters[ch.name] in cr.voices
            scene = proj.scenes[shot.scene]
            assert scene.name in cr.locations
        with Ledger(base / series / ".studio" / "ledger.sqlite") as led:
            run = renders[(series, ep)].run_id
            for row in led.query("SELECT engine, model FROM engine_calls WHERE run_id = ?",
                                 (run,)):
                assert row["engine"] in cr.engines
                assert f"{row['engine']}/{row['model']}" in cr.models
    assert cr.roles == {"Written by": ["Ana Writer", "Ben Writer"], "Music": ["Studio Score"]}
    text = cr.text()
    for name in [*cr.cast, *cr.engines, *cr.voices, "Ana Writer", "Studio Score"]:
        assert name in text


def test_changed_episode_reencodes_only_its_pieces(coast):
    base, renders = coast
    f = _feature()
    out = base / "out" / "again.mp4"
    assemble_feature(f, base, out)
    warm = assemble_feature(f, base, out)
    assert warm.pieces_encoded == []
    harbour = Path(renders[("harbour", "01")].master)
    backup = harbour.read_bytes()
    try:
        harbour.write_bytes(backup + b"\0" * 16)  # new content key, still playable
        again = assemble_feature(f, base, out)
    finally:
        harbour.write_bytes(backup)
    eps = [p for p in again.pieces_encoded if p.startswith("ep-")]
    assert len(eps) == len(again.kept["harbour 01"])  # the harbour cut(s), nothing else
    assert not [p for p in again.pieces_encoded if p.startswith("card-")]
    # only the picture changed: the sound (made of the stems) is not mastered again
    assert [p for p in again.pieces_reused if p.startswith("sound-")]


def test_running_time_over_the_format_is_refused():
    from studio_kit.errors import StudioError
    from studio_kit.feature.model import check_running_time

    f = _feature(format="short")
    check_running_time(f, 30 * 60)
    with pytest.raises(StudioError, match="allows at most 40 min") as e:
        check_running_time(f, 41 * 60, file="features/coast.yaml")
    assert "coast.yaml" in str(e.value) and "format" in str(e.value)


def test_forcing_remakes_every_piece_once(coast):
    """The feature's pieces are folder caches: a forcing() scope (what --force is) makes
    each of them again, once; outside it they are reused."""
    from studio_kit.store.cache import forcing

    base, _renders = coast
    f = _feature()
    out = base / "out" / "forced.mp4"
    first = assemble_feature(f, base, out)
    names = set(first.pieces_encoded) | set(first.pieces_reused)
    with forcing():
        forced = assemble_feature(f, base, out)
        assert set(forced.pieces_encoded) == names  # every piece made again
        assert assemble_feature(f, base, out).pieces_encoded == []  # once per scope
    assert assemble_feature(f, base, out).pieces_encoded == []
