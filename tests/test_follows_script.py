"""The film follows its screenplay (issue 19, render side): time of day, atmosphere, the
action, the cast, descriptions, sets, fades, cards, voices and music, measured on decoded
frames and rendered audio at tiny sizes."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from studio_kit.engines.base import EngineRequest, RenderFormat, ResolvedCharacter, ShotSpec
from studio_kit.engines.local import LocalEngine, figure_regions
from studio_kit.models import (
    Camera,
    CastMember,
    Character,
    Garment,
    Outfit,
    Scene,
    Shot,
    Wardrobe,
)
from studio_kit.store.vault import Vault

TINY = RenderFormat(width=160, height=90, fps=24.0)


def person(cid: str, garments: list[tuple[str, str]] | None = None, *, skin: str = "#c68863",
           hair: str = "#2b1d14") -> Character:
    gs = [Garment(name=k, kind=k, colours=[c]) for k, c in
          (garments or [("top", "#6b6b6b"), ("trousers", "#303040")])]
    return Character(id=cid, name=cid.title(), appearance={"skin": skin, "hair_colour": hair},
                     wardrobe=Wardrobe(outfits={"default": Outfit(garments=gs)}))


def a_scene(**kw) -> Scene:
    data = dict(id="harbour", name="HARBOUR", interior=False, time_of_day="day",
                palette=["#87a9c9", "#6b7b4b"],
                set_layout=[{"name": "a", "kind": "person", "x": 0.4, "depth": 0.3},
                            {"name": "b", "kind": "person", "x": 0.6, "depth": 0.3},
                            {"name": "post", "kind": "prop", "prop": "post", "x": 0.2,
                             "depth": 0.9}])
    data.update(kw)
    return Scene.model_validate(data)


def req(*, scene: Scene | None = None, chars: list[Character] = (), action: str = "",
        angle: str = "wide", tod: str | None = None, sid: str = "s1",
        seconds: float = 0.25) -> EngineRequest:
    sc = scene or a_scene()
    marks = [m.name for m in sc.set_layout if m.kind.value == "person"]
    cast = [CastMember(character=c.id, mark=marks[i] if i < len(marks) else None)
            for i, c in enumerate(chars)]
    shot = Shot(id=sid, scene=sc.id, characters=cast, action=action,
                camera=Camera(angle=angle), duration_s=seconds, time_of_day=tod)
    rcs = [ResolvedCharacter(character=c, outfit_id="default",
                             garments=c.wardrobe.outfits["default"].garments, mark=m.mark)
           for c, m in zip(chars, cast, strict=True)]
    return EngineRequest(spec=ShotSpec(episode="01", shot=shot, scene=sc, characters=rcs),
                         seed=1, format=TINY)


def render(request: EngineRequest, tmp_path: Path) -> tuple[bytes, list[np.ndarray]]:
    """The clip's bytes and its decoded RGB frames (a real H.264 encode)."""
    vault = Vault(tmp_path / "vault")
    res = LocalEngine().render(request, vault)
    path = vault.get(res.asset)
    with av.open(str(path)) as box:
        frames = [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]
    return path.read_bytes(), frames


def lum(img: np.ndarray) -> np.ndarray:
    f = img.astype(np.float64)
    return 0.2126 * f[..., 0] + 0.7152 * f[..., 1] + 0.0722 * f[..., 2]


def blue_red(img: np.ndarray) -> float:
    f = img.astype(np.float64)
    return float(f[..., 2].mean() / max(f[..., 0].mean(), 1e-6))


# -- 1. time of day -------------------------------------------------------------------------
@pytest.mark.parametrize("interior", [False, True])
def test_night_heading_renders_darker_and_cooler_than_day(interior: bool,
                                                          tmp_path: Path) -> None:
    sc = a_scene(interior=interior)  # one location, lit for day; the shots' headings vary
    looks = {}
    for tod in ("day", "dusk", "night"):
        _, frames = render(req(scene=sc, chars=[person("ana")], tod=tod), tmp_path / tod)
        looks[tod] = (lum(frames[0]).mean(), blue_red(frames[0]))
    (day_l, day_br), (dusk_l, _), (night_l, night_br) = looks["day"], looks["dusk"], \
        looks["night"]
    assert night_l < dusk_l < day_l
    assert night_l < 0.75 * day_l
    assert night_br > 1.15 * day_br  # night is blue


