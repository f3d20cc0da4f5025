"""QC scorers on synthetic numpy frames (fast, no engine): technical checks, character
consistency and scene continuity, thresholds per tier, ledger records, plots."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

from studio_kit.engines.base import EngineRequest, RenderFormat
from studio_kit.qc.base import QCContext, ShotMedia, record_report, run_scorers
from studio_kit.qc.references import character_reference, scene_reference
from studio_kit.qc.thresholds import THRESHOLDS, passes, table_markdown
from studio_kit.registry import SCORERS

W, H = 320, 180


def rot(rgb, deg):
    h, s, v = colorsys.rgb_to_hsv(*(np.asarray(rgb) / 255.0))
    return np.array(colorsys.hsv_to_rgb((h + deg / 360) % 1, s, v)) * 255


def figure_frame(*, hair=(140, 47, 27), torso=(224, 176, 32), skin=(217, 164, 126),
                 face_w=1.0, eye_gap=1.0, light_x=-0.7, gains=(1.0, 1.0, 1.0), noise=0,
                 seed=0):
    """A wall and floor, one figure: torso (a shaded cylinder), head, hair cap, two eyes."""
    rng = np.random.default_rng(seed)
    img = np.zeros((H, W, 3))
    img[:110] = (120, 110, 100)
    img[110:] = (75, 64, 54)
    img[:110, ::40] *= 0.95
    cx = 160
    xs = np.arange(W)
    # torso: x 120..200, y 90..180, shaded across by the key light
    nx = np.clip((xs - cx) / 40.0, -1, 1)
    shade = np.clip((light_x * nx + 0.6 * np.sqrt(1 - nx ** 2) + 0.25) / 1.25, 0, 1) * 0.8 + 0.2
    img[90:180, 120:200] = np.asarray(torso)[None, None, :] * shade[None, 120:200, None]
    # head ellipse (skin) and hair cap
    yy, xx = np.mgrid[0:H, 0:W]
    rx, ry = 20 * face_w, 26
    head = ((xx - cx) / rx) ** 2 + ((yy - 55) / ry) ** 2 <= 1
    img[head] = skin
    cap = head & (yy < 40)
    img[cap] = hair
    side = ((xx - (cx + rx + 4)) / 6) ** 2 + ((yy - 50) / 16) ** 2 <= 1
    img[side] = hair
    for ex in (cx - 8 * eye_gap, cx + 8 * eye_gap):
        eye = ((xx - ex) / 3.5) ** 2 + ((yy - 52) / 2.5) ** 2 <= 1
        img[eye] = (245, 245, 245)
        iris = ((xx - ex) / 1.6) ** 2 + ((yy - 52) / 1.6) ** 2 <= 1
        img[iris] = (30, 60, 40)
    img *= np.asarray(gains)[None, None, :]
    if noise:
        img += rng.normal(0, noise, img.shape)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


REGIONS = {"figure": (118, 27, 202, 180), "hair": (138, 29, 194, 66),
           "face": (140, 29, 180, 81), "eyes": (148, 48, 172, 56),
           "mouth": (152, 66, 168, 72), "torso": (120, 90, 200, 180),
           "legs": (0, 0, 0, 0), "shoes": (0, 0, 0, 0)}


@pytest.fixture
def spec(sample_project):
    return sample_project.resolve_shot("01", "s02-cliff-mara")


def context(spec, frames, tier="standard", refs=True):
    media = ShotMedia.from_frames(np.stack(frames), fps=24)
    ref_frame = figure_frame()
    scene_ref = scene_reference(spec.scene.id, ref_frame, [REGIONS["figure"]]) if refs else None
    char_refs = {"mara": character_reference("mara", ref_frame, REGIONS)} if refs else {}
    return QCContext(spec=spec, media=media, tier=tier, regions=lambda cid, t: REGIONS,
                     character_refs=char_refs, scene_ref=scene_ref)


def scores(ctx, names=("character", "continuity")):
    report = run_scorers(ctx, list(names))
    return report, {s.metric: s for s in report.scores}


def test_registry_has_every_scorer():
    assert {"technical", "character", "continuity", "embedding", "lipsync", "vlm"} <= \
        set(SCORERS.names())


def test_faithful_shot_passes(spec):
    report, s = scores(context(spec, [figure_frame(noise=1.5, seed=i) for i in range(6)]))
    assert report.passed, report.summary()
    assert s["character.reference"].value < 3 and s["continuity.palette"].value < 3


@pytest.mark.parametrize("drift, metric", [
    ({"hair": rot((140, 47, 27), 60)}, "character.hue"),
    ({"torso": rot((224, 176, 32), 50)}, "character.hue"),
    ({"eye_gap": 1.45, "face_w": 1.25}, "character.face"),
    ({"light_x": 0.7}, "continuity.light_direction"),
    ({"gains": (0.85, 1.0, 1.2)}, "continuity.colour_temperature"),
])
def test_each_drift_is_caught_by_its_check(spec, drift, metric):
    report, s = scores(context(spec, [figure_frame(noise=1.5, seed=i, **drift)
                                      for i in range(6)]))
    assert not s[metric].passed, (metric, s[metric].value, s[metric].threshold)
    assert metric in {f.metric for f in report.failures}


def test_white_balance_is_not_blamed_on_the_character(spec):
    # a small white-balance change: continuity reads it, the character's colours do not move
    _, s = scores(context(spec, [figure_frame(gains=(0.93, 1.0, 1.08))] * 4))
    assert s["character.hue"].value < 5 and s["character.reference"].value < 4
    assert s["continuity.colour_temperature"].value > 3


def test_without_references_or_regions_scores_are_skipped(spec):
    ctx = context(spec, [figure_frame()] * 3, refs=False)
    report, s = scores(ctx)
    assert s["continuity.palette"].skipped and s["character.reference"].skipped
    assert report.passed
    ctx.regions = None
    _, s = scores(ctx, ["character"])
    assert all(v.skipped for v in s.values())


def test_tiers_are_ordered():
    for metric, (direction, t, _what) in THRESHOLDS.items():
        if direction == "max":
            assert t["draft"] >= t["standard"] >= t["premium"], metric
        else:
            assert t["draft"] <= t["standard"] <= t["premium"], metric
    assert passes("character.hue", 14, "standard")[0] and not passes("character.hue", 14,
                                                                      "premium")[0]
    assert "| character.hue | <= |" in table_markdown()


def _tech(spec, frames, **kw):
    ctx = context(spec, frames, refs=False)
    ctx.request = EngineRequest(spec=spec, format=RenderFormat(width=W, height=H, fps=24),
                                duration_s=len(frames) / 24, **kw)
    return scores(ctx, ["technical"])[1]


def test_technical_scores(spec):
    rng = np.random.default_rng(0)
    good = [figure_frame(noise=2, seed=i) for i in range(24)]
    s = _tech(spec, good)
    assert all(v.passed for v in s.values() if not v.skipped), \
        {k: (v.value, v.threshold) for k, v in s.items()}
    from scipy import ndimage

    blurred = [ndimage.uniform_filter(f.astype(float), size=(9, 9, 1)).astype(np.uint8)
               for f in good]
    assert not _tech(spec, blurred)["technical.sharpness"].passed
    flick = [np.clip(f.astype(int) + (40 if i % 3 == 0 else 0), 0, 255).astype(np.uint8)
             for i, f in enumerate(good)]
    assert not _tech(spec, flick)["technical.flicker"].passed
    black = [np.zeros_like(f) if i > 8 else f for i, f in enumerate(good)]
    assert not _tech(spec, black)["technical.black"].passed
    frozen = [good[0]] * 60  # 2.5 s without a change, in a shot with dialogue
    assert not _tech(spec, frozen)["technical.frozen"].passed
    blown = [np.full_like(f, 255) if i % 2 else f for i, f in enumerate(good)]
    assert not _tech(spec, blown)["technical.clipping"].passed
    short = _tech(spec, good[:12])
    assert short["technical.conformance"].passed
    ctx = context(spec, good[:12], refs=False)
    ctx.request = EngineRequest(spec=spec, format=RenderFormat(width=640, height=360, fps=24))
    conf = scores(ctx, ["technical"])[1]["technical.conformance"]
    assert not conf.passed and len(conf.details["problems"]) == 2
    del rng


def test_scores_are_recorded_and_plotted(spec, tmp_path):
    from studio_kit.qc.plots import plot_scores, scores_table
    from studio_kit.store.ledger import Ledger

    report, _ = scores(context(spec, [figure_frame(light_x=0.7)] * 4))
    with Ledger(tmp_path / "l.sqlite") as ledger:
        record_report(report, ledger, attempt=2)
        rows = scores_table(ledger, "01")
        assert {r["metric"] for r in rows} >= {"continuity.light_direction", "character.hue"}
        failed = [r for r in rows if not r["passed"]]
        assert [r["metric"] for r in failed] == ["continuity.light_direction"]
        layout = plot_scores(rows)
    import holoviews as hv

    assert isinstance(layout, hv.Layout) and len(layout) >= 3
