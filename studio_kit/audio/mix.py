"""Mix and master: per-layer gains, sidechain ducking under dialogue, no clipping; master
to the series' loudness target with pyloudnorm (ITU-R BS.1770-4) and a true-peak ceiling.

Master chain: sum -> static gain to the integrated-loudness target -> look-ahead true-peak
limiter (4x oversampled detection) -> re-measure and correct (up to 4 passes). The same
gain curve is applied to every stem, so stems (and the M&E mix) add up to the master.

The ceiling holds on what is delivered, not only on the PCM: the limiter works to the
series' ceiling minus ``AAC_HEADROOM_DB`` (the AAC encoder's inter-sample overshoot), and
``edit.mux`` measures every encoded AAC track and re-encodes it lower if its true peak is
above the ceiling minus ``AAC_MARGIN_DB``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pyloudnorm as pyln
from pydantic import BaseModel, Field
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from ..errors import StudioError
from ..models import LoudnessTarget
from ..store.yamlio import atomic_open
from . import SAMPLE_RATE

LAYERS = ("dialogue", "music", "effects", "ambience")

#: How far under the series' true-peak ceiling the PCM master is limited: room for the AAC
#: encoder's overshoot (192 kb/s on the sample: the PCM at -1.3 dBTP came out at -0.9).
AAC_HEADROOM_DB = 1.0
#: Every delivered AAC track's true peak (ffmpeg ``ebur128=peak=true``, 4x oversampled) is
#: held at or below the ceiling minus this margin (``edit.mux.encode_aac``).
AAC_MARGIN_DB = 0.5


class MixSettings(BaseModel):
    dialogue_db: float = 0.0
    music_db: float = -12.0
    effects_db: float = -6.0
    ambience_db: float = -10.0
    duck_db: float = Field(10.0, ge=0, le=40, description="Music/ambience drop under dialogue.")
    duck_threshold_db: float = Field(-45.0, description="Dialogue level that triggers ducking.")
    duck_attack_s: float = Field(0.08, gt=0)
    duck_release_s: float = Field(0.5, gt=0)
    pan_width: float = Field(0.6, ge=0, le=1, description="How far screen position pans.")
    loudness_tolerance_lu: float = Field(0.3, gt=0, le=0.5)

    def gain(self, layer: str) -> float:
        return 10 ** (getattr(self, f"{layer}_db") / 20)


class MasterReport(BaseModel):
    integrated_lufs: float
    true_peak_dbtp: float
    target_lufs: float
    ceiling_dbtp: float = Field(description="The series' true-peak ceiling (delivered audio).")
    limit_dbtp: float | None = Field(None, description=(
        "What the PCM was limited to: the ceiling minus the AAC headroom."))
    gain_db: float
    passes: int
    limited_ms: float = Field(description="Time the limiter reduced gain by more than 0.1 dB.")

    @property
    def on_target(self) -> bool:
        return abs(self.integrated_lufs - self.target_lufs) <= 0.5 and \
            self.true_peak_dbtp <= self.ceiling_dbtp + 1e-6


# -- measurement ---------------------------------------------------------------------------
def integrated_lufs(x: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """BS.1770-4 gated integrated loudness (pyloudnorm); -inf-safe (returns -70 for silence)."""
    if len(x) < int(0.4 * sr):
        x = np.concatenate([x, np.zeros((int(0.4 * sr) - len(x),) + x.shape[1:], x.dtype)])
    with np.errstate(divide="ignore"):
        value = pyln.Meter(sr).integrated_loudness(np.asarray(x, np.float64))
    return float(value) if np.isfinite(value) else -70.0


@lru_cache(maxsize=4)
def _interp_kernel(factor: int = 4, taps: int = 12) -> np.ndarray:
    """(factor-1, taps) windowed-sinc coefficients for the points between two samples.

    Row p gives x(i + (p+1)/factor) from x[i-5 .. i+6]: the same band-limited 4x
    interpolation BS.1770-4 annex 2 does with its 48-tap (12 per phase) filter.
    """
    k = np.arange(taps) - (taps // 2 - 1)
    rows = []
    for p in range(1, factor):
        f = p / factor
        w = np.kaiser(taps + 1, 6.0)
        win = np.interp(f - k + taps // 2 - 0.5, np.arange(taps + 1) - 0.5 + 0.5, w)
        row = np.sinc(f - k) * win
        rows.append(row / row.sum())  # unity gain at DC
    return np.asarray(rows, np.float32)


def peak_envelope(x: np.ndarray, threshold: float, *, factor: int = 4) -> np.ndarray:
    """Per-sample peak including 4x-interpolated inter-sample peaks next to each sample.

    Only local maxima of |x| at or above ``threshold`` are interpolated (inter-sample peaks
    sit next to them), so long programmes stay fast. Shape (n,), the max over channels.
    """
    x = x if x.ndim == 2 else x[:, None]
    n = len(x)
    env = np.abs(x).max(axis=1).astype(np.float32)
    kern = _interp_kernel(factor)
    taps = kern.shape[1]
    lo = taps // 2 - 1
    for c in range(x.shape[1]):
        ax = np.abs(x[:, c])
        loud = ax >= threshold
        loud[1:] &= ax[1:] >= ax[:-1]
        loud[:-1] &= ax[:-1] >= ax[1:]
        cand = np.nonzero(loud)[0]
        if not len(cand):
            continue
        padded = np.pad(x[:, c].astype(np.float32), (taps, taps))
        for base in (cand - 1, cand):  # the gaps either side of each local maximum
            base = base[(base >= 0) & (base < n)]
            for chunk in range(0, len(base), 200_000):
                b = base[chunk:chunk + 200_000]
                idx = b[:, None] + (np.arange(taps) - lo)[None, :] + taps
                vals = np.abs(padded[idx] @ kern.T).max(axis=1)
                env[b] = np.maximum(env[b], vals)  # b is sorted and unique
                nxt = np.minimum(b + 1, n - 1)
                env[nxt] = np.maximum(env[nxt], vals)
    return env


def true_peak_dbtp(x: np.ndarray, *, factor: int = 4) -> float:
    """True peak in dBTP: 4x oversampled peak (BS.1770-4 annex 2 interpolation).

    Inter-sample peaks are computed next to every local maximum within 6 dB of the
    loudest sample (a true peak cannot exceed the sample peak by that much in real audio).
    """
    x = x if x.ndim == 2 else x[:, None]
    top = float(np.abs(x).max(initial=0.0))
    if top <= 0:
        return -120.0
    return 20 * float(np.log10(float(peak_envelope(x, top / 2, factor=factor).max())))


# -- processing ----------------------------------------------------------------------------
def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan, -1 (left) .. 1 (right)."""
    theta = (float(np.clip(pan, -1, 1)) + 1) * np.pi / 4
    return float(np.cos(theta)), float(np.sin(theta))


