"""A title drawn on a thumbnail (studio_kit.distribution.thumbnails.draw_title): placed
away from the face boxes (given ones, and the faces the QC detector finds on the picture
itself), and readable on a picture as bright as the text (the outline's contrast, WCAG)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio_kit.distribution.thumbnails import TitleStyle, draw_title, place_title
from studio_kit.qc.detect import detect_faces

W, H = 270, 480  # a 9:16 thumbnail
TITLE = "Kerbrat: the light goes out"


def _changed(before: Image.Image, after: Image.Image, tol: int = 24) -> np.ndarray:
    a, b = np.asarray(before.convert("RGB"), int), np.asarray(after, int)
    return np.abs(a - b).max(axis=-1) > tol


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB pixels (0..1)."""
    c = rgb.astype(float) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def _contrast(l1: float, l2: float) -> float:
    hi, lo = max(l1, l2), min(l1, l2)
    return (hi + 0.05) / (lo + 0.05)


def _busy(seed: int = 16, level: int = 140) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    base = level + 40 * np.sin(xx / 11.0) * np.cos(yy / 17.0)
    rgb = np.stack([base, base * 0.9 + 10, base * 0.8 + 20], -1) + rng.normal(0, 8, (H, W, 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


@pytest.mark.parametrize(("face", "want"), [
    ((80.0, 300.0, 190.0, 430.0), "top"),      # a face low in the frame
    ((70.0, 20.0, 200.0, 150.0), "bottom"),    # a face high in the frame
])
def test_the_title_is_drawn_clear_of_the_face_box(face, want) -> None:
    img = _busy()
    out, place = draw_title(img, TITLE, faces=[face])
    assert place.position == want and not place.overlaps_face
    drawn = _changed(img, out)
    assert drawn.sum() > 500  # the title is there
    pad = TitleStyle().face_pad * H
    x0, y0, x1, y1 = (int(v) for v in (face[0] - pad, face[1] - pad, face[2] + pad,
                                       face[3] + pad))
    assert not drawn[max(0, y0):y1, max(0, x0):x1].any()  # not a pixel on the face
    ys, xs = np.nonzero(drawn)
    bx0, by0, bx1, by1 = place.box
    assert bx0 - 6 <= xs.min() and xs.max() <= bx1 + 6  # drawn where it was placed
    assert by0 - 6 <= ys.min() and ys.max() <= by1 + 6


def test_faces_low_and_high_put_the_title_in_the_middle() -> None:
    faces = [(60.0, 10.0, 210.0, 130.0), (60.0, 350.0, 210.0, 470.0)]
    place = place_title(TITLE, W, H, faces)
    assert place.position == "middle" and not place.overlaps_face
    full = [(0.0, 0.0, float(W), float(H))]  # a face filling the frame: marked
    assert place_title(TITLE, W, H, full).overlaps_face


def test_the_title_avoids_the_face_the_detector_finds() -> None:
    """No boxes given: the QC detector finds the drawn person's face on the picture."""
    from bench.distribution_bench import person_patch

    img = np.asarray(_busy()).copy()
    patch = person_patch()  # 200 x 180, a face OpenCV's detector finds
    img[H - 200:H, 45:225] = patch
    pic = Image.fromarray(img)
    faces = detect_faces(img, min_size=8)
    assert faces, "the detector should see the face"
    out, place = draw_title(pic, TITLE)
    assert place.faces == [tuple(v) for v in faces] and not place.overlaps_face
    drawn = _changed(pic, out)
    for f in faces:
        assert not drawn[int(f[1]):int(f[3]) + 1, int(f[0]):int(f[2]) + 1].any()


@pytest.mark.parametrize("level", [228, 25])
def test_the_title_is_readable_on_bright_and_dark_pictures(level) -> None:
    """White glyphs with a dark outline: between a glyph and the ring of pixels around it
    the WCAG contrast ratio is at least 4.5 (AA), also on a near-white picture where the
    glyph itself is close to the background."""
    img = Image.fromarray(np.full((H, W, 3), level, np.uint8))
    out, place = draw_title(img, TITLE)
    arr = np.asarray(out)
    lum = _luminance(arr)
    x0, y0, x1, y1 = place.box
    inside = np.zeros(lum.shape, bool)
    inside[y0:y1, x0:x1] = True
    glyph = inside & (arr.min(axis=-1) >= 250)
    assert glyph.sum() > 200
    from scipy.ndimage import binary_dilation

    ring = binary_dilation(glyph, iterations=2) & ~glyph
    ratio = _contrast(float(np.median(lum[glyph])), float(np.median(lum[ring])))
    assert ratio >= 4.5, ratio
    bg = float(_luminance(np.array([[level] * 3]))[0])
    if level > 200:  # the background alone would not do: the outline makes it readable
        assert _contrast(float(np.median(lum[glyph])), bg) < 1.5


def test_an_empty_title_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        place_title("   ", W, H, [])