def test_shot_time_of_day_falls_back_to_the_scene(tmp_path: Path) -> None:
    _, night_scene = render(req(scene=a_scene(time_of_day="night")), tmp_path / "a")
    _, night_shot = render(req(scene=a_scene(), tod="night"), tmp_path / "b")
    _, day = render(req(scene=a_scene()), tmp_path / "c")
    assert lum(night_scene[0]).mean() < 0.75 * lum(day[0]).mean()
    assert abs(lum(night_scene[0]).mean() - lum(night_shot[0]).mean()) < 2.0


# -- 2. atmosphere --------------------------------------------------------------------------
def _depth_contrast(frame: np.ndarray) -> tuple[float, float]:
    """Spread of luma in the ground rows near the camera and in the far rows."""
    y = lum(frame)
    h = y.shape[0]
    return float(y[int(0.85 * h):].std() + 1e-6), float(y[int(0.45 * h):int(0.6 * h)].std())


@pytest.mark.parametrize("where", ["action", "scene"])
def test_fog_in_the_action_or_scene_gives_fog(where: str, tmp_path: Path) -> None:
    dark = [person("ana", [("coat", "#101010"), ("trousers", "#101010")]),
            person("ben", [("coat", "#101010"), ("trousers", "#101010")])]
    sc = a_scene(set_layout=[{"name": "a", "kind": "person", "x": 0.3, "depth": 0.0},
                             {"name": "b", "kind": "person", "x": 0.7, "depth": 1.0}])
    sc_fog = Scene.model_validate({**sc.model_dump(mode="json"),
                                   "atmosphere": {"kind": "fog", "density": 0.7}}) \
        if where == "scene" else sc
    action = "Fog rolls in over the water." if where == "action" else "They wait."
    r_clear = req(scene=sc, chars=dark, action="They wait.", angle="extreme_wide")
    r_fog = req(scene=sc_fog, chars=dark, action=action, angle="extreme_wide")
    _, clear = render(r_clear, tmp_path / "clear")
    _, fog = render(r_fog, tmp_path / "fog")

    def figure_contrast(request: EngineRequest, frame: np.ndarray, cid: str) -> float:
        x0, y0, x1, y1 = figure_regions(request, cid, 0.0)["torso"]
        y = lum(frame)
        w = x1 - x0
        return abs(float(y[y0:y1, x0:x1].mean()) - float(y[y0:y1, x1 + w:x1 + 2 * w].mean()))

    near_c, far_c = (figure_contrast(r_clear, clear[0], c) for c in ("ana", "ben"))
    near_f, far_f = (figure_contrast(r_fog, fog[0], c) for c in ("ana", "ben"))
    assert far_f < 0.6 * far_c  # the far figure fades into the fog
    assert far_f / near_f < far_c / near_c  # and more than the near one: depth haze


# -- 3. shots differ; the action drives the render ---------------------------------------------
def test_different_headings_and_actions_are_different_clips(tmp_path: Path) -> None:
    a, _ = render(req(action="The sea is flat.", tod="day", sid="s1"), tmp_path / "a")
    b, _ = render(req(action="A gull circles the mast.", tod="night", sid="s2"), tmp_path / "b")
    assert a != b


def test_editing_a_shot_action_changes_its_clip_deterministically(tmp_path: Path) -> None:
    cast = [person("ana"), person("ben")]
    one, f1 = render(req(chars=cast, action="Ana waits by the rail."), tmp_path / "a")
    two, f2 = render(req(chars=cast, action="Ana points at the horizon."), tmp_path / "b")
    again, _ = render(req(chars=cast, action="Ana waits by the rail."), tmp_path / "c")
    assert one != two and one == again
    assert np.abs(f1[0].astype(float) - f2[0].astype(float)).mean() > 0.5


