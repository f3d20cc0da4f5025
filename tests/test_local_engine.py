"""The local engine's picture follows the spec, frame by frame (tiny frames, real encodes)."""

from __future__ import annotations

import asyncio
import colorsys
import hashlib
import time
from pathlib import Path

import av
import numpy as np
import pytest

from studio_kit.engines.base import (
    Drift,
    EngineRequest,
    RenderFormat,
    ResolvedCharacter,
    ShotSpec,
)
from studio_kit.engines.local import (
    LocalEngine,
    contact_sheet,
    figure_regions,
    frame_at,
    preview_frame,
    preview_png,
    render_frames,
    scene_preview_spec,
)
from studio_kit.errors import EngineError, StudioError
from studio_kit.models import (
    Camera,
    CastMember,
    Character,
    DialogueLine,
    Garment,
    Outfit,
    Scene,
    Shot,
    Wardrobe,
)
from studio_kit.registry import ENGINES
from studio_kit.store.vault import Vault

FMT = RenderFormat(width=320, height=180, fps=24.0)
TINY = RenderFormat(width=160, height=90, fps=24.0)
GREEN = "#20b040"


def character(cid: str = "ana", top: str = GREEN, legs: str = "#302060",
              hair: str = "#8c2f1b", style: str = "short") -> Character:
    garments = [Garment(name="top", kind="top", colours=[top]),
                Garment(name="trousers", kind="trousers", colours=[legs]),
                Garment(name="shoes", kind="shoes", colours=["#202020"])]
    return Character(id=cid, name=cid.title(),
                     appearance={"hair_colour": hair, "hair_style": style},
                     wardrobe=Wardrobe(outfits={"default": Outfit(garments=garments)}))


def scene(**kw) -> Scene:
    data = dict(id="room", name="ROOM", interior=True, palette=["#b0a898", "#6b5a4a"],
                set_layout=[
                    {"name": "near", "kind": "person", "x": 0.5, "depth": 0.5},
                    {"name": "far", "kind": "person", "x": 0.7, "depth": 0.95},
                    {"name": "front", "kind": "person", "x": 0.3, "depth": 0.1},
                    {"name": "table", "kind": "prop", "prop": "table", "x": 0.25,
                     "depth": 0.6, "colour": "#7a5230"},
                    {"name": "door", "kind": "prop", "prop": "door", "x": 0.8, "depth": 0.9,
                     "colour": "#3f5f4f"},
                ],
                lighting={"key": "front", "fill_ratio": 2.0, "colour_temperature_k": 6500},
                time_of_day="day")
    data.update(kw)
    return Scene.model_validate(data)


def request(*, chars: list[tuple[Character, str]] | None = None, angle: str = "medium",
            move: dict | None = None, duration: float = 1.0, fmt: RenderFormat = FMT,
            seed: int = 0, drift: Drift | None = None, dialogue: list[DialogueLine] = (),
            subject: str | None = None, visemes=None, **scene_kw) -> EngineRequest:
    chars = [(character(), "near")] if chars is None else chars
    sc = scene(**scene_kw)
    shot = Shot(id="t1", scene=sc.id,
                characters=[CastMember(character=c.id, mark=m) for c, m in chars],
                camera=Camera(angle=angle, movement=move or {}, subject=subject),
                dialogue=list(dialogue), duration_s=duration)
    rcs = [ResolvedCharacter(character=c, outfit_id="default",
                             garments=c.wardrobe.outfits["default"].garments, mark=m)
           for c, m in chars]
    return EngineRequest(spec=ShotSpec(episode="01", shot=shot, scene=sc, characters=rcs),
                         seed=seed, format=fmt, drift=drift or Drift(), visemes=visemes)


def lum(img: np.ndarray) -> np.ndarray:
    f = img.astype(np.float64)
    return 0.2126 * f[..., 0] + 0.7152 * f[..., 1] + 0.0722 * f[..., 2]