def duck_gain(dialogue: np.ndarray, settings: MixSettings, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Per-sample gain (<= 1) for music and ambience: down ``duck_db`` while dialogue speaks.

    Sidechain: dialogue RMS in 10 ms frames above the threshold -> attack/release
    smoothing -> gain.
    """
    mono = dialogue.mean(axis=1) if dialogue.ndim == 2 else dialogue
    n = len(mono)
    hop = int(0.01 * sr)
    frames = -(-n // hop)
    padded = np.zeros(frames * hop, np.float32)
    padded[:n] = mono
    rms = np.sqrt(np.mean(padded.reshape(frames, hop) ** 2, axis=1) + 1e-12)
    gain_f = duck_frame_gains(rms, settings)
    pos = np.arange(n, dtype=np.float32) / np.float32(hop) - np.float32(0.5)
    return np.interp(pos, np.arange(frames, dtype=np.float32), gain_f).astype(np.float32)


def duck_frame_gains(rms: np.ndarray, settings: MixSettings) -> np.ndarray:
    """``duck_gain`` per 10 ms frame from the dialogue's RMS per frame (a streaming caller
    computes the frames block by block and interpolates the gains itself)."""
    frames = len(rms)
    active = (20 * np.log10(rms) > settings.duck_threshold_db).astype(np.float32)
    # hold over short gaps between words (150 ms) so the music does not pump
    active = (np.convolve(active, np.ones(15), mode="same") > 0).astype(np.float32)
    a = np.exp(-0.01 / settings.duck_attack_s)
    r = np.exp(-0.01 / settings.duck_release_s)
    env = np.empty(frames, np.float32)
    level = 0.0
    for i, v in enumerate(active):  # 100 iterations per second of audio
        coef = a if v > level else r
        level = coef * level + (1 - coef) * v
        env[i] = level
    return (10 ** (-settings.duck_db * env / 20)).astype(np.float32)


def mix_layers(layers: dict[str, np.ndarray], settings: MixSettings | None = None,
               sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """Apply gains and ducking; returns the processed layers (stereo, same length)."""
    settings = settings or MixSettings()
    n = max(len(v) for v in layers.values())
    out: dict[str, np.ndarray] = {}
    for name in LAYERS:
        x = layers.get(name)
        y = np.zeros((n, 2), np.float32)
        if x is not None:
            x = x if x.ndim == 2 else np.repeat(x[:, None], 2, axis=1)
            y[: len(x)] = x
        out[name] = y * settings.gain(name)
    duck = duck_gain(out["dialogue"], settings, sr)
    out["music"] *= duck[:, None]
    out["ambience"] *= duck[:, None]
    return out


def gain_from_peaks(peak: np.ndarray, ceiling_dbtp: float, *, lookahead_s: float = 0.005,
                    sr: int = SAMPLE_RATE) -> np.ndarray:
    """The limiter's gain curve from a peak envelope (see ``peak_envelope``)."""
    ceiling = 10 ** (ceiling_dbtp / 20)
    need = np.ones(len(peak), np.float32)
    over = peak > ceiling
    need[over] = ceiling / peak[over]
    w = max(1, int(lookahead_s * sr))
    g = minimum_filter1d(need, 2 * w + 1)
    return np.minimum(uniform_filter1d(g, w), 1.0).astype(np.float32)