def test_walking_moves_a_figure_and_freeze_holds_it() -> None:
    from studio_kit.engines.local import Renderer

    walk = Renderer(req(chars=[person("ana")], action="Ana walks to the boat.",
                        angle="wide", seconds=2.0))
    x0, x1 = walk.figures[0].x_at(0.0), walk.figures[0].x_at(2.0)
    assert abs(x1 - x0) > 0.5
    freeze = Renderer(req(chars=[person("ana")], action="Both freeze.", seconds=2.0))
    f = freeze.figures[0]
    assert f.still and f.x_at(0.0) == f.x_at(1.3)


# -- 4. "Both freeze" renders the two characters ------------------------------------------------
def test_both_freeze_renders_both_characters(tmp_path: Path) -> None:
    cast = [person("ana", [("coat", "#d8c020"), ("trousers", "#303040")]),
            person("ben", [("coat", "#c02020"), ("trousers", "#303040")])]
    r = req(chars=cast, action="Both freeze.", angle="wide")
    _, frames = render(r, tmp_path)
    for cid, colour in (("ana", (216, 192, 32)), ("ben", (192, 32, 32))):
        x0, y0, x1, y1 = figure_regions(r, cid, 0.0)["torso"]
        assert x1 > x0 and y1 > y0
        patch = frames[0][y0:y1, x0:x1].reshape(-1, 3).astype(float)
        assert np.linalg.norm(patch.mean(0) - np.array(colour)) < 70