def crop(img: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    assert x1 > x0 and y1 > y0, box
    return img[y0:y1, x0:x1]


def shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(dx, dy) by phase correlation: content of ``a`` moved by (dx, dy) in ``b``."""
    fa = np.fft.fft2(lum(a) - lum(a).mean())
    fb = np.fft.fft2(lum(b) - lum(b).mean())
    r = np.conj(fa) * fb
    corr = np.fft.ifft2(r / (np.abs(r) + 1e-9)).real
    dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
    h, w = corr.shape
    return (int(dx - w if dx > w // 2 else dx), int(dy - h if dy > h // 2 else dy))


def frames_hash(req: EngineRequest) -> str:
    h = hashlib.sha256()
    for fr in render_frames(req):
        h.update(fr.tobytes())
    return h.hexdigest()


def near_colour_count(img: np.ndarray, hex_colour: str, tol: float = 60) -> int:
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], float)
    # compare chromaticity-ish: direction of the colour, robust to shading
    f = img.astype(float)
    d = np.linalg.norm(f / (f.sum(-1, keepdims=True) + 1) - target / target.sum(), axis=-1)
    return int((d < tol / 1000).sum())


# -- registry and geometry contract -----------------------------------------------------
def test_registered_as_local() -> None:
    eng = ENGINES.get("local")
    assert eng is LocalEngine
    assert LocalEngine.capabilities.price_per_second == 0
    assert not LocalEngine.capabilities.paid


def test_figure_regions_contract() -> None:
    req = request()
    reg = figure_regions(req, "ana", 0.0)
    for key in ("figure", "hair", "face", "eyes", "mouth", "torso", "legs", "shoes"):
        x0, y0, x1, y1 = reg[key]
        assert 0 <= x0 <= x1 <= FMT.width and 0 <= y0 <= y1 <= FMT.height, key
    assert reg["hair"][1] < reg["mouth"][1] < reg["torso"][3]
    assert reg["face"][1] <= reg["mouth"][1] and reg["mouth"][3] <= reg["face"][3]
    with pytest.raises(EngineError, match="not in shot"):
        figure_regions(req, "nobody", 0.0)


# -- lighting ----------------------------------------------------------------------------
@pytest.mark.parametrize("key,brighter", [("left", "left"), ("right", "right"),
                                          ("front_left", "left")])
def test_key_light_side_is_brighter(key: str, brighter: str) -> None:
    req = request(lighting={"key": key, "fill_ratio": 4.0, "colour_temperature_k": 6500})
    img = frame_at(req, 0.0)
    for part in ("torso", "face"):
        region = lum(crop(img, figure_regions(req, "ana", 0.0)[part]))
        w = region.shape[1]
        left, right = region[:, : w // 2].mean(), region[:, w - w // 2:].mean()
        assert (left > right * 1.15) if brighter == "left" else (right > left * 1.15), \
            (part, left, right)


def test_fill_ratio_deepens_shadows() -> None:
    def spread(ratio: float) -> float:
        req = request(lighting={"key": "left", "fill_ratio": ratio,
                                "colour_temperature_k": 6500})
        region = lum(crop(frame_at(req, 0.0), figure_regions(req, "ana", 0.0)["torso"]))
        w = region.shape[1]
        return region[:, : w // 4].mean() / max(region[:, -w // 4:].mean(), 1.0)

    assert spread(16.0) > spread(2.0) * 1.3


def test_3200k_renders_warmer_than_6500k() -> None:
    def rb(k: int) -> float:
        img = frame_at(request(lighting={"key": "front", "fill_ratio": 2.0,
                                         "colour_temperature_k": k}), 0.0).astype(float)
        return img[..., 0].mean() / img[..., 2].mean()

    warm, neutral, cool = rb(3200), rb(6500), rb(10000)
    assert warm > neutral * 1.2 and neutral > cool * 1.05


def test_time_of_day_night_is_darker() -> None:
    day = lum(frame_at(request(interior=False, time_of_day="day"), 0.0)).mean()
    night = lum(frame_at(request(interior=False, time_of_day="night"), 0.0)).mean()
    assert night < day * 0.6


# -- characters ---------------------------------------------------------------------------
@pytest.mark.parametrize("top", [GREEN, "#c02020", "#2040c0"])
def test_garment_colour_in_torso_region(top: str) -> None:
    req = request(chars=[(character(top=top), "near")])
    img = frame_at(req, 0.0)
    region = crop(img, figure_regions(req, "ana", 0.0)["torso"]).reshape(-1, 3) / 255.0
    want_h = colorsys.rgb_to_hsv(*(int(top[i:i + 2], 16) / 255 for i in (1, 3, 5)))[0]
    hues = np.array([colorsys.rgb_to_hsv(*px)[0] for px in region[:: max(1, len(region) // 400)]])
    dist = np.minimum(abs(hues - want_h), 1 - abs(hues - want_h))
    assert np.median(dist) < 0.04, (top, np.median(dist))


def test_hair_and_legs_colours_in_their_regions() -> None:
    req = request(angle="full", chars=[(character(hair="#d02020", legs="#2030c0"), "near")])
    img = frame_at(req, 0.0).astype(float)
    reg = figure_regions(req, "ana", 0.0)
    hair = crop(img, reg["hair"]).reshape(-1, 3).mean(0)
    legs = crop(img, reg["legs"]).reshape(-1, 3).mean(0)
    assert hair[0] > hair[2] * 1.5
    assert legs[2] > legs[0] * 1.3


def test_taller_character_is_taller() -> None:
    tall = character("tall")
    tall.appearance.height_cm = 195
    short = character("short")
    short.appearance.height_cm = 150
    req = request(angle="wide", chars=[(tall, "near"), (short, "far")])
    sc = req.spec.scene.model_copy(update={"set_layout": [
        m if m.name != "far" else m.model_copy(update={"depth": 0.5})
        for m in req.spec.scene.set_layout]})
    req = req.model_copy(update={"spec": req.spec.model_copy(update={"scene": sc})})
    ht = figure_regions(req, "tall", 0.0)["figure"]
    hs = figure_regions(req, "short", 0.0)["figure"]
    assert (ht[3] - ht[1]) > (hs[3] - hs[1]) * 1.2


def _dark_fraction(img: np.ndarray, box) -> float:
    region = crop(img, box).astype(float)
    return float((region.max(-1) < 70).mean())


def test_mouth_opens_with_visemes() -> None:
    fracs = {}
    for vis in ("rest", "cdg", "e", "ai"):
        req = request(angle="close_up", visemes=[(0.0, vis)])
        img = frame_at(req, 0.2)
        fracs[vis] = _dark_fraction(img, figure_regions(req, "ana", 0.2)["mouth"])
    assert fracs["rest"] < 0.1
    assert fracs["rest"] < fracs["cdg"] < fracs["e"] < fracs["ai"]
    assert fracs["ai"] > 0.35


def test_mouth_follows_dialogue_text_without_visemes() -> None:
    line = DialogueLine(character="ana", text="Mara? Are you up there? Hello again.")
    req = request(angle="close_up", duration=3.0, dialogue=[line])
    box = figure_regions(req, "ana", 0.0)["mouth"]
    opens = [_dark_fraction(frame_at(req, t), box) for t in np.arange(0.0, 3.0, 0.1)]
    assert opens[0] < 0.1  # before the first word
    assert max(opens) > 0.3 and sum(o > 0.2 for o in opens) >= 5


def test_blinks() -> None:
    from studio_kit.engines.local import Renderer

    req = request(angle="close_up", duration=6.0)
    r = Renderer(req)
    t_blink = float(r.figures[0].blinks[0]) + 0.05
    box = figure_regions(req, "ana", 0.0)["eyes"]
    open_ = (lum(crop(frame_at(req, 0.0), box)) > 190).mean()  # the whites of the eyes
    closed = (lum(crop(frame_at(req, t_blink), box)) > 190).mean()
    assert open_ > 0.2 and closed < 0.02, (open_, closed)


# -- atmosphere -----------------------------------------------------------------------------
def test_fog_lowers_contrast_with_depth() -> None:
    dark = character("dark", top="#151515", legs="#151515")
    dark2 = character("dark2", top="#151515", legs="#151515")

    def contrasts(atm: dict) -> tuple[float, float]:
        req = request(angle="extreme_wide", chars=[(dark, "front"), (dark2, "far")],
                      atmosphere=atm)
        img = lum(frame_at(req, 0.0))
        out = []
        for cid in ("dark", "dark2"):
            x0, y0, x1, y1 = figure_regions(req, cid, 0.0)["torso"]
            torso = img[y0:y1, x0:x1].mean()
            w = x1 - x0
            beside = img[y0:y1, x1 + w: x1 + 2 * w].mean()
            out.append(abs(beside - torso))
        return out[0], out[1]

    near_clear, far_clear = contrasts({"kind": "clear", "density": 0.0})
    near_fog, far_fog = contrasts({"kind": "fog", "density": 0.9})
    assert far_fog < near_fog * 0.6  # far loses more contrast than near
    assert far_fog < far_clear * 0.6
    assert far_fog / near_fog < far_clear / near_clear


@pytest.mark.parametrize("kind", ["rain", "snow", "smoke", "dust", "haze"])
def test_atmospheres_change_the_picture(kind: str) -> None:
    clear = frame_at(request(atmosphere={"kind": "clear", "density": 0}), 0.5).astype(float)
    other = frame_at(request(atmosphere={"kind": kind, "density": 0.8}), 0.5).astype(float)
    assert np.abs(clear - other).mean() > 1.0


def test_rain_falls() -> None:
    req = request(chars=[], atmosphere={"kind": "rain", "density": 1.0})
    a, b = frame_at(req, 0.0), frame_at(req, 0.02)
    assert not np.array_equal(a, b)


# -- camera -------------------------------------------------------------------------------
def test_close_up_figure_larger_than_wide() -> None:
    sizes = {}
    for angle in ("extreme_wide", "wide", "full", "medium", "close_up", "extreme_close_up"):
        x0, y0, x1, y1 = figure_regions(request(angle=angle), "ana", 0.0)["face"]
        sizes[angle] = y1 - y0
    order = ["extreme_wide", "wide", "full", "medium", "close_up", "extreme_close_up"]
    assert all(sizes[a] < sizes[b] for a, b in zip(order, order[1:], strict=False)), sizes


def test_all_twelve_angles_render() -> None:
    from studio_kit.models import CameraAngle

    other = character("ben", top="#c02020")
    seen = set()
    for angle in CameraAngle:
        img = frame_at(request(angle=angle.value, chars=[(character(), "near"),
                                                         (other, "far")], subject="ana"), 0.0)
        assert img.shape == (FMT.height, FMT.width, 3)
        seen.add(hashlib.sha256(img.tobytes()).hexdigest())
    assert len(seen) == 12


def test_over_the_shoulder_has_foreground_shoulder() -> None:
    other = character("ben", top="#c02020")
    req = request(angle="over_the_shoulder", chars=[(character(), "near"), (other, "far")],
                  subject="ana")
    fg = figure_regions(req, "ben", 0.0)
    subj = figure_regions(req, "ana", 0.0)
    assert fg["torso"][0] == 0 and fg["torso"][3] == FMT.height  # bottom-left foreground
    assert (subj["face"][0] + subj["face"][2]) / 2 > FMT.width * 0.55


def test_high_and_low_angle_move_the_horizon() -> None:
    def horizon_row(angle: str) -> int:
        req = request(angle=angle, chars=[(character(), "near")],
                      interior=False)
        col = frame_at(req, 0.0)[:, 3].astype(float)
        return int(np.argmax(np.abs(np.diff(lum(col[None])[0]))))

    assert horizon_row("high_angle") < horizon_row("medium") < horizon_row("low_angle")


@pytest.mark.parametrize("direction,sign", [("right", -1), ("left", 1)])
def test_pan_shifts_content(direction: str, sign: int) -> None:
    req = request(chars=[], angle="wide", move={"type": "pan", "direction": direction,
                                                "speed": 0.3}, duration=1.0)
    dx, dy = shift(frame_at(req, 0.0), frame_at(req, 1.0))
    assert dx * sign > 5 and abs(dy) <= 2


@pytest.mark.parametrize("direction,sign", [("up", 1), ("down", -1)])
def test_tilt_shifts_content(direction: str, sign: int) -> None:
    req = request(chars=[], angle="wide", move={"type": "tilt", "direction": direction,
                                                "speed": 0.3}, duration=1.0)
    dx, dy = shift(frame_at(req, 0.0), frame_at(req, 1.0))
    assert dy * sign > 5 and abs(dx) <= 2


def test_truck_has_parallax() -> None:
    chars = [(character("front_guy"), "front"), (character("back_guy"), "far")]
    req = request(chars=chars, angle="extreme_wide",
                  move={"type": "truck", "direction": "right", "speed": 0.6})
    moved = {}
    for cid in ("front_guy", "back_guy"):
        a = figure_regions(req, cid, 0.0)["figure"]
        b = figure_regions(req, cid, 1.0)["figure"]
        moved[cid] = (b[0] + b[2]) / 2 - (a[0] + a[2]) / 2
    assert moved["front_guy"] < moved["back_guy"] < 0  # both go left, the near one more
    assert abs(moved["front_guy"]) > 1.5 * abs(moved["back_guy"])
    # and the pixels agree: the near figure's green torso moved left
    def green_x(img):
        f = img.astype(float)
        m = (f[..., 1] > f[..., 0] * 1.4) & (f[..., 1] > f[..., 2] * 1.4)
        return np.nonzero(m)[1].min()
    assert green_x(frame_at(req, 1.0)) < green_x(frame_at(req, 0.0)) - 3


def test_crane_up_moves_content_down_with_parallax() -> None:
    chars = [(character("front_guy"), "front"), (character("back_guy"), "far")]
    req = request(chars=chars, angle="extreme_wide",
                  move={"type": "crane", "direction": "up", "speed": 0.6})
    d = {}
    for cid in ("front_guy", "back_guy"):
        a = figure_regions(req, cid, 0.0)["figure"]
        b = figure_regions(req, cid, 1.0)["figure"]
        d[cid] = b[3] - a[3]
    assert d["front_guy"] > d["back_guy"] > 0


@pytest.mark.parametrize("move", ["dolly", "zoom"])
def test_dolly_and_zoom_in_grow_the_subject(move: str) -> None:
    for direction, bigger in (("in", True), ("out", False)):
        req = request(angle="medium_wide", move={"type": move, "direction": direction,
                                                 "speed": 0.6}, duration=1.0)
        heights = []
        greens = []
        for t in (0.0, 0.5, 1.0):
            x0, y0, x1, y1 = figure_regions(req, "ana", t)["torso"]
            heights.append(x1 - x0)  # width: a zoom about the centre crops the head
            greens.append(near_colour_count(frame_at(req, t), GREEN))
        if bigger:
            assert heights[0] < heights[1] < heights[2] and greens[0] < greens[2] * 0.85
        else:
            assert heights[0] > heights[1] > heights[2] and greens[0] * 0.85 > greens[2]


def test_dolly_differs_from_zoom_by_parallax() -> None:
    chars = [(character("ana"), "near"), (character("bob", top="#c02020"), "far")]
    ratios = {}
    for move in ("dolly", "zoom"):
        req = request(chars=chars, subject="ana", angle="wide",
                      move={"type": move, "direction": "in", "speed": 0.8})
        g = {}
        for cid in ("ana", "bob"):
            a, b = figure_regions(req, cid, 0.0)["figure"], figure_regions(req, cid, 1.0)["figure"]
            g[cid] = (b[3] - b[1]) / (a[3] - a[1])
        ratios[move] = g["ana"] / g["bob"]
    assert ratios["dolly"] > ratios["zoom"] + 0.1  # near grows faster than far only in a dolly


def test_handheld_shakes_and_static_does_not() -> None:
    static = request(chars=[], angle="wide")
    assert np.array_equal(frame_at(static, 0.0), frame_at(static, 0.9))
    hand = request(chars=[], angle="wide", move={"type": "handheld", "speed": 1.0})
    shifts = [shift(frame_at(hand, 0.0), frame_at(hand, t)) for t in (0.3, 0.6, 0.9)]
    assert any(s != (0, 0) for s in shifts)
    assert all(abs(dx) < 40 and abs(dy) < 40 for dx, dy in shifts)


# -- determinism and drift ------------------------------------------------------------------
def test_deterministic_frames_and_seed_matters() -> None:
    kw = dict(fmt=TINY, duration=0.5, atmosphere={"kind": "rain", "density": 0.8},
              move={"type": "handheld", "speed": 0.5})
    a = frames_hash(request(seed=7, **kw))
    assert a == frames_hash(request(seed=7, **kw))
    assert a != frames_hash(request(seed=8, **kw))


def test_seed_varies_even_a_plain_shot() -> None:
    plain = dict(fmt=TINY, duration=0.25)
    assert frames_hash(request(seed=1, **plain)) == frames_hash(request(seed=1, **plain))
    assert frames_hash(request(seed=1, **plain)) != frames_hash(request(seed=2, **plain))


def test_drift_zero_is_identical() -> None:
    base = frame_at(request(angle="close_up"), 0.0)
    zero = frame_at(request(angle="close_up", drift=Drift(amount=0.0)), 0.0)
    assert np.array_equal(base, zero)


def _diff_in(kind: str, amount: float, part: str) -> float:
    req0 = request(angle="medium_close_up")
    req = request(angle="medium_close_up", drift=Drift(amount=amount, kinds=[kind]))
    a = frame_at(req0, 0.0).astype(float)
    b = frame_at(req, 0.0).astype(float)
    box = figure_regions(req0, "ana", 0.0)[part]
    return float(np.abs(crop(a, box) - crop(b, box)).mean())


@pytest.mark.parametrize("kind,part", [("hair_hue", "hair"), ("garment_hue", "torso"),
                                       ("face", "face"), ("light_direction", "torso"),
                                       ("colour_temperature", "figure")])
def test_drift_is_visible_and_proportional(kind: str, part: str) -> None:
    small, big = _diff_in(kind, 0.3, part), _diff_in(kind, 0.9, part)
    assert small > 1.0 and big > small * 1.4, (kind, small, big)


def test_drift_only_touches_its_kind() -> None:
    assert _diff_in("hair_hue", 1.0, "torso") < 0.5
    assert _diff_in("garment_hue", 1.0, "face") < 0.5


def test_face_drift_changes_proportions() -> None:
    a = figure_regions(request(angle="close_up"), "ana", 0.0)
    b = figure_regions(request(angle="close_up", drift=Drift(amount=1.0, kinds=["face"])),
                       "ana", 0.0)
    wa, wb = a["face"][2] - a["face"][0], b["face"][2] - b["face"][0]
    assert wb > wa * 1.2


# -- errors -------------------------------------------------------------------------------
def _vault_files(v: Vault) -> list[Path]:
    return [p for p in v.root.rglob("*") if p.is_file()] if v.root.exists() else []


@pytest.mark.parametrize("case", ["scene", "character", "long", "zero", "negative", "odd",
                                  "huge", "fps", "mark", "subject", "viseme", "drift"])
def test_bad_requests_fail_clearly_and_write_nothing(case: str, tmp_path: Path) -> None:
    req = request(fmt=TINY)
    spec = req.spec
    if case == "scene":
        req = req.model_copy(update={"spec": spec.model_copy(
            update={"shot": spec.shot.model_copy(update={"scene": "attic"})})})
    elif case == "character":
        req = req.model_copy(update={"spec": spec.model_copy(update={"characters": []})})
    elif case == "long":
        req = req.model_copy(update={"duration_s": 500.0})
    elif case == "zero":
        req = req.model_copy(update={"duration_s": 0.0})
    elif case == "negative":
        req = req.model_copy(update={"duration_s": -1.0})
    elif case == "odd":
        req = req.model_copy(update={"format": RenderFormat(width=161, height=90)})
    elif case == "huge":
        req = req.model_copy(update={"format": RenderFormat(width=8000, height=4500)})
    elif case == "fps":
        req = req.model_copy(update={"format": RenderFormat(width=160, height=90, fps=17)})
    elif case == "mark":
        rc = spec.characters[0].model_copy(update={"mark": "balcony"})
        req = req.model_copy(update={"spec": spec.model_copy(update={"characters": [rc]})})
    elif case == "subject":
        req = request(fmt=TINY, subject="ghost")
    elif case == "viseme":
        req = req.model_copy(update={"visemes": [(0.0, "yawn")]})
    elif case == "drift":
        req = req.model_copy(update={"drift": Drift(amount=0.5, kinds=["nose_length"])})
    vault = Vault(tmp_path / "vault")
    with pytest.raises(EngineError) as err:
        asyncio.run(LocalEngine().generate(req, vault))
    text = str(err.value)
    assert len(text) > 20 and ("hint" in text or case in ("scene",))
    assert _vault_files(vault) == []


# -- encoding -----------------------------------------------------------------------------
def test_encoded_clip_for_assembly(tmp_path: Path, artifacts_dir: Path) -> None:
    req = request(fmt=TINY, duration=0.5, move={"type": "pan", "direction": "right"})
    vault = Vault(tmp_path / "vault")
    seen: list[float] = []
    res = asyncio.run(LocalEngine().generate(req, vault, progress=seen.append))
    assert res.cost == 0 and res.engine == "local" and res.metadata["frames"] == 12
    assert res.metadata["seed"] == 0 and res.metadata["drift"]["amount"] == 0
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    path = vault.get(res.asset)
    (artifacts_dir / "local_engine_pan.mp4").write_bytes(path.read_bytes())
    with av.open(str(path)) as box:
        st = box.streams.video[0]
        assert st.codec_context.name == "h264"
        assert (st.width, st.height) == (160, 90)
        assert float(st.average_rate) == 24.0
        assert st.codec_context.pix_fmt == "yuv420p"
        packets = [p for p in box.demux(st) if p.size]
        assert len(packets) == 12
        assert packets[0].is_keyframe and packets[0].pts == 0
        assert sum(p.is_keyframe for p in packets) == 1  # GOP 48 > 12 frames
    with av.open(str(path)) as box:
        decoded = [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]
    assert len(decoded) == 12
    for i in (0, 11):
        mse = np.mean((decoded[i].astype(float) - frame_at(req, i / 24).astype(float)) ** 2)
        assert 10 * np.log10(255 ** 2 / max(mse, 1e-9)) > 28  # decoded matches rendered
    # same request -> same bytes (the vault deduplicates identical renders)
    res2 = asyncio.run(LocalEngine().generate(req, vault))
    assert res2.asset == res.asset


def test_two_shots_share_encode_parameters(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "vault")
    a = asyncio.run(LocalEngine().generate(request(fmt=TINY, duration=0.25), vault))
    b = asyncio.run(LocalEngine().generate(request(fmt=TINY, duration=0.5, angle="close_up"),
                                           vault))
    assert a.metadata["encode_args"] == b.metadata["encode_args"]
    for res in (a, b):
        with av.open(str(vault.get(res.asset))) as box:
            cc = box.streams.video[0].codec_context
            assert (cc.profile, cc.pix_fmt) == ("High", "yuv420p")
            assert cc.extradata is not None



def test_encoder_threads_do_not_change_bytes_and_parameter_sets_match_veryfast(
        tmp_path: Path) -> None:
    """x264 output depends on its thread count, so it is fixed: asking ffmpeg for more
    (filter) threads gives the same bytes; and the speed settings (``x264_extra``) keep the
    SPS/PPS of the same parameters without them, so they cost nothing in compatibility."""
    from dataclasses import replace

    from studio_kit.engines.local import LOCAL_H264, encode_args, encode_stream
    from studio_kit.video_encoding import h264_args

    args = encode_args(TINY)
    assert args[args.index("-threads") + 1] == "1" and LOCAL_H264.x264_extra
    req = request(fmt=TINY, duration=0.5, move={"type": "pan", "direction": "right"})
    frames = list(render_frames(req))
    plain = h264_args(TINY.fps, params=replace(LOCAL_H264, x264_extra=""))
    outs = {}
    for name, threads, params in (("one", None, None), ("two", 2, None),
                                  ("plain", None, plain)):
        outs[name] = tmp_path / f"{name}.mp4"
        assert encode_stream(iter(frames), outs[name], req.format, threads=threads,
                             params=params) == len(frames)
    assert outs["one"].read_bytes() == outs["two"].read_bytes()
    assert outs["one"].read_bytes() != outs["plain"].read_bytes()
    extradata = []
    for name in ("one", "plain"):
        with av.open(str(outs[name])) as box:
            extradata.append(bytes(box.streams.video[0].codec_context.extradata))
    assert extradata[0] == extradata[1]


# -- previews and sheets --------------------------------------------------------------------
def test_scene_preview_is_fast_and_follows_overrides(sample_project) -> None:
    spec = scene_preview_spec(sample_project, "harbour_cafe")
    preview_frame(spec)  # warm up (first use imports colour-science)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        img = preview_frame(spec)
        times.append(time.perf_counter() - t0)
    assert img.shape == (360, 640, 3) and img.dtype == np.uint8
    assert min(times) < 1.0, times  # typically 0.03-0.05 s on an idle core
    left = preview_frame(spec, overrides={"lighting.key": "left", "lighting.fill_ratio": 8})
    right = preview_frame(spec, overrides={"lighting.key": "right", "lighting.fill_ratio": 8})
    assert not np.array_equal(left, right)
    warm = preview_frame(spec, overrides={"lighting.colour_temperature_k": 3000}).astype(float)
    assert warm[..., 0].mean() / warm[..., 2].mean() > \
        img[..., 0].mean() / img[..., 2].astype(float).mean()
    night = preview_frame(spec, overrides={"time_of_day": "night", "interior": False})
    assert lum(night).mean() < lum(img).mean()
    png = preview_png(spec)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(StudioError, match="override"):
        preview_frame(spec, overrides={"lighting.fill_ratio": 99})
    with pytest.raises(StudioError, match="unknown scene"):
        scene_preview_spec(sample_project, "moon_base")


def test_shot_preview_matches_render(sample_project) -> None:
    spec = sample_project.resolve_shot("01", "s02-cliff-mara")
    img = preview_frame(spec, 1.0, format=TINY, seed=3)
    req = EngineRequest(spec=spec, format=TINY, seed=3)
    assert np.array_equal(img, frame_at(req, 1.0))


def test_sample_series_contact_sheet(sample_project, artifacts_dir: Path) -> None:
    import io

    from PIL import Image

    sb = sample_project.storyboard("01")
    frames, labels = [], []
    for shot in sb.shots:
        spec = sample_project.resolve_shot("01", shot.id)
        req = EngineRequest(spec=spec, format=FMT)
        frames.append(frame_at(req, shot.duration_s / 2))
        labels.append(shot.id)
    png = contact_sheet(frames, cols=4, thumb_width=160, labels=labels)
    (artifacts_dir / "local_engine_sample_sheet.png").write_bytes(png)
    im = Image.open(io.BytesIO(png))
    assert im.size[0] == 4 * 164 + 4 and im.size[1] > 3 * 90
    assert len({hashlib.sha256(f.tobytes()).hexdigest() for f in frames}) == len(frames)


def test_cli_render_shot_and_preview(sample_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    from studio_kit.cli import main

    out = tmp_path / "s02.mp4"
    rc = main(["render-shot", str(sample_dir), "01", "s02-cliff-mara", "-o", str(out),
               "--width", "160", "--height", "90"])
    assert rc == 0 and out.is_file()
    with av.open(str(out)) as box:
        st = box.streams.video[0]
        assert (st.width, st.height) == (160, 90) and st.frames == 72
    sheet = contact_sheet(out, cols=3)
    assert Image.open(__import__("io").BytesIO(sheet)).size[0] == 3 * 324 + 4
    png = tmp_path / "p.png"
    assert main(["preview", str(sample_dir), "--scene", "lamp_room", "-o", str(png)]) == 0
    assert Image.open(png).size == (640, 360)
    assert main(["preview", str(sample_dir), "--scene", "nowhere", "-o", str(png)]) == 2
    assert main(["render-shot", str(sample_dir), "01", "nope", "-o", str(out)]) == 2


def test_cli_renders_whole_sample_episode_with_contact_sheet(sample_dir: Path,
                                                              artifacts_dir: Path) -> None:
    from PIL import Image

    from studio_kit.cli import main

    out = sample_dir / "renders" / "01"
    assert main(["render-shot", str(sample_dir), "01", "all", "-o", str(out),
                 "--width", "64", "--height", "36"]) == 0
    clips = sorted(out.glob("*.mp4"))
    assert len(clips) == 10
    sheet = out / "contact_sheet.png"
    assert Image.open(sheet).size == (4 * 324 + 4, 3 * (180 + 16 + 4) + 4)
    (artifacts_dir / "local_engine_episode01_sheet.png").write_bytes(sheet.read_bytes())
    with av.open(str(clips[0])) as box:
        packets = [p for p in box.demux(video=0) if p.size]
        assert packets[0].is_keyframe


def test_viseme_track_goes_to_the_speaker_and_dual_lines_overlap() -> None:
    ben = character("ben", top="#c02020")
    chars = [(character(), "near"), (ben, "front")]
    lines = [DialogueLine(character="ben", text="Open wide, all of you."),
             DialogueLine(character="ana", text="Aha, aha, aha!", dual=True)]
    req = request(chars=chars, angle="wide", duration=2.0, dialogue=lines,
                  fmt=RenderFormat(width=640, height=360))
    from studio_kit.engines.local import Renderer

    r = Renderer(req)
    tracks = {f.id: f.visemes for f in r.figures}
    assert tracks["ana"][0][0] == tracks["ben"][0][0]  # dual: both start together
    req2 = request(chars=chars, angle="wide", dialogue=lines[:1], visemes=[(0.0, "ai")])
    r2 = Renderer(req2)
    assert {f.id: bool(f.visemes) for f in r2.figures} == {"ana": False, "ben": True}
    req3 = req2.model_copy(update={"options": {"viseme_character": "ana"}})
    assert {f.id: bool(f.visemes) for f in Renderer(req3).figures} == {"ana": True,
                                                                      "ben": False}


@pytest.mark.parametrize("kelvin,atm", [(1500, "clear"), (12000, "snow"), (2000, "smoke")])
def test_canvas_stays_in_range_without_a_clip(kelvin: int, atm: str) -> None:
    from studio_kit.engines.local import Renderer

    white = character("white", top="#ffffff", legs="#ffffff", hair="#ffffff")
    for interior in (True, False):
        req = request(chars=[(white, "near")], angle="wide", interior=interior,
                      palette=["#ffffff", "#ffffff"],
                      lighting={"key": "front", "fill_ratio": 1.0,
                                "colour_temperature_k": kelvin},
                      atmosphere={"kind": atm, "density": 1.0})
        img = Renderer(req).frame_float(0.3)
        assert img.min() >= 0.0 and img.max() < 256.0


@pytest.mark.heavy
def test_heavy_sample_episode_at_360p(sample_project, tmp_path: Path) -> None:
    """Every sample shot rendered and encoded at 640x360 (run with -m heavy)."""
    vault = Vault(tmp_path / "vault")
    fmt = RenderFormat(width=640, height=360, fps=24.0)
    for shot in sample_project.storyboard("01").shots:
        spec = sample_project.resolve_shot("01", shot.id)
        res = asyncio.run(LocalEngine().generate(EngineRequest(spec=spec, format=fmt), vault))
        assert res.metadata["frames"] == round(shot.duration_s * 24)
        with av.open(str(vault.get(res.asset))) as box:
            assert box.streams.video[0].frames == res.metadata["frames"]


def test_memory_is_flat_as_shots_get_longer(tmp_path: Path) -> None:
    import tracemalloc

    def peak(seconds: float) -> int:
        vault = Vault(tmp_path / f"v{seconds}")
        req = request(fmt=RenderFormat(width=320, height=180, fps=24.0), duration=seconds,
                      move={"type": "pan", "direction": "left"})
        frame_at(req, 0.0)  # imports (colour-science) before tracing
        tracemalloc.start()
        LocalEngine().render(req, vault)
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return size

    short, long_ = peak(0.25), peak(2.0)  # 6 vs 48 frames (a frame is 0.7 MB as float32)
    assert long_ < short * 1.3 + 1_000_000, (short, long_)
    assert long_ < 20 * 320 * 180 * 3 * 4  # far below holding the frames


def test_scene_object_preview_for_unsaved_edits(sample_project) -> None:
    scene = sample_project.scenes["lamp_room"].model_copy(update={"id": "new_room"})
    img = preview_frame(scene_preview_spec(sample_project, scene), format=TINY)
    assert img.shape == (90, 160, 3)
    assert np.array_equal(img, preview_frame(scene, format=TINY))