def master(mix: np.ndarray, target: LoudnessTarget, *, sr: int = SAMPLE_RATE,
           tolerance_lu: float = 0.3, passes: int = 4,
           headroom_db: float = AAC_HEADROOM_DB) -> tuple[np.ndarray, MasterReport]:
    """Per-sample gain curve that takes ``mix`` to the target; and the report.

    Apply it to the mix (and to stems): ``mix * curve[:, None]``. The true peak is held
    at ``target.peak - headroom_db`` (room for the AAC encode; 0 for PCM-only delivery).
    """
    lufs_target, ceiling = target.lufs, target.peak - headroom_db
    silent = float(np.abs(mix).max(initial=0.0)) == 0.0
    if silent:
        raise StudioError("the mix is silent: nothing to master",
                          hint="check that the episode has dialogue, music or ambience")
    measured = integrated_lufs(mix, sr)
    gain_db = lufs_target - measured
    margin = 0.3  # the limiter aims under the ceiling; intersample residue stays under it
    energy = np.einsum("ij,ij->i", mix, mix)  # per-sample power, for the loss estimate
    e_total = float(energy.sum()) or 1.0
    used = 0
    boost = 0.0  # extra gain that compensates what the limiter takes away
    # The oversampled peak envelope scales with gain: compute it once for the raw mix,
    # covering every sample that could come near the ceiling at up to +6 dB more gain.
    env_gain_db = gain_db + 6.0
    env0 = peak_envelope(mix, 10 ** ((ceiling - margin - 4 - env_gain_db) / 20))
    for used in range(1, passes + 1):  # noqa: B007
        curve = np.ones(len(mix), np.float32)
        for _ in range(3):  # cheap inner loop: predict the limiter's loudness loss
            if gain_db + boost > env_gain_db:  # more gain than the envelope covers
                env_gain_db = gain_db + boost + 6.0
                env0 = peak_envelope(mix, 10 ** ((ceiling - margin - 4 - env_gain_db) / 20))
            g = 10 ** ((gain_db + boost) / 20)
            curve = g * gain_from_peaks(env0 * np.float32(g), ceiling - margin, sr=sr)
            loss = -10 * np.log10(float(energy @ (curve.astype(np.float64) ** 2)) / e_total) \
                + 20 * np.log10(g)
            if abs(loss - boost) < 0.05:
                break
            boost = loss
        measured = integrated_lufs(mix * curve[:, None], sr)  # the real BS.1770 measurement
        err = lufs_target - measured
        if abs(err) <= tolerance_lu:
            break
        gain_db += err
    out = mix * curve[:, None]
    tp = true_peak_dbtp(out)
    if tp > ceiling:  # residual intersample over: a static trim (tiny, logged in the report)
        trim = 10 ** ((ceiling - tp - 0.05) / 20)
        curve *= trim
        out = mix * curve[:, None]
        tp = true_peak_dbtp(out)
        measured = integrated_lufs(out, sr)
    limited = float(np.count_nonzero(curve < curve.max() * 10 ** (-0.1 / 20)) / sr * 1000)
    return curve, MasterReport(integrated_lufs=round(measured, 3), true_peak_dbtp=round(tp, 3),
                               target_lufs=lufs_target, ceiling_dbtp=target.peak,
                               limit_dbtp=ceiling, gain_db=round(gain_db, 3), passes=used, limited_ms=limited)


