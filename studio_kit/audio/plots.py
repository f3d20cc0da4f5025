"""HoloViews figures: loudness over time and the layer mix. HoloViews is imported lazily
(``studio_kit`` must stay importable without a plotting stack)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import SAMPLE_RATE


def _read(path_or_samples, sr: int) -> tuple[np.ndarray, int]:
    if isinstance(path_or_samples, (str, Path)):
        import soundfile as sf

        x, sr = sf.read(str(path_or_samples), dtype="float32", always_2d=True)
        return x, sr
    x = np.asarray(path_or_samples, np.float32)
    return (x if x.ndim == 2 else x[:, None]), sr


def _opts(obj, **kw):
    """Apply plot options when a plotting backend is loaded (the surfaces load bokeh)."""
    try:
        return obj.opts(**kw)
    except ValueError:  # no backend loaded: the figure is still a valid HoloViews object
        return obj


def loudness_curve(audio, *, sr: int = SAMPLE_RATE, window_s: float = 3.0,
                   hop_s: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Short-term loudness (LUFS, 3 s window, BS.1770 K-weighting via pyloudnorm)."""
    import pyloudnorm as pyln

    x, sr = _read(audio, sr)
    meter = pyln.Meter(sr)
    # K-weight once, then mean-square per window (what the meter does per block)
    k = np.asarray(x, np.float64)
    for f in meter._filters.values():  # per channel (lfilter works on the last axis)
        k = np.stack([f.apply_filter(k[:, c]) for c in range(k.shape[1])], axis=1)
    w, h = int(window_s * sr), int(hop_s * sr)
    ms = np.cumsum(np.concatenate([np.zeros((1, k.shape[1])), k ** 2]), axis=0)
    starts = np.arange(0, max(1, len(k) - w + 1), h)
    power = ((ms[np.minimum(starts + w, len(k))] - ms[starts]) / w).sum(axis=1)
    with np.errstate(divide="ignore"):
        lufs = -0.691 + 10 * np.log10(np.maximum(power, 1e-12))
    return (starts + w / 2) / sr, lufs


def loudness_plot(audio, *, target_lufs: float | None = None, sr: int = SAMPLE_RATE,
                  title: str = "Short-term loudness"):
    """hv.Overlay: short-term loudness over time (and the integrated target line)."""
    import holoviews as hv

    t, lufs = loudness_curve(audio, sr=sr)
    curve = _opts(hv.Curve((t, lufs), "time (s)", "LUFS", label="short-term"), title=title)
    if target_lufs is None:
        return curve
    return curve * _opts(hv.HLine(target_lufs), line_dash="dashed", color="red")


def layer_mix_plot(stems: dict[str, str | Path | np.ndarray], *, sr: int = SAMPLE_RATE,
                   hop_s: float = 0.25):
    """hv.Overlay: RMS level (dBFS) of each layer over time."""
    import holoviews as hv

    curves = []
    for name, src in stems.items():
        x, rate = _read(src, sr)
        h = int(hop_s * rate)
        n = len(x) // h
        rms = np.sqrt((x[: n * h].reshape(n, h, -1) ** 2).mean(axis=(1, 2)) + 1e-12)
        curves.append(hv.Curve(((np.arange(n) + 0.5) * hop_s, 20 * np.log10(rms)),
                               "time (s)", "dBFS", label=name))
    return _opts(hv.Overlay(curves), title="Layer mix")
