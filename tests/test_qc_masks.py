"""The bible proxy's masks (qc.masks): the visible hair of each character (without the hat,
the face or another figure's hair), the figures' silhouettes (the set around them is the
background the white balance is read from), and faces measured on the file's own pixels
when they are small in QC's analysis frames."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bench.qc_eval import footage_op
from studio_kit.colorimetry import srgb_to_lab
from studio_kit.engines.base import RenderFormat
from studio_kit.engines.local import LocalEngine
from studio_kit.engines.local.engine import validate_request
from studio_kit.models import hex_to_rgb
from studio_kit.production.routing import build_request
from studio_kit.qc.base import load_media
from studio_kit.qc.masks import HairMasks, masked_colour
from studio_kit.qc.runner import qc_clip, references_for
from studio_kit.store.vault import Vault


@pytest.fixture
def vault(tmp_path):
    return Vault(tmp_path / "vault")


def _request(project, shot, width=320, height=180, duration=0.25):
    req = build_request(project, "01", shot, duration_s=duration)
    return req.model_copy(update={"format": RenderFormat(width=width, height=height, fps=24),
                                  "seed": 0})


def test_the_hair_mask_leaves_out_the_hat_and_the_other_figures_hair(sample_project):
    req = _request(sample_project, "s05-lamp-theo", 640, 360)  # Theo, beanie, Mara behind
    masks = HairMasks(req, (360, 640))
    frame = validate_request(req).frame(0.1)
    theo = masks.intended("theo", 0.1)
    assert theo is not None and theo.sum() >= 30
    box = validate_request(req).regions("theo", 0.1)["hair"]
    ys, xs = np.nonzero(theo)
    assert xs.min() >= box[0] - 2 and xs.max() <= box[2] + 2  # inside his own hair box
    # the beanie is near-white (#f0f0e8), his hair near-black (#2a1a0e): the masked pixels
    # are hair, not hat
    hat = srgb_to_lab(np.array(hex_to_rgb("#f0f0e8"), float))[0]
    got = srgb_to_lab(masked_colour(frame, theo))[0]
    assert got < 25 < hat
    # the box minus the face (what the k-means hair colour reads) holds the hat too
    fx = validate_request(req).regions("theo", 0.1)["face"]
    hair_box = np.zeros_like(theo)
    hair_box[int(box[1]):int(box[3]), int(box[0]):int(box[2])] = True
    hair_box[int(fx[1]):int(fx[3]), int(fx[0]):int(fx[2])] = False
    assert srgb_to_lab(frame[hair_box].mean(axis=0))[0] > got + 10


def test_the_silhouettes_leave_more_of_the_set_than_the_figure_boxes(sample_project):
    req = _request(sample_project, "s06-lamp-mara2")  # a close-up: the box is the frame
    fig = HairMasks(req, (180, 320)).figures(0.1)
    box = validate_request(req).regions("mara", 0.1)["figure"]
    outside_box = 1.0 - (box[2] - box[0]) * (box[3] - box[1]) / (320 * 180)
    assert fig is not None and (~fig).mean() > outside_box + 0.2


def test_a_zoomed_close_up_at_night_keeps_its_white_balance(sample_project, vault, tmp_path):
    """The night close-up zoomed 1.08 (a crop): the set around the figure still matches the
    reference, so neither the palette nor the colour temperature moves; a warmer light
    (white balance 0.3) still does."""
    req = _request(sample_project, "s06-lamp-mara2", 640, 360)
    refs = references_for("local", req, vault)
    clip = vault.get(asyncio.run(LocalEngine().generate(req, vault)).asset)
    out = {}
    for op, amount in (("zoom", 0.0), ("white_balance", 0.3)):
        path = footage_op(op, amount, req, clip, sample_project, tmp_path)
        rep = qc_clip(path, req, "local", vault=vault, regions="detector",
                      scorers=["continuity"], scene_ref=refs[0], character_refs=refs[1])
        out[op] = {s.metric: s for s in rep.scores}
    assert out["zoom"]["continuity.palette"].passed
    assert out["zoom"]["continuity.colour_temperature"].passed
    assert not out["white_balance"]["continuity.colour_temperature"].passed


def test_a_small_face_is_measured_on_the_files_own_pixels(sample_project, vault):
    """s10 at 1280x720: the face is 39 px in QC's 640 px analysis frames (too small for
    proportions) and 78 px in the file: it is measured there, and a face drift is caught."""
    from studio_kit.engines.base import Drift

    req = _request(sample_project, "s10-cliff-beam", 1280, 720)
    refs = references_for("local", req, vault)
    vals = {}
    for amount in (0.0, 0.5):
        r = req if not amount else req.model_copy(
            update={"drift": Drift(amount=amount, kinds=["face"])})
        res = asyncio.run(LocalEngine().generate(r, vault))
        media = load_media(vault.get(res.asset))
        assert media.scale == 0.5
        crops = media.native_frames([1])
        assert crops[1].shape == (720, 1280, 3)
        rep = qc_clip(vault.get(res.asset), r, "local", vault=vault, scorers=["character"],
                      scene_ref=refs[0], character_refs=refs[1])
        face = {s.metric: s for s in rep.scores}["character.face"]
        assert not face.skipped, face.details
        vals[amount] = face
    assert vals[0.0].passed and not vals[0.5].passed