def write_wav(path: str | Path, x: np.ndarray, sr: int = SAMPLE_RATE) -> Path:
    """Atomically write a 24-bit PCM WAV; never clips (values are clamped to full scale).

    Packed with numpy and written with the stdlib ``wave`` module straight into a temp
    file that replaces ``path`` (readers see the old or the new file, never half): several
    times faster than libsndfile's float -> 24-bit conversion for long stems.
    """
    import wave

    path = Path(path)
    x = np.asarray(x, np.float32)
    x = x if x.ndim == 2 else x[:, None]
    scaled = x * np.float32(8388607.0)
    np.clip(scaled, -8388608.0, 8388607.0, out=scaled)
    ints = np.rint(scaled, out=scaled).astype("<i4")
    with atomic_open(path) as fh, wave.open(fh, "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(3)
        w.setframerate(sr)
        w.writeframes(pack_pcm24(ints))
    return path


def pack_pcm24(ints: np.ndarray) -> bytes:
    """Little-endian 24-bit PCM bytes of int32 samples (their low three bytes).

    Every 4 samples become 3 uint32 words by shifts and masks: about 1.5x faster than
    copying 3 of every 4 bytes (a strided byte copy) for long stems."""
    flat = np.ascontiguousarray(ints, dtype="<i4").reshape(-1)
    n = len(flat)
    if n % 4:
        flat = np.concatenate([flat, np.zeros(4 - n % 4, "<i4")])
    u = flat.view("<u4").reshape(-1, 4)
    out = np.empty((len(u), 3), "<u4")
    np.bitwise_and(u[:, 0], 0xFFFFFF, out=out[:, 0])
    out[:, 0] |= u[:, 1] << 24
    np.right_shift(u[:, 1], 8, out=out[:, 1])
    out[:, 1] &= 0xFFFF
    out[:, 1] |= u[:, 2] << 16
    np.right_shift(u[:, 2], 16, out=out[:, 2])
    out[:, 2] &= 0xFF
    out[:, 2] |= u[:, 3] << 8
    return out.tobytes()[: 3 * n]
