"""The feature's sound, streamed in blocks: memory does not grow with the running time.

The episodes' dialogue/effects/ambience stems cut like the picture (equal-power crossfades
at the seams), the music re-scored per feature act (mood arc, crossfades at act changes),
ducked under the dialogue, mastered ONCE for the whole feature to the delivery target and
encoded to AAC through ffmpeg's stdin. Nothing holds the whole programme in memory:

* pass 0 reads the speech layers block by block for the ducking sidechain (its 10 ms RMS
  frames: 4 bytes per 10 ms);
* pass 1 mixes each block and measures it with the BS.1770-4 K-weighting filter (pyloudnorm's
  own coefficients; the filter state is carried between blocks with ``scipy.signal.lfilter``
  ``zi``), keeping the 100 ms sub-block energies (16 bytes per 100 ms); the 400 ms gating
  blocks (75 % overlap) and the two-stage gating are applied at the end, as pyloudnorm does;
  each mixed block is spooled to a raw float32 file in the temporary folder (on disk,
  384 kB per second of programme: the later passes read it back by position, not mix again);
* pass 2 applies the gain and the look-ahead true-peak limiter of ``audio.mix`` (4x
  oversampled detection) to each block plus a margin either side, measures the result
  (loudness and true peak, streaming) and pipes the PCM into one AAC encode. If the limiter
  took the loudness off the target, measuring passes (no encode) step the gain by the
  secant of loudness against gain, and the encode runs again with the fitted gain.

The stems are WAV files read by position (soundfile seeks: no full decode, nothing decoded
twice); an old render without stems (its mix in an M4A, or the master) is decoded once to a
temporary float WAV. The music of each act is a 16-bar loop of the act's mood (the
progression repeats every 4 bars) rendered once by ``audio.music.render_bars`` and tiled on
the act's bar grid; its wrap is crossfaded with the ringing of the bar after it.

Hand-written gating (rather than ``pyloudnorm.Meter.integrated_loudness``): pyloudnorm only
measures a whole array; the streaming measurement here is the same formula on the same
filters, checked against it in tests/test_feature_sound.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from ..audio import SAMPLE_RATE
from ..audio.mix import (
    AAC_HEADROOM_DB,
    MixSettings,
    duck_frame_gains,
    gain_from_peaks,
    peak_envelope,
)
from ..errors import StudioError
from ..store.cache import FolderCache
from ..store.hashing import file_hash, stable_hash
from ..store.yamlio import atomic_write_text
from ..video_encoding import ffmpeg_exe

CROSSFADE_S = 0.25
MUSIC_CROSSFADE_S = 1.5
SPEECH_LAYERS = ("dialogue", "effects", "ambience")
#: Samples per streamed block: 8 s (a multiple of the 10 ms ducking hop and of the 100 ms
#: loudness sub-block at 48 kHz). Peak memory is a few blocks of stereo float32.
BLOCK = 8 * SAMPLE_RATE
#: Context either side of a block for the limiter's look-ahead and the 4x interpolation.
MARGIN = 2048
LOOP_BARS = 16
_HOP = SAMPLE_RATE // 100        # ducking frames (audio.mix.duck_gain)
_SUB = SAMPLE_RATE // 10         # 100 ms loudness sub-blocks; 4 make a 400 ms gating block
_LIMIT_MARGIN_DB = 0.3           # as audio.mix.master: the limiter aims under the ceiling


def stems_of(mix: str | None, master: str) -> dict[str, str]:
    """An episode's dialogue/effects/ambience stems (the music is re-scored), else its mix."""
    if mix:
        d = Path(mix).parent / "stems"
        files = {k: str(d / f"{k}.wav") for k in SPEECH_LAYERS}
        if all(Path(f).is_file() for f in files.values()):
            return files
    return {"mix": mix or master}


