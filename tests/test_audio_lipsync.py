"""Lip-sync: mouth movement measured in frames vs the dialogue, offsets flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio_kit.audio.dialogue import synthesize, to_rate
from studio_kit.audio.lipsync import (
    BT1359,
    EBU_R37,
    check_lipsync,
    mouth_openness,
)
from studio_kit.errors import StudioError
from studio_kit.models import VoiceProfile
from studio_kit.visemes import openness_at, shift

FPS = 24
BOX = (60, 40, 100, 80)


@pytest.fixture(scope="module")
def line():
    sp = synthesize("Stay where you are. Nobody lit the lamp.", VoiceProfile(voice="f3"), "en")
    return sp, shift(sp.visemes, 0.25)


def _frames(track, n: int, offset_s: float) -> list[np.ndarray]:
    """A 160x90 face whose mouth opens as the visemes say, drawn ``offset_s`` late
    (positive: the picture lags the sound, i.e. sound ahead)."""
    yy, xx = np.mgrid[0:90, 0:160]
    out = []
    for i in range(n):
        o = openness_at(track, i / FPS - offset_s)
        f = np.full((90, 160, 3), (205, 160, 130), np.uint8)
        f[((xx - 80) / 15) ** 2 + ((yy - 60) / 3) ** 2 <= 1] = (150, 60, 60)  # lips
        h = 0.5 + o * 12
        f[((xx - 80) / 13) ** 2 + ((yy - 60) / h) ** 2 <= 1] = (25, 10, 10)  # open mouth
        out.append(f)
    return out


@pytest.mark.parametrize("offset_ms", [0, 120, -120, 60, -200])
def test_offset_is_measured_and_flagged(line, offset_ms: int, artifacts_dir: Path) -> None:
    sp, track = line
    n = int((sp.duration_s + 0.5) * FPS)
    frames = _frames(track, n, offset_ms / 1000)
    mouth = mouth_openness(frames, BOX)
    res = check_lipsync(mouth, FPS, visemes=track)
    assert res.offset_ms == pytest.approx(offset_ms, abs=10), res
    assert res.correlation > 0.9
    # BT.1359 detectability: +45 ms (sound ahead) / -125 ms (sound behind)
    assert res.ok is (-125 <= offset_ms <= 45), res.verdict
    # EBU R37 (+40/-60) is stricter: catches the -120 ms sound lag too
    strict = check_lipsync(mouth, FPS, visemes=track, limits=EBU_R37)
    assert strict.ok is (offset_ms == 0)
    if offset_ms == 120:
        assert "sound ahead of picture" in res.verdict
        np.save(artifacts_dir / "lipsync_frames_120ms.npy", np.concatenate(frames[10:16], 1))


def test_envelope_reference_also_finds_offset(line) -> None:
    sp, track = line
    audio = np.concatenate([np.zeros(int(0.25 * 48000), np.float32),
                            to_rate(sp.samples, sp.sample_rate)])
    n = int((sp.duration_s + 0.5) * FPS)
    ok = check_lipsync(mouth_openness(_frames(track, n, 0.0), BOX), FPS, audio=audio)
    late = check_lipsync(mouth_openness(_frames(track, n, 0.12), BOX), FPS, audio=audio)
    assert ok.ok and abs(ok.offset_ms) <= 45
    assert not late.ok and late.offset_ms - ok.offset_ms == pytest.approx(120, abs=25)


def test_still_mouth_is_inconclusive(line) -> None:
    _, track = line
    frames = [np.full((90, 160, 3), 200, np.uint8)] * 40
    res = check_lipsync(mouth_openness(frames, BOX), FPS, visemes=track)
    assert not res.ok and res.offset_ms is None and "inconclusive" in res.verdict
    assert BT1359.ok(40) and not BT1359.ok(50) and BT1359.ok(-120) and not BT1359.ok(-130)


def test_bad_box_is_an_error() -> None:
    with pytest.raises(StudioError, match="outside"):
        mouth_openness([np.zeros((90, 160, 3), np.uint8)], (200, 10, 220, 20))


@pytest.mark.parametrize("offset_ms", [0, 120, -200])
def test_real_local_engine_render(sample_project, tmp_path, offset_ms: int) -> None:
    """The local engine draws the mouth from visemes shifted by ``offset_ms``; the check
    reads the encoded H.264 clip back and measures the offset against the true track."""
    pytest.importorskip("studio_kit.engines.local")
    from studio_kit.audio.lipsync import check_rendered_shot
    from studio_kit.engines.base import EngineRequest, RenderFormat
    from studio_kit.engines.local import LocalEngine
    from studio_kit.store.vault import Vault

    spec = sample_project.resolve_shot("01", "s02-cliff-mara")
    sp = synthesize("That lamp has been dark for ten years.",
                    sample_project.characters["mara"].voice, "en")
    track = shift(sp.visemes, 0.2)
    drawn = shift(track, offset_ms / 1000) if offset_ms >= 0 else \
        [(t + offset_ms / 1000, v) for t, v in track if t + offset_ms / 1000 >= 0]
    req = EngineRequest(spec=spec, format=RenderFormat(width=320, height=180, fps=24),
                        duration_s=2.4, visemes=[(t, v.value) for t, v in drawn])
    vault = Vault(tmp_path / "vault")
    clip = vault.path(LocalEngine().render(req, vault).asset)
    res = check_rendered_shot(clip, req, "mara", visemes=track)
    assert res.offset_ms == pytest.approx(offset_ms, abs=25), res
    assert res.ok is (offset_ms == 0), res.verdict
