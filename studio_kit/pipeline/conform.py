"""Audio conform: move the episode's sound onto the picture edit's record times.

The audio stage lays shots end to end (``audio.timing``); the picture edit adds cards
(title, act breaks, hook) and overlaps shots at dissolves, fades and wipes. Conforming
cuts each shot's sound span and places it at the frame its picture starts
(``Timeline.shot_times``): overlapping spans cross-fade (equal gain, over the picture
overlap), spans next to a card get short fades, and what no span covers (the cards) gets
``gap_fill``'s sound (the pipeline passes the adjacent scene's room tone,
``audio.ambience.card_fill``), else silence. J/L-cut offsets inside the sound are kept
because each span moves as a block.

Hand-written (numpy): conforming is a classic post-production step, but no library in our
stack renders an audio edit from a list of (source span -> record time) moves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

EDGE_FADE_S = 0.02


GapFill = Callable[[float, float, int, int, int], "np.ndarray | None"]


def conform(x: np.ndarray, spans: Sequence[tuple[str, float, float]],
            record_starts: Mapping[str, float], total_s: float, sr: int, *,
            gap_fill: GapFill | None = None, fade_out_s: float = 0.0) -> np.ndarray:
    """``x``: (n, channels) audio on the shots-end-to-end clock; ``spans``: (shot, start,
    end) seconds on that clock in order; ``record_starts``: shot -> picture start seconds.
    ``gap_fill(start_s, end_s, n, channels, sr)``: sound for a stretch no span covers.
    ``fade_out_s``: the episode's closing fade (FADE OUT.): the sound fades with the
    picture over its last seconds, to silence on the last sample."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    n_out = int(round(total_s * sr))
    out = np.zeros((n_out, x.shape[1]), np.float32)
    placed = []
    for sid, a, b in spans:
        a0, a1 = int(round(a * sr)), min(len(x), int(round(b * sr)))
        p0 = int(round(record_starts[sid] * sr))
        placed.append((p0, x[a0:a1]))
    edge = max(1, int(EDGE_FADE_S * sr))
    for i, (p0, seg) in enumerate(placed):
        seg = seg.copy()
        p1 = p0 + len(seg)
        prev_end = placed[i - 1][0] + len(placed[i - 1][1]) if i else None
        next_start = placed[i + 1][0] if i + 1 < len(placed) else None
        head = (prev_end - p0) if prev_end is not None and prev_end > p0 else 0
        tail = (p1 - next_start) if next_start is not None and next_start < p1 else 0
        if head == 0 and i and prev_end is not None and prev_end < p0:
            head = edge  # after a card: a short fade-in, no click
        if tail == 0 and next_start is not None and next_start > p1:
            tail = edge
        if head:
            k = min(head, len(seg))
            seg[:k] *= np.linspace(0.0, 1.0, k, dtype=np.float32)[:, None]
        if tail:
            k = min(tail, len(seg))
            seg[len(seg) - k:] *= np.linspace(1.0, 0.0, k, dtype=np.float32)[:, None]
        lo, hi = max(0, p0), min(n_out, p1)
        if hi > lo:
            out[lo:hi] += seg[lo - p0:hi - p0]
    if gap_fill is not None:
        covered = np.zeros(n_out + 2, bool)
        covered[0] = covered[-1] = True
        for p0, seg in placed:
            covered[1 + max(0, p0):1 + min(n_out, p0 + len(seg))] = True
        edges = np.flatnonzero(np.diff(covered.astype(np.int8)))
        for a, b in zip(edges[::2], edges[1::2], strict=True):  # uncovered [a, b)
            y = gap_fill(a / sr, b / sr, int(b - a), out.shape[1], sr)
            if y is not None:
                out[a:b] += np.asarray(y, np.float32)[: b - a]
    k = min(n_out, int(round(fade_out_s * sr)))
    if k > 0:
        out[n_out - k:] *= np.cos(np.linspace(0, np.pi / 2, k, dtype=np.float32))[:, None] ** 2
    return out


def map_time(t: float, shot_start_audio: float, shot_start_picture: float) -> float:
    """A time inside a shot's sound span, on the picture clock."""
    return t - shot_start_audio + shot_start_picture
