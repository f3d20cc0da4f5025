"""QC on footage the embedded engine did not draw: the detector path (qc.detect) on real
clips (rendered, decoded, changed, re-encoded with ffmpeg), lip-sync on detected mouths,
skip reasons as strings. Tiny clips (320x180, <= 1.5 s)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from bench.qc_eval import decode, encode, part_masks, recolour, warp
from studio_kit.engines.base import EngineResult, RenderFormat
from studio_kit.engines.local import LocalEngine
from studio_kit.engines.local.engine import validate_request
from studio_kit.production.routing import build_request
from studio_kit.qc.base import QCReport, QCScore, ShotMedia, load_media, record_report
from studio_kit.qc.detect import FigureLocator, detect_faces, transform_box
from studio_kit.qc.runner import nominal, qc_clip, qc_result
from studio_kit.store.vault import Vault

FMT = RenderFormat(width=320, height=180, fps=24)


@pytest.fixture
def vault(tmp_path):
    return Vault(tmp_path / "vault")


def _render(project, vault, shot, duration=1.0, **update):
    req = build_request(project, "01", shot, duration_s=duration)
    req = req.model_copy(update={"format": FMT, **update})
    res = asyncio.run(LocalEngine().generate(req, vault))
    return req, res


def _scores(report):
    return {s.metric: s for s in report.scores}


def test_haar_detector_finds_a_lit_frontal_face(sample_project):
    """The packaged detector (OpenCV's cascade, weights in the wheel) finds Elodie's face
    in the cafe medium shot where the engine drew it."""
    req = build_request(sample_project, "01", "s09-cafe-elodie", duration_s=1.0)
    req = req.model_copy(update={"format": RenderFormat(width=640, height=360, fps=24)})
    r = validate_request(req)
    face = r.regions("elodie", 0.5)["face"]
    found = detect_faces(r.frame(0.5))
    assert found, "no face found"
    cx, cy = 0.5 * (face[0] + face[2]), 0.5 * (face[1] + face[3])
    assert any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in found)


@pytest.mark.parametrize("shot", ["s02-cliff-mara", "s07-cafe-wide"])
def test_locator_follows_a_shifted_and_zoomed_clip(sample_project, shot):
    req = build_request(sample_project, "01", shot, duration_s=0.5)
    req = req.model_copy(update={"format": FMT})
    r = validate_request(req)
    frames = [r.frame(i / 24) for i in range(12)]
    moved = warp(warp(frames, dx=7, dy=-3), zoom=1.06)
    media = ShotMedia.from_frames(np.stack(moved), 24)
    loc = FigureLocator(req, media)
    h, w = 180, 320
    m = np.array([[1.06, 0, (1 - 1.06) * w / 2], [0, 1.06, (1 - 1.06) * h / 2]])
    m = m @ np.array([[1, 0, 7], [0, 1, -3], [0, 0, 1]])
    for rc in req.spec.characters:
        cid = rc.character.id
        got = loc.regions_at(cid, 0.25)
        want = transform_box(r.regions(cid, 0.25)["face"], m)
        assert np.abs(np.array(got["face"]) - np.array(want)).max() < 1.0, (cid, got, want)
    summary = loc.summary()
    assert all(d["placed_by"] == {"locator": d["instants"]} and d["confidence"] > 0.9
               for d in summary.values())


def _altered(tmp_path, req, res, vault, *, hair=0.0, dx=0):
    """The delivered clip decoded, shifted by dx px, the hair recoloured, re-encoded."""
    frames = decode(vault.get(res.asset))
    if dx:
        frames = warp(frames, dx=dx)
    if hair:
        masks = part_masks(req, "hair_hue", len(frames))
        if dx:
            masks = [m[..., 0] > 0 if m.ndim == 3 else m > 0
                     for m in warp([mm.astype(np.uint8) * 255 for mm in masks], dx=dx)]
        frames = recolour(frames, masks, hair)
    return encode(frames, tmp_path / f"altered-{hair}-{dx}.mp4")


def test_character_drift_in_the_delivered_clip_is_caught_by_the_detector_path(
        sample_project, vault, tmp_path):
    req, res = _render(sample_project, vault, "s02-cliff-mara")
    good = _altered(tmp_path, req, res, vault, dx=9)  # re-encoded, moved: not the engine's
    bad = _altered(tmp_path, req, res, vault, hair=0.5, dx=9)
    ok = qc_clip(good, req, "local", vault=vault, scorers=["character", "continuity"])
    s = _scores(ok)
    assert ok.passed, ok.summary()
    # auto mode saw the clip is not the engine's drawing and used the detector
    assert s["character.reference"].details["regions"]["source"].startswith("detector")
    drifted = qc_clip(bad, req, "local", vault=vault, scorers=["character", "continuity"])
    assert not drifted.passed
    assert {"character.hue", "character.reference"} & {f.metric for f in drifted.failures}
    # the engine's own regions are now off by 9 px (the eyes measured beside the eyes);
    # the detector's are not
    eng = qc_clip(good, req, "local", vault=vault, scorers=["character"], regions="engine")
    assert _scores(eng)["character.face"].value > s["character.face"].value + 5, \
        (_scores(eng)["character.face"].value, s["character.face"].value)


def test_a_cloud_engines_take_is_scored_on_every_metric(sample_project, vault):
    """A take from an engine without figure regions (here the local engine's clip handed
    in as another engine's result): every character, continuity, technical and lip-sync
    metric is measured (references drawn from the bible by the embedded engine)."""
    req, res = _render(sample_project, vault, "s09-cafe-elodie", duration=1.5)
    cloud = EngineResult(**{**res.model_dump(), "engine": "runway"})
    report = qc_result(cloud, req, vault=vault, scorers=["technical", "character",
                                                          "continuity", "lipsync"])
    s = _scores(report)
    measured = {m for m, v in s.items() if not v.skipped}
    assert {"character.reference", "character.hue", "continuity.palette",
            "continuity.colour_temperature", "continuity.light_direction",
            "technical.sharpness", "technical.conformance", "lipsync.offset_ms"} <= measured
    assert report.passed, report.summary()
    assert s["lipsync.offset_ms"].details["regions"]["source"].startswith("detector")


def _speech(req):
    """The speaker's viseme track as the engine animated it (dialogue text timing)."""
    figs = {f.id: f for f in validate_request(nominal(req)).figures}
    return [(float(t), v.value) for t, v in figs["mara"].visemes]


@pytest.mark.parametrize("frames_late", [0, 3])
def test_lipsync_offset_is_measured_on_the_detected_mouth(sample_project, vault, tmp_path,
                                                          frames_late):
    req, res = _render(sample_project, vault, "s02-cliff-mara", duration=1.5)
    visemes = _speech(req)
    # the sound moved later by `frames_late` frames against a picture that was shifted
    # 6 px (so the engine's own mouth boxes would be wrong)
    shifted = [(t + frames_late / 24, v) for t, v in visemes]
    clip = _altered(tmp_path, req, res, vault, dx=6)
    asked = req.model_copy(update={"visemes": shifted})
    report = qc_clip(clip, asked, "runway", vault=vault, scorers=["lipsync"])
    s = _scores(report)["lipsync.offset_ms"]
    assert not s.skipped, s.details
    want = -frames_late * 1000 / 24  # sound behind picture: negative (ITU-R BT.1359)
    assert abs(s.details["signed_offset_ms"] - want) <= 1000 / 24 + 1, s.details
    assert s.details["speech"].startswith("viseme track")
    if frames_late == 0:
        assert s.passed


def test_picture_delay_against_dialogue_audio_is_flagged(sample_project, vault, tmp_path):
    """The dialogue audio (its loudness envelope) as the speech; the picture delayed by 4
    frames (167 ms, beyond the standard tier's 100 ms)."""
    from studio_kit.audio.lipsync import viseme_reference

    req, res = _render(sample_project, vault, "s02-cliff-mara", duration=1.5)
    frames = decode(vault.get(res.asset))
    late = [frames[0]] * 4 + frames[:-4]
    clip = encode(late, tmp_path / "late.mp4")
    sr = 16000
    t = np.arange(int(1.5 * sr)) / sr
    env = viseme_reference(_speech(req))(t)  # a voice whose loudness follows the visemes
    audio = (env * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    report = qc_clip(clip, req, "runway", vault=vault, scorers=["lipsync"],
                     options={"dialogue_audio": (audio, sr)})
    s = _scores(report)["lipsync.offset_ms"]
    assert not s.skipped and not s.passed, s.details
    assert abs(s.details["signed_offset_ms"] - 4 * 1000 / 24) <= 1000 / 24 + 1
    assert s.details["speech"].startswith("dialogue audio")


def test_skips_carry_their_reason_as_a_string(sample_project, vault, tmp_path):
    from studio_kit.store.ledger import Ledger

    req, res = _render(sample_project, vault, "s01-cliff-wide", duration=0.5)
    with Ledger(tmp_path / "l.sqlite") as ledger:
        report = qc_result(res, req, vault=vault, ledger=ledger)
        rows = ledger.query("SELECT scorer, details FROM qc_scores")
    details = {r["scorer"]: json.loads(r["details"]) for r in rows}
    lip = details["lipsync.offset_ms"]["skipped"]
    assert lip == "no dialogue in the shot"
    for metric, d in details.items():
        assert d["skipped"] is False or (isinstance(d["skipped"], str) and d["skipped"]), \
            (metric, d)
    assert _scores(report)["character.reference"].skipped is False
    # a score skipped without a reason string still records a sentence, never `true`
    bare = QCReport(episode="01", shot_id="x", scores=[
        QCScore(scorer="s", metric="m", value=0, skipped=True)])
    with Ledger(tmp_path / "m.sqlite") as ledger:
        record_report(bare, ledger)
        d = json.loads(ledger.query("SELECT details FROM qc_scores")[0]["details"])
    assert isinstance(d["skipped"], str) and d["skipped"]


def test_the_engines_own_clip_uses_the_engines_regions(sample_project, vault):
    req, res = _render(sample_project, vault, "s09-cafe-elodie", duration=0.5)
    report = qc_result(res, req, vault=vault, scorers=["character"])
    src = _scores(report)["character.reference"].details["regions"]["source"]
    assert src == "local engine's figure regions"
    media = load_media(vault.get(res.asset))
    assert media.width == FMT.width