# -- reading the sources by position -------------------------------------------------------
class _Reader:
    """Frames [a, b) of a stereo audio file at SAMPLE_RATE, zero outside [0, limit)."""

    def __init__(self, path: str, limit: int, tmp: Path) -> None:
        self.limit = limit
        self.path = path
        try:
            info = sf.info(path)
            ok = info.samplerate == SAMPLE_RATE and info.channels in (1, 2)
        except (RuntimeError, sf.LibsndfileError):
            ok = False
        if not ok:  # an M4A mix or a master: decode ONCE to a float WAV, then seek in it
            self.path = str(tmp / f"decoded-{stable_hash(path)[:12]}.wav")
            if not Path(self.path).is_file():
                proc = subprocess.run(
                    [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", path, "-map", "0:a:0",
                     "-ac", "2", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_f32le", self.path],
                    capture_output=True, text=True)
                if proc.returncode:
                    raise StudioError(f"ffmpeg could not decode the sound of {path}: "
                                      f"{proc.stderr.strip()[-300:]}",
                                      hint="check the episode's master file")
        self._fh: sf.SoundFile | None = None

    def read(self, a: int, b: int) -> np.ndarray:
        out = np.zeros((b - a, 2), np.float32)
        lo, hi = max(a, 0), min(b, self.limit)
        if hi <= lo:
            return out
        if self._fh is None:
            self._fh = sf.SoundFile(self.path)
        fh = self._fh
        if lo >= fh.frames:
            return out
        fh.seek(lo)
        x = fh.read(hi - lo, dtype="float32", always_2d=True)
        out[lo - a: lo - a + len(x)] = x if x.shape[1] == 2 else x[:, :1]
        return out

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass
class _Item:
    start: int                     # feature sample where the item starts
    n: int                         # its samples
    segs: list[tuple[int, int, int]] = field(default_factory=list)  # (source, a, b) samples


class _Timeline:
    """The layers of the feature (before the music) read by feature sample position."""

    def __init__(self, seq, fps: float, stems: list[dict[str, str]], limits: list[int],
                 tmp: Path) -> None:
        self.items: list[_Item] = []
        t = 0
        for _p, d, _t, cuts, *_rest in seq:
            n = int(round(d * SAMPLE_RATE))
            segs = [(c.source, int(round(c.a / fps * SAMPLE_RATE)),
                     int(round(c.b / fps * SAMPLE_RATE))) for c in cuts]
            self.items.append(_Item(t, n, segs))
            t += n
        self.n = t
        self.starts = np.array([it.start for it in self.items], np.int64)
        self.names = tuple(k for k in ("dialogue", "effects", "ambience", "mix")
                           if any(k in st for st in stems))
        self.readers: dict[tuple[int, str], _Reader] = {}
        self.stems, self.limits, self.tmp = stems, limits, tmp
        self.fade = int(CROSSFADE_S * SAMPLE_RATE)
        # seams where a crossfade applies (as the in-memory join did: b - a > 2)
        self.seams = [(int(p), k) for p, k in ((s, min(self.fade // 2, s, self.n - s))
                                                for s in self.starts[1:]) if 2 * k > 2]

    def _reader(self, i: int, name: str) -> _Reader | None:
        if name not in self.stems[i]:
            return None
        r = self.readers.get((i, name))
        if r is None:
            if len(self.readers) >= 24:  # bounded open files
                for old in list(self.readers.values())[:8]:
                    old.close()
                self.readers = dict(list(self.readers.items())[8:])
            r = self.readers[(i, name)] = _Reader(self.stems[i][name], self.limits[i],
                                                  self.tmp)
        return r

    def raw(self, name: str, x: int, y: int) -> np.ndarray:
        """Feature samples [x, y) of a layer, butt-joined (no seam crossfades)."""
        out = np.zeros((y - x, 2), np.float32)
        x0, y0 = max(0, x), min(self.n, y)
        if y0 <= x0:
            return out
        k = int(np.searchsorted(self.starts, x0, side="right")) - 1
        while k < len(self.items) and self.items[k].start < y0:
            it = self.items[k]
            k += 1
            pos = it.start
            for src, a, b in it.segs:
                seg_end = min(pos + (b - a), it.start + it.n)
                lo, hi = max(pos, x0), min(seg_end, y0)
                if hi > lo:
                    r = self._reader(src, name)
                    if r is not None:
                        out[lo - x: hi - x] = r.read(a + lo - pos, a + hi - pos)
                pos += b - a
                if pos >= it.start + it.n:
                    break
        return out

    def layer(self, name: str, x: int, y: int) -> np.ndarray:
        """Feature samples [x, y) of a layer with the equal-power crossfades at the seams:
        the outgoing tail's last CROSSFADE_S/2 blends into the incoming head's first."""
        out = self.raw(name, x, y)
        lo = int(np.searchsorted([p for p, _k in self.seams], x, side="left"))
        for p, k in self.seams[lo:]:
            if p - k >= y:
                break
            a, b = max(x, p - k), min(y, p)
            if b <= a:
                continue
            head = self.raw(name, p + (a - (p - k)), p + (b - (p - k)))
            tail = out[a - x: b - x]
            w = (np.arange(a - (p - k), b - (p - k), dtype=np.float64) / max(1, k - 1))[:, None]
            out[a - x: b - x] = (tail * np.sqrt(1 - w) + head * np.sqrt(w)).astype(np.float32)
        return out

    def close(self) -> None:
        for r in self.readers.values():
            r.close()


# -- the music: a loop per act, tiled on its bar grid --------------------------------------
class _Score:
    def __init__(self, arc, total_n: int, seed: int) -> None:
        from ..audio.music import plan_score

        self.cues = plan_score(arc)
        self.n = total_n
        self.seed = seed
        self.loops: dict[int, np.ndarray] = {}
        total_s = total_n / SAMPLE_RATE
        half = MUSIC_CROSSFADE_S / 2
        self.spans = []
        for i, cue in enumerate(self.cues):
            a = cue.start_s - (half if i else 0.0)
            b = min(total_s, (cue.end_s + half) if i + 1 < len(self.cues) else total_s)
            self.spans.append((int(round(a * SAMPLE_RATE)), int(round(b * SAMPLE_RATE))))
        self.xf = int(MUSIC_CROSSFADE_S * SAMPLE_RATE)
        self.end_fade = min(total_n, int(2.0 * SAMPLE_RATE))

    def _loop(self, i: int) -> np.ndarray:
        """The act's music as one seamless LOOP_BARS loop (sum of the score's stems)."""
        hit = self.loops.get(i)
        if hit is None:
            from ..audio.music import render_bars

            spec = self.cues[i].spec
            # rendered with one bar more: the ringing past the loop's end (and the next
            # downbeat, the same chord as bar 0) crossfades into the loop's start
            stems = render_bars(spec, 0, LOOP_BARS + 1, seed=self.seed + i, sr=SAMPLE_RATE)
            full = sum(stems.values())
            n = int(round(LOOP_BARS * spec.bar_s * SAMPLE_RATE))
            m = min(int(0.5 * SAMPLE_RATE), len(full) - n)
            hit = full[:n].copy()
            if m > 0:
                th = np.linspace(0, np.pi / 2, m, dtype=np.float32)[:, None]
                hit[:m] = hit[:m] * np.sin(th) ** 2 + full[n:n + m] * np.cos(th) ** 2
            hit.setflags(write=False)
            if len(self.loops) >= 8:  # bounded: at most 2 acts overlap a block
                self.loops.pop(next(iter(self.loops)))
            self.loops[i] = hit
        return hit

    def block(self, x: int, y: int) -> np.ndarray:
        out = np.zeros((y - x, 2), np.float32)
        for i, (i0, i1) in enumerate(self.spans):
            lo, hi = max(x, i0), min(y, i1)
            if hi <= lo:
                continue
            loop = self._loop(i)
            origin = int(round(self.cues[i].start_s * SAMPLE_RATE))
            seg = loop[np.mod(np.arange(lo - origin, hi - origin), len(loop))]
            j = np.arange(lo - i0, hi - i0, dtype=np.float64)
            span = i1 - i0
            env = np.ones(hi - lo, np.float64)
            if i and self.xf:
                k = min(self.xf, span)
                ins = j < k
                env[ins] = np.sin(np.pi / 2 * j[ins] / max(1, k - 1)) ** 2
            if i + 1 < len(self.cues) and self.xf:
                k = min(self.xf, span)
                outs = j >= span - k
                env[outs] *= np.cos(np.pi / 2 * (j[outs] - (span - k)) / max(1, k - 1)) ** 2
            out[lo - x: hi - x] += seg * env[:, None].astype(np.float32)
        f0 = self.n - self.end_fade
        if self.end_fade and y > f0:
            lo = max(x, f0)
            j = np.arange(lo - f0, y - f0, dtype=np.float64)
            out[lo - x:] *= (1 - j / max(1, self.end_fade - 1)).astype(np.float32)[:, None]
        return out


# -- streaming BS.1770-4 loudness ----------------------------------------------------------
class LoudnessMeter:
    """Integrated loudness of a stereo stream fed in blocks (any lengths), as
    ``pyloudnorm.Meter(rate).integrated_loudness`` of the whole: same K-weighting filters
    (pyloudnorm's coefficients, state carried between blocks), 400 ms gating blocks every
    100 ms, absolute (-70 LUFS) and relative (-10 LU) gates."""

    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        import pyloudnorm as pyln

        meter = pyln.Meter(rate)
        self.rate = rate
        self.sub = int(round(0.1 * rate))
        self.stages = [(f.passband_gain, np.asarray(f.b, np.float64), np.asarray(f.a, np.float64))
                       for f in meter._filters.values()]
        self.zi: list[np.ndarray | None] = [None] * len(self.stages)
        self.energy: list[np.ndarray] = []   # per 100 ms sub-block, per channel
        self.pending = np.zeros((0, 2))
        self.samples = 0

    def add(self, x: np.ndarray) -> None:
        y = np.asarray(x, np.float64)
        self.samples += len(y)
        for k, (g, b, a) in enumerate(self.stages):
            if self.zi[k] is None:
                self.zi[k] = np.zeros((max(len(a), len(b)) - 1, 2))
            y, self.zi[k] = lfilter(b, a, y, axis=0, zi=self.zi[k])
            y = y * g
        y = np.concatenate([self.pending, y]) if len(self.pending) else y
        whole = len(y) // self.sub * self.sub
        if whole:
            self.energy.append(np.square(y[:whole]).reshape(-1, self.sub, 2).sum(axis=1))
        self.pending = y[whole:]

    def integrated(self) -> float:
        parts = self.energy + ([np.square(self.pending).sum(axis=0)[None, :]]
                               if len(self.pending) else [])
        e = np.concatenate(parts) if parts else np.zeros((0, 2))
        n_blocks = max(0, int(np.round((self.samples / self.rate - 0.4) / 0.1)) + 1)
        e = np.concatenate([e, np.zeros((n_blocks + 4, 2))])
        c = np.cumsum(np.vstack([np.zeros((1, 2)), e]), axis=0)
        z = (c[4:4 + n_blocks] - c[:n_blocks]) / (4 * self.sub)   # (blocks, channels)
        with np.errstate(divide="ignore", invalid="ignore"):
            lj = -0.691 + 10 * np.log10(z.sum(axis=1))
            gated = lj >= -70.0
            if not gated.any():
                return -70.0
            rel = -0.691 + 10 * np.log10(z[gated].mean(axis=0).sum()) - 10.0
            keep = (lj > rel) & (lj > -70.0)
            if not keep.any():
                return -70.0
            value = -0.691 + 10 * np.log10(z[keep].mean(axis=0).sum())
        return float(value) if np.isfinite(value) else -70.0


# -- the step ------------------------------------------------------------------------------
def sound_key(feature, srcs, seq, arc, stems) -> str:
    sig = [[(c.source, c.a, c.b) for c in cuts] for _p, _d, _t, cuts, _a, _m in seq]
    return stable_hash("feature-sound-3", feature.loudness.model_dump(), CROSSFADE_S,
                       MUSIC_CROSSFADE_S, LOOP_BARS, [round(d, 6) for _p, d, *_ in seq], sig,
                       [{k: file_hash(v)[:16] for k, v in st.items()} for st in stems], arc)


def feature_sound(feature, srcs, seq, arc, fps: float, pieces: Path, encoded: list[str],
                  reused: list[str], progress: Callable[[float], None] | None = None,
                  ) -> tuple[Path, dict]:
    """The feature's mastered AAC sound (cached by what it is made of) and its loudness
    report; see the module doc. ``progress(fraction)`` from 0 to 1."""
    say = progress or (lambda _f: None)
    stems = [stems_of(s.mix, s.master) for s in srcs]
    skey = sound_key(feature, srcs, seq, arc, stems)[:16]
    sounds = FolderCache(pieces, "feature-sound", prefix="sound-", suffix=".m4a")
    sound = sounds.path(skey)
    sound_rec = sound.with_suffix(".json")
    if sounds.get(skey) is not None and sound_rec.is_file():
        reused.append(sound.name)
        return sound, json.loads(sound_rec.read_text())
    settings = MixSettings()
    target = feature.loudness
    ceiling = target.peak - AAC_HEADROOM_DB
    limits = [int(round(s.duration_s * SAMPLE_RATE)) for s in srcs]
    with tempfile.TemporaryDirectory(dir=pieces) as stmp:
        tmp = Path(stmp)
        tl = _Timeline(seq, fps, stems, limits, tmp)
        try:
            n = tl.n
            score = _Score(arc, n, int(stable_hash("feature-music", feature.id)[:8], 16) % 10_000)
            blocks = [(x, min(n, x + BLOCK)) for x in range(0, n, BLOCK)]
            nb = max(1, len(blocks))

            def speech(x: int, y: int) -> np.ndarray:
                s = np.zeros((y - x, 2), np.float32)
                for k in ("dialogue", "mix"):
                    if k in tl.names:
                        s += tl.layer(k, x, y)
                return s

            # pass 0: the ducking sidechain (10 ms RMS frames of the speech)
            rms = []
            for j, (x, y) in enumerate(blocks):
                mono = speech(x, y).mean(axis=1)
                f = -(-len(mono) // _HOP)
                pad = np.zeros(f * _HOP, np.float32)
                pad[:len(mono)] = mono
                rms.append(np.sqrt(np.mean(pad.reshape(f, _HOP) ** 2, axis=1) + 1e-12))
                say(0.15 * (j + 1) / nb)
            frame_gain = duck_frame_gains(np.concatenate(rms) if rms else np.zeros(0),
                                          settings)
            del rms
            music_gain = np.float32(settings.gain("music"))
            frames_x = np.arange(len(frame_gain), dtype=np.float32)

            def mix(x: int, y: int) -> np.ndarray:
                """The unmastered feature mix, samples [x, y) (zeros outside [0, n))."""
                x0, y0 = max(0, x), min(n, y)
                out = np.zeros((y - x, 2), np.float32)
                if y0 <= x0:
                    return out
                m = out[x0 - x: y0 - x]
                m += speech(x0, y0)
                pos = np.arange(x0, y0, dtype=np.float32) / np.float32(_HOP) - np.float32(0.5)
                duck = np.interp(pos, frames_x, frame_gain).astype(np.float32)
                m += score.block(x0, y0) * (music_gain * duck)[:, None]
                for k in ("effects", "ambience"):
                    if k in tl.names:
                        m += tl.layer(k, x0, y0)
                return out

            # pass 1: the integrated loudness of the whole mix; the mix is spooled to a raw
            # float32 file beside the pieces (read back by position: not mixed again)
            meter = LoudnessMeter()
            silent = True
            spool = tmp / "mix.f32"
            with open(spool, "wb") as fh:
                for j, (x, y) in enumerate(blocks):
                    b = mix(x, y)
                    silent = silent and not np.any(b)
                    meter.add(b)
                    fh.write(np.ascontiguousarray(b, "<f4").tobytes())
                    say(0.15 + 0.35 * (j + 1) / nb)
            if silent:
                raise StudioError("the feature's mix is silent: nothing to master",
                                  hint="check that the episodes have dialogue, music or "
                                       "ambience")
            part = tmp / sound.name
            with open(spool, "rb") as fh:
                def spooled(x: int, y: int) -> np.ndarray:
                    out = np.zeros((y - x, 2), np.float32)
                    x0, y0 = max(0, x), min(n, y)
                    if y0 > x0:
                        fh.seek(x0 * 8)
                        out[x0 - x: y0 - x] = np.fromfile(fh, "<f4", (y0 - x0) * 2) \
                            .reshape(-1, 2)
                    return out

                loud = _fit_gain(spooled, blocks, target.lufs - meter.integrated(), target.lufs,
                                 ceiling, settings.loudness_tolerance_lu, part,
                                 lambda f: say(0.5 + 0.5 * f))
            sounds.publish(skey, part)
        finally:
            tl.close()
    rec = {"integrated_lufs": round(loud["integrated_lufs"], 2),
           "true_peak_dbtp": round(loud["true_peak_dbtp"], 2),
           "target_lufs": target.lufs}
    atomic_write_text(sound_rec, json.dumps(rec))
    encoded.append(sound.name)
    say(1.0)
    return sound, rec


def _fit_gain(mix, blocks, gain_db: float, target_lufs: float, ceiling: float, tol: float,
              part: Path, say: Callable[[float], None]) -> dict[str, float]:
    """The gain that lands on the target once the limiter has taken its share, and the
    encode with it. The first try encodes (most mixes land at once); otherwise measuring
    passes (no encode) step the gain by the secant of loudness against gain (the limiter
    takes part of every added dB), then the encode."""
    loud = _master_pass(mix, blocks, gain_db, ceiling, part, lambda f: say(0.5 * f))
    seen = [(gain_db, loud["integrated_lufs"])]
    for _ in range(8):
        err = target_lufs - loud["integrated_lufs"]
        over = loud["true_peak_dbtp"] - ceiling
        if abs(err) <= tol and over <= 0:
            break
        if over > 0:  # the residue went over the ceiling: trim
            gain_db -= over + 0.05
        else:
            slope = 1.0
            if len(seen) >= 2 and seen[-1][0] != seen[-2][0]:
                slope = (seen[-1][1] - seen[-2][1]) / (seen[-1][0] - seen[-2][0])
            gain_db += err / float(np.clip(slope, 0.05, 1.0))
        loud = _master_pass(mix, blocks, gain_db, ceiling, None, lambda _f: None)
        seen.append((gain_db, loud["integrated_lufs"]))
    else:
        raise StudioError(f"the feature's sound could not be mastered to {target_lufs} LUFS "
                          f"(reached {loud['integrated_lufs']:.2f})",
                          hint="lower the loudness target or the ceiling's demand")
    if len(seen) > 1:  # the gain moved since the encode: encode with it
        loud = _master_pass(mix, blocks, gain_db, ceiling, part, lambda f: say(0.5 + 0.5 * f))
    return loud


def _master_pass(mix, blocks, gain_db: float, ceiling: float, part: Path | None,
                 say: Callable[[float], None]) -> dict[str, float]:
    """Gain + look-ahead true-peak limiter, block by block, piped into one AAC encode
    (``part``; None: measure only); returns the loudness and true peak of the PCM."""
    g = np.float32(10 ** (gain_db / 20))
    limit = ceiling - _LIMIT_MARGIN_DB
    # only samples within ~4 dB of the ceiling after the gain can reach it (audio.mix.master)
    threshold = 10 ** ((limit - 4 - gain_db) / 20)
    meter = LoudnessMeter()
    peak = 0.0
    err = tempfile.TemporaryFile()
    proc = None if part is None else subprocess.Popen(
        [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "f32le", "-ar", str(SAMPLE_RATE),
         "-ac", "2", "-i", "pipe:0", "-c:a", "aac", "-b:a", "192k", str(part)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
    rc = 0
    try:
        for j, (x, y) in enumerate(blocks):
            ext = mix(x - MARGIN, y + MARGIN)
            env = peak_envelope(ext, threshold) * g
            curve = g * gain_from_peaks(env, limit)
            out = (ext * curve[:, None])[MARGIN: MARGIN + (y - x)]
            np.clip(out, -1.0, 1.0, out=out)
            meter.add(out)
            top = float(np.abs(out).max(initial=0.0))
            if top > 0:
                peak = max(peak, float(peak_envelope(out, top / 2).max()))
            if proc is not None:
                proc.stdin.write(np.ascontiguousarray(out, "<f4").tobytes())
            say((j + 1) / len(blocks))
        if proc is not None:
            proc.stdin.close()
            rc = proc.wait()
    except BaseException:
        if proc is not None:
            proc.kill()
            proc.wait()
        raise
    if rc:
        err.seek(0)
        raise StudioError("ffmpeg could not encode the feature sound: "
                          f"{err.read().decode(errors='replace').strip()[-400:]}",
                          hint="check that ffmpeg has the AAC encoder")
    return {"integrated_lufs": meter.integrated(),
            "true_peak_dbtp": 20 * math.log10(peak) if peak > 0 else -120.0}