# -- 5. descriptions reach the look ----------------------------------------------------------
def test_costume_colours_show_in_their_regions(tmp_path: Path) -> None:
    """A yellow oilskin (coat) and a red cap (hat) from the bible, on decoded frames."""
    skipper = person("skipper", [("coat", "#e8c01a"), ("hat", "#c81e1e"),
                                 ("trousers", "#303040")])
    r = req(chars=[skipper], angle="medium")
    _, frames = render(r, tmp_path)
    img = frames[0].astype(float)
    boxes = figure_regions(r, "skipper", 0.0)
    x0, y0, x1, y1 = boxes["torso"]
    torso = img[y0:y1, x0:x1].reshape(-1, 3).mean(0)
    assert torso[0] > 120 and torso[1] > 100 and torso[2] < 90  # yellow
    hx0, hy0, hx1, hy1 = boxes["hair"]
    above = img[max(0, hy0 - (hy1 - hy0) // 2):hy0 + 2, hx0:hx1].reshape(-1, 3)
    red = (above[:, 0] > 110) & (above[:, 1] < 80) & (above[:, 2] < 80)
    assert red.mean() > 0.2  # the cap sits on the head


def test_hair_close_to_skin_is_not_bald(tmp_path: Path) -> None:
    brown = "#a0704c"
    r = req(chars=[person("ana", skin=brown, hair="#a5744f")], angle="close_up")
    _, frames = render(r, tmp_path)
    img = frames[0].astype(float)
    boxes = figure_regions(r, "ana", 0.0)
    fx0, fy0, fx1, fy1 = boxes["face"]
    face = img[fy0 + (fy1 - fy0) // 2: fy1, fx0 + (fx1 - fx0) // 4: fx1 - (fx1 - fx0) // 4]
    hx0, hy0, hx1, _ = boxes["hair"]
    hair = img[hy0 + 1: fy0 + (fy1 - fy0) // 6, hx0 + (hx1 - hx0) // 4: hx1 - (hx1 - hx0) // 4]
    from studio_kit.colorimetry import delta_e, srgb_to_lab

    de = float(delta_e(srgb_to_lab(hair.reshape(-1, 3).mean(0)),
                       srgb_to_lab(face.reshape(-1, 3).mean(0))))
    assert de > 12, de


# -- 6. sets are not bare ---------------------------------------------------------------------
@pytest.mark.parametrize("name,interior", [("HARBOUR", False), ("OPEN PLAIN", False),
                                           ("KITCHEN", True)])
def test_a_scene_without_props_gets_a_set(name: str, interior: bool, tmp_path: Path) -> None:
    from studio_kit.engines.local import Renderer

    bare = a_scene(id="s", name=name, interior=interior, set_layout=[])
    r = req(scene=bare, angle="extreme_wide")
    assert len(Renderer(r).props) >= 3
    _, frames = render(r, tmp_path)
    y = lum(frames[0])
    # an empty horizon is smooth row by row: a dressed set has structure across the frame
    across = float(np.abs(np.diff(y, axis=1)).mean())
    assert across > 1.0, across


# -- 7. FADE OUT -------------------------------------------------------------------------------
def _storyboard(transitions: list[str], *, title: str = "", title_card: bool = False):
    from studio_kit.models import Storyboard

    shots = [{"id": f"s{i}", "scene": "harbour", "duration_s": 1.0,
              "transition": {"kind": k, "duration_s": 0.5}} for i, k in enumerate(transitions)]
    return Storyboard.model_validate({"episode": "01", "title": title, "title_card": title_card,
                                      "acts": [{"id": "a1", "shots": shots}]})


def _decoded(path: str) -> list[np.ndarray]:
    with av.open(path) as box:
        return [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]


@pytest.mark.parametrize("last", ["fade", "dip_to_white", "dissolve", "cut"])
def test_fade_out_ends_on_black(last: str, tmp_path: Path) -> None:
    from studio_kit.edit.assemble import assemble
    from studio_kit.edit.synth import make_clip
    from studio_kit.edit.timeline import timeline_from_storyboard

    sb = _storyboard(["cut", last])
    clips = {s.id: make_clip(tmp_path / f"{s.id}.mp4", seconds=1.0, width=64, height=36,
                             source="color", colour="0x8080c0") for s in sb.shots}
    tl = timeline_from_storyboard(sb, clips, fps=24, width=64, height=36)
    res = assemble(tl, tmp_path / "ep.mp4")
    frames = _decoded(res.path)
    assert len(frames) == 48  # a fade out adds no frames
    end, before = frames[-1].astype(float).mean(), frames[-13].astype(float).mean()
    if last == "fade":
        assert end < 8 and before > 60  # black at the end, picture until the fade
        mid = frames[-6].astype(float).mean()
        assert 8 < mid < before  # a ramp, not a cut to black
    elif last == "dip_to_white":
        assert end > 245
    else:
        assert abs(end - before) < 3  # nothing else closes the episode


def test_fade_to_black_between_shots_keeps_the_fade(tmp_path: Path) -> None:
    """A fade followed by other transitions still dips to black mid-episode."""
    from studio_kit.edit.assemble import assemble
    from studio_kit.edit.synth import make_clip
    from studio_kit.edit.timeline import timeline_from_storyboard

    sb = _storyboard(["fade", "dissolve", "cut"])
    clips = {s.id: make_clip(tmp_path / f"{s.id}.mp4", seconds=1.0, width=64, height=36,
                             source="color", colour="0x8080c0") for s in sb.shots}
    tl = timeline_from_storyboard(sb, clips, fps=24, width=64, height=36)
    frames = _decoded(assemble(tl, tmp_path / "ep.mp4").path)
    lum_curve = [f.astype(float).mean() for f in frames]
    first_cut = tl.items[0].record_end - tl.items[0].transition.frames // 2
    assert min(lum_curve[first_cut - 3:first_cut + 3]) < 20  # through black
    assert lum_curve[-1] > 60


# -- 8. cards ------------------------------------------------------------------------------------
@pytest.mark.parametrize("series,episode,expected", [
    ("Big Fish", "Big Fish", "Big Fish"), ("Big Fish", "BIG FISH", "Big Fish"),
    ("Big Fish", "The River", "Big Fish\nThe River"), ("", "The River", "The River")])
def test_title_card_does_not_repeat_the_title(series: str, episode: str,
                                              expected: str) -> None:
    from studio_kit.edit.timeline import timeline_from_storyboard

    tl = timeline_from_storyboard(_storyboard(["cut"], title=episode, title_card=True),
                                  series_title=series)
    assert tl.item("card-title").text == expected


# -- 9. voices follow gender and age ------------------------------------------------------------
def _f0(x: np.ndarray, sr: int) -> float:
    """Median fundamental (Hz) of the voiced 40 ms frames (autocorrelation)."""
    n, out = int(0.04 * sr), []
    rms = float(np.sqrt(np.mean(x ** 2)))
    for i in range(0, len(x) - n, n // 2):
        fr = x[i:i + n] - x[i:i + n].mean()
        if np.sqrt(np.mean(fr ** 2)) < 0.3 * rms:
            continue
        ac = np.correlate(fr, fr, "full")[n - 1:]
        lo, hi = int(sr / 400), int(sr / 60)
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[k] > 0.4 * ac[0]:
            out.append(sr / k)
    return float(np.median(out))


def _speaker(cid: str, description: str = "", **voice) -> Character:
    return Character(id=cid, name=cid.title(), description=description, voice=voice,
                     wardrobe=Wardrobe(outfits={"default": Outfit(garments=[
                         Garment(name="top", kind="top", colours=["#808080"])])}))


LINE = "The boat is coming back to the harbour tonight."


def _spoken(cast: dict[str, Character], cid: str):
    from studio_kit.audio.dialogue import speak_line
    from studio_kit.models import DialogueLine

    return speak_line(cast, DialogueLine(character=cid, text=LINE), shot_id="s1", index=0)


def test_voices_follow_gender_and_age() -> None:
    from studio_kit.audio import SAMPLE_RATE

    cast = {c.id: c for c in [
        _speaker("mara", gender="female"), _speaker("tom", gender="male"),
        _speaker("kit", gender="female", age="child"),
        _speaker("ned", gender="male", age="older"),
        _speaker("edna", "A fisherwoman in her sixties; she mends nets.")]}
    f0 = {cid: _f0(_spoken(cast, cid).samples, SAMPLE_RATE) for cid in cast}
    assert f0["mara"] > 1.5 * f0["tom"]  # a woman's voice, not the default man's
    assert f0["edna"] > 1.4 * f0["tom"]  # the bible description says she
    assert f0["kit"] > 1.25 * f0["mara"]  # a child speaks higher
    ned, tom = _spoken(cast, "ned"), _spoken(cast, "tom")
    assert ned.voice.endswith("grandpa") and len(ned.samples) > 1.08 * len(tom.samples)
    assert _spoken(cast, "edna").voice.endswith("grandma")


def test_unspecified_voices_are_distinct_and_not_all_male() -> None:
    from studio_kit.audio import SAMPLE_RATE

    cast = {c.id: c for c in [_speaker(n) for n in ("ana", "ben", "cleo", "dev", "eli")]}
    voices = {cid: _spoken(cast, cid).voice for cid in cast}
    assert len(set(voices.values())) == len(cast)  # each their own voice
    assert voices == {cid: _spoken(cast, cid).voice for cid in cast}  # deterministic
    f0 = sorted(_f0(_spoken(cast, cid).samples, SAMPLE_RATE) for cid in cast)
    assert f0[-1] > 1.5 * f0[0]  # some speak in a higher (female) register
    pinned = {**cast, "ben": _speaker("ben", voice="m3")}
    assert _spoken(pinned, "ben").voice.endswith("m3")  # an explicit voice is kept


# -- 10. music follows the act's mood ------------------------------------------------------------
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def _mode(x: np.ndarray, sr: int) -> str:
    """major or minor: the Krumhansl-Kessler key profile that fits the chroma best."""
    mono = x.mean(1)
    spec = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    freqs = np.fft.rfftfreq(len(mono), 1 / sr)
    ok = (freqs > 60) & (freqs < 2000)
    pcs = np.round(12 * np.log2(freqs[ok] / 440.0)).astype(int) % 12  # 0 = A
    chroma = np.bincount(pcs, weights=spec[ok] ** 2, minlength=12)
    best = max(((np.corrcoef(np.roll(p, k), chroma)[0, 1], name)
                for name, p in (("major", _MAJOR), ("minor", _MINOR)) for k in range(12)))
    return best[1]


def _tempo(x: np.ndarray, sr: int) -> float:
    """The strongest pulse (BPM, 90..200) of the amplitude envelope's spectrum."""
    hop = sr // 100
    env = np.sqrt(np.add.reduceat(x.mean(1) ** 2, np.arange(0, len(x), hop)) / hop)
    spec = np.abs(np.fft.rfft((env - env.mean()) * np.hanning(len(env)), 1 << 14))
    f = np.fft.rfftfreq(1 << 14, 1 / 100) * 60
    ok = (f >= 90) & (f <= 200)
    return float(f[ok][np.argmax(spec[ok])])


def _act_music(action: str, scene: Scene,
               mood: str | None = None) -> tuple[str | None, dict[str, np.ndarray]]:
    from studio_kit.audio import SAMPLE_RATE
    from studio_kit.audio.music import act_mood, plan_score, render_score
    from studio_kit.models import Act

    act = Act(id="a1", mood=mood, shots=[Shot(id="s1", scene=scene.id, action=action,
                                              duration_s=8.0)])
    derived = act_mood(act, {scene.id: scene})
    return derived, render_score(plan_score([("a1", derived, 0.0, 8.0)]), 8.0, seed=3,
                                 sr=SAMPLE_RATE)


def test_a_storm_is_not_neutral_c_major() -> None:
    from studio_kit.audio import SAMPLE_RATE as SR

    sea = a_scene(ambience=["sea", "wind"], atmosphere={"kind": "rain", "density": 0.8})
    calm_day = a_scene(ambience=["sea"], time_of_day="morning")
    storm_mood, storm = _act_music("Waves crash over the bow. Thunder.", sea)
    calm_mood, calm = _act_music("The water is still; gulls rest on the rail.", calm_day)
    assert storm_mood == "storm" and calm_mood == "calm"
    mix_s, mix_c = sum(storm.values()), sum(calm.values())
    rms = lambda y: float(np.sqrt(np.mean(y ** 2)))  # noqa: E731
    assert rms(mix_s) > 1.8 * rms(mix_c)  # energy
    assert _mode(mix_s, SR) == "minor" and _mode(mix_c, SR) == "major"  # mode
    # tempo: a driving beat (the percussion stem) at the storm's pace; the calm has none
    assert 120 <= _tempo(storm["percussion"], SR) <= 145
    assert rms(calm["percussion"]) < 1e-6 < rms(storm["percussion"])


def test_act_mood_wins_and_tension_is_read_from_the_action() -> None:
    night = a_scene(time_of_day="night")
    mood, tense = _act_music("Both freeze. Footsteps on the deck.", night)
    neutral_mood, neutral = _act_music("", a_scene())
    assert mood == "tense" and neutral_mood is None  # nothing to go on: neutral
    rms = lambda y: float(np.sqrt(np.mean(y ** 2)))  # noqa: E731
    assert rms(tense["percussion"]) > 1e-3 > rms(neutral["percussion"])  # a pulse
    assert rms(sum(tense.values())) > 1.1 * rms(sum(neutral.values()))
    assert _act_music("Both freeze.", night, mood="happy")[0] == "happy"


# -- 8b. cards carry room tone -------------------------------------------------------------------
def _rms_db(y: np.ndarray) -> float:
    return 20 * float(np.log10(max(float(np.sqrt(np.mean(y.astype(np.float64) ** 2))), 1e-12)))


def test_conformed_cards_carry_the_adjacent_scenes_room_tone() -> None:
    from studio_kit.audio.ambience import CARD_TONE_DBFS, card_fill
    from studio_kit.edit.timeline import timeline_from_storyboard
    from studio_kit.pipeline.conform import conform

    sr = 48000
    sb = _storyboard(["cut", "cut"], title="The River", title_card=True)
    sb.acts[0].title = "One"
    tl = timeline_from_storyboard(sb, fps=24, width=64, height=36, series_title="Big Fish")
    times = tl.shot_times()
    # the mix: shots end to end, each a loud tone
    t = np.arange(int(2.0 * sr)) / sr
    mix = (0.3 * np.sin(2 * np.pi * 220 * t))[:, None].repeat(2, 1).astype(np.float32)
    spans = [("s0", 0.0, 1.0), ("s1", 1.0, 2.0)]
    record = {s: times[s].start_s for s in ("s0", "s1")}
    scenes = {"harbour": a_scene(ambience=["sea"])}
    fill, key = card_fill(tl, scenes)
    silent = conform(mix, spans, record, tl.duration_s, sr)
    toned = conform(mix, spans, record, tl.duration_s, sr, gap_fill=fill)
    for card in ("card-title", "card-a1"):
        a, b = int(times[card].start_s * sr) + 4000, int(times[card].end_s * sr) - 4000
        assert _rms_db(silent[a:b]) < -200  # was digital silence
        assert abs(_rms_db(toned[a:b]) - CARD_TONE_DBFS) < 3  # now room tone, quietly
    shot = slice(int(times["s0"].start_s * sr), int(times["s0"].end_s * sr))
    assert np.array_equal(silent[shot], toned[shot])  # the shots' sound is untouched
    assert key and key[0][2]["id"] == "harbour"  # the card's room tone is its scene's


@pytest.mark.heavy
def test_rendered_master_has_room_tone_on_cards(tmp_path: Path) -> None:
    """The whole render: the master's title card span is neither silent nor loud."""
    import soundfile as sf

    from studio_kit.pipeline import render_episode
    from tests.test_pipeline_episode import OPTS, small_sample

    root = small_sample(tmp_path / "lighthouse")
    result = render_episode(root, "01", options=OPTS, out_dir=root / "out")
    x, sr = sf.read(result.mix, dtype="float32", always_2d=True)
    tl = json.loads(Path(result.timeline).read_text())
    cards = [it for it in tl["items"] if it["kind"] != "shot"]
    assert cards
    fps = tl["fps_num"] / tl["fps_den"]
    for it in cards:
        a = int((it["record_start"] / fps + 0.15) * sr)
        b = int((it["record_end"] / fps - 0.15) * sr)
        assert -70 < _rms_db(x[a:b]) < -30


def test_workshop_time_of_day_override_beats_the_heading() -> None:
    from studio_kit.engines.local import preview_frame

    spec = req(tod="night").spec
    night = lum(preview_frame(spec)).mean()
    day = lum(preview_frame(spec, overrides={"time_of_day": "day"})).mean()
    assert day > 1.3 * night


# -- 7b. the import keeps FADE TO BLACK when another transition follows ---------------------------
@pytest.mark.parametrize("after", ["CUT TO:", "DISSOLVE TO:", "SMASH CUT TO:"])
def test_fade_to_black_then_another_transition_keeps_the_fade(after: str) -> None:
    from studio_kit.models import TransitionKind
    from studio_kit.screenplay import BreakdownInput, breakdown, parse_fountain
    from studio_kit.screenplay.importer import resolve_characters, resolve_scenes

    text = ("INT. HOUSE - DAY\n\nAna sits.\n\nFADE TO BLACK.\n\n" f"> {after}\n\n"
            "EXT. GARDEN - NIGHT\n\nBen waits.\n\nFADE OUT.\n")
    script = parse_fountain(text, "t.fountain")
    scene_ids, _, _ = resolve_scenes(script, {})
    chars, _, _ = resolve_characters(script, {}, "en")
    sb, _ = breakdown(script, BreakdownInput("01", scene_ids, chars, preamble_scene="opening"))
    shots = sb.shots
    assert shots[0].transition.kind == TransitionKind.fade
    assert shots[-1].transition.kind == TransitionKind.fade  # FADE OUT. closes the episode


def test_cloud_prompts_follow_the_shots_time_of_day_and_action() -> None:
    from studio_kit.prompts import compile_prompt

    spec = req(tod="night", action="Fog rolls in over the water.").spec
    p = compile_prompt(spec, "runway")
    assert "Night," in p.prompt and "Day," not in p.prompt and "fog" in p.prompt.lower()
    assert "night" not in p.negative_prompt.lower()  # the opposite of night is refused


# -- from the screenplay: import, then render ---------------------------------------------------
SCRIPT = """Title: Harbour Lights
Author: Someone Else

EXT. HARBOUR - DAY

Gulls over a flat sea. MARA (60s), a fisherwoman in a yellow oilskin, coils rope.

MARA
Tide's turning.

EXT. HARBOUR - NIGHT

Fog rolls in over the black water. Mara waits by the rail.

MARA
Nobody comes out in this.

FADE OUT.
"""


def test_screenplay_night_and_fog_reach_the_frames(tmp_path: Path) -> None:
    from studio_kit.project.series_folder import Project
    from studio_kit.screenplay import import_script

    script = tmp_path / "harbour.fountain"
    script.write_text(SCRIPT)
    import_script(tmp_path / "series", script, "01", create=True)
    p = Project.load(tmp_path / "series")
    shots = p.storyboard("01").shots
    day = next(s for s in shots if "Gulls" in s.action)
    night = next(s for s in shots if "Fog" in s.action)
    assert day.scene == night.scene  # one location, lit for day or night
    frames = {}
    for shot in (day, night):
        spec = p.resolve_shot("01", shot.id)
        r = EngineRequest(spec=spec, seed=1, format=TINY, duration_s=0.25)
        frames[shot.id] = render(r, tmp_path / shot.id)[1][0]
    d, n = frames[day.id], frames[night.id]
    assert lum(n).mean() < 0.75 * lum(d).mean() and blue_red(n) > 1.15 * blue_red(d)
    assert shots[-1].transition.kind.value == "fade"  # FADE OUT. is on the last shot
    from studio_kit.engines.local import Renderer

    fog = Renderer(EngineRequest(spec=p.resolve_shot("01", night.id), seed=1, format=TINY))
    assert fog.atm_kind.value == "fog" and fog.fog_k > 0.1
    a, _ = render(EngineRequest(spec=p.resolve_shot("01", day.id), seed=1, format=TINY,
                                duration_s=0.25), tmp_path / "again")
    b, _ = render(EngineRequest(spec=p.resolve_shot("01", night.id), seed=1, format=TINY,
                                duration_s=0.25), tmp_path / "again2")
    assert a != b


def test_fade_out_fades_the_sound_with_the_picture() -> None:
    from studio_kit.pipeline.conform import conform

    sr = 48000
    x = np.full((2 * sr, 2), 0.25, np.float32)
    spans = [("s0", 0.0, 2.0)]
    plain = conform(x, spans, {"s0": 0.0}, 2.0, sr)
    faded = conform(x, spans, {"s0": 0.0}, 2.0, sr, fade_out_s=0.5)
    assert np.array_equal(plain[: int(1.5 * sr)], faded[: int(1.5 * sr)])
    assert abs(faded[-1]).max() < 1e-6 < abs(plain[-1]).min()
    assert 0.05 < abs(faded[int(1.75 * sr)]).max() < 0.2  # a ramp


def test_the_action_moves_the_people_it_names() -> None:
    from studio_kit.engines.local import Renderer

    cast = [person("ana"), person("ben")]
    r = Renderer(req(chars=cast, action="Ana walks to the boat.", seconds=2.0))
    ana, ben = r.figures
    assert abs(ana.x_at(2.0) - ana.x_at(0.0)) > 0.3
    assert abs(ben.x_at(2.0) - ben.x_at(0.0)) < 0.05  # only his idle sway
    both = Renderer(req(chars=cast, action="Both freeze.", seconds=2.0))
    assert all(f.still for f in both.figures)  # no one named: the action is everyone's
