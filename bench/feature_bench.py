"""Feature assembly from rendered episodes vs a full re-encode of the same timeline.

    .venv/bin/python bench/feature_bench.py [--size 320x180] [--minutes 30]

Renders the sample episodes once (local engine, tiny), then times side by side in one run:
(a) ``assemble_feature`` with a cold piece cache (stream copy of each master + cards + one
sound master), (b) the same with a warm cache, (c) a full H.264 re-encode of the same
timeline (what a naive editor export does). ``--minutes N`` builds an N-minute feature
("short" format at 20-40 min) by drawing on the two rendered episodes again and again
(every other repeat drops the cold open and the end hook, so the cut pieces are real);
it then changes one episode's master and re-assembles, counting the re-encoded pieces.

The feature's sound step, side by side on the same timeline (captured from the cold
assembly): ``before`` (the in-memory step this replaced, kept below as
``legacy_feature_sound``: every stem decoded whole, the score synthesized whole, mastered
in memory) and ``after`` (``studio_kit.feature.sound.feature_sound``, streamed in blocks),
each in its own spawned process so its peak RSS (``ru_maxrss``) is its own; ``--profile``
prints a cProfile of the streamed step. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import studio_kit.feature.assemble as assemble_mod  # noqa: E402
from studio_kit.audio.mix import (  # noqa: E402
    SAMPLE_RATE,
    integrated_lufs,
    master,
    true_peak_dbtp,
    write_wav,
)
from studio_kit.feature.assemble import (  # noqa: E402
    _decode_audio,
    _run,
    assemble_feature,
    full_reencode,
)
from studio_kit.feature.sound import (  # noqa: E402
    CROSSFADE_S,
    MUSIC_CROSSFADE_S,
    feature_sound,
    stems_of,
)
from studio_kit.models.feature import Feature  # noqa: E402
from studio_kit.pipeline import RenderOptions, render_episode  # noqa: E402
from studio_kit.store.cache import FolderCache  # noqa: E402
from studio_kit.store.hashing import file_hash, stable_hash  # noqa: E402
from studio_kit.store.yamlio import atomic_write_text  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--minutes", type=float, default=0.0)
    ap.add_argument("--profile", action="store_true", help="cProfile the streamed sound step")
    ap.add_argument("--no-legacy", action="store_true", help="skip the in-memory sound step")
    args = ap.parse_args()
    load_before = os.getloadavg()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmpd:
        base = Path(tmpd)
        series = base / "lighthouse"
        shutil.copytree(ROOT / "samples" / "lighthouse", series,
                        ignore=shutil.ignore_patterns(".studio", "out"))
        opts = RenderOptions(engine="local", width=w, height=h, sign=False, prores=False)
        t0 = time.perf_counter()
        for ep in ("01", "02"):
            render_episode(series, ep, options=opts)
        render_s = time.perf_counter() - t0
        sources = [{"series": "lighthouse", "episode": e} for e in ("01", "02")]
        fmt = "anthology"
        if args.minutes:
            import json

            ep_s = sum(json.loads((series / "out" / f"episode-{e}" / "render.json")
                                  .read_text())["duration_s"] for e in ("01", "02"))
            reps = max(1, int(args.minutes * 60 // ep_s))
            sources = [{"series": "lighthouse", "episode": e, "act": 1 + k * 3 // reps,
                        "drop": ["cold_open", "end_hook"] if k % 2 else []}
                       for k in range(reps) for e in ("01", "02")]
            fmt = "short" if 20 <= args.minutes <= 40 else "anthology"
        f = Feature.model_validate({"id": "bench", "title": "Bench", "format": fmt,
                                    "sources": sources, "recaps": bool(args.minutes)})
        out = base / "feature" / "bench.mp4"
        captured: dict = {}

        def capture(*a, **k):  # the cold assembly's sound step, timed in the process
            captured["args"] = a
            t = time.perf_counter()
            r = feature_sound(*a, **k)
            captured["seconds"] = time.perf_counter() - t
            return r

        assemble_mod.feature_sound = capture
        rss0 = _maxrss_mb()
        cold = assemble_feature(f, base, out)
        rss_cold = _maxrss_mb()
        assemble_mod.feature_sound = feature_sound
        warm = assemble_feature(f, base, out)
        t0 = time.perf_counter()
        full_reencode(out, base / "full.mp4")
        full_s = time.perf_counter() - t0
        row = {
            "size": args.size, "sources": len(sources), "feature_s": cold.duration_s,
            "episodes_render_s": round(render_s, 2), "assemble_cold_s": cold.seconds,
            "assemble_cold_sound_s": round(captured["seconds"], 2),
            "maxrss_mb_before_cold": rss0, "maxrss_mb_after_cold": rss_cold,
            "pieces_cold": len(cold.pieces_encoded), "assemble_warm_s": warm.seconds,
            "full_reencode_s": round(full_s, 2),
            "speedup_cold": round(full_s / cold.seconds, 1),
            "speedup_warm": round(full_s / warm.seconds, 1)}
        if args.minutes:  # one episode changes: only its pieces are made again
            m = series / "out" / "episode-02" / "episode-02.mp4"
            m.write_bytes(m.read_bytes() + b"\0" * 16)
            again = assemble_feature(f, base, out)
            row.update({"changed_episode_s": again.seconds,
                        "changed_pieces_encoded": again.pieces_encoded,
                        "speedup_changed": round(full_s / again.seconds, 1)})
        feat, srcs, seq, arc, fps = captured["args"][:5]
        steps = [("after", "stream")] + ([] if args.no_legacy else [("before", "legacy")])
        for name, how in steps:  # each in a fresh process: its own peak RSS
            import multiprocessing as mp

            folder = base / f"sound-{name}"
            folder.mkdir()
            with mp.get_context("spawn").Pool(1) as pool:
                res = pool.apply(_sound_step, (how, feat, srcs, seq, arc, fps, str(folder)))
            row[f"sound_{name}"] = res
        if "sound_before" in row:
            b, a = row["sound_before"], row["sound_after"]
            row["sound_speedup"] = round(b["seconds"] / a["seconds"], 1)
            row["sound_peak_rss_ratio"] = round(b["peak_rss_mb"] / a["peak_rss_mb"], 1)
            row["sound_step_rss_ratio"] = round(
                (b["peak_rss_mb"] - b["rss_at_start_mb"]) /
                max(1.0, a["peak_rss_mb"] - a["rss_at_start_mb"]), 1)
        if args.profile:
            import cProfile
            import pstats

            folder = base / "sound-profile"
            folder.mkdir()
            pr = cProfile.Profile()
            pr.enable()
            feature_sound(feat, srcs, seq, arc, fps, folder, [], [])
            pr.disable()
            pstats.Stats(pr, stream=sys.stderr).sort_stats("cumulative").print_stats(20)
        row["load_average_before"] = [round(v, 2) for v in load_before]
        row["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
        print(yaml.safe_dump(row, sort_keys=False))


def _maxrss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _proc_status_mb(field: str) -> float:
    """VmHWM / VmRSS of this process in MB. (ru_maxrss is not used in the spawned process:
    Linux carries the parent's high-water mark over fork + exec; VmHWM is the new image's.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _sound_step(how: str, feature, srcs, seq, arc, fps, folder: str) -> dict:
    """One sound step in this (spawned) process: seconds, peak RSS, the loudness report."""
    fn = feature_sound if how == "stream" else legacy_feature_sound
    base_rss = _proc_status_mb("VmRSS")
    t = time.perf_counter()
    _p, loud = fn(feature, srcs, seq, arc, fps, Path(folder), [], [])
    return {"seconds": round(time.perf_counter() - t, 2),
            "peak_rss_mb": _proc_status_mb("VmHWM"), "rss_at_start_mb": base_rss,
            "loudness": loud}


# -- the in-memory sound step the streamed one replaced (issue 15), for the side by side --
def _join_audio(parts: list[np.ndarray]) -> np.ndarray:
    """Butt-joined (the running time stays the picture's) with a short crossfade at seams."""
    fade = int(CROSSFADE_S * SAMPLE_RATE)
    out = np.concatenate(parts) if parts else np.zeros((0, 2))
    pos = 0
    for p in parts[:-1]:
        pos += len(p)
        a, b = max(0, pos - fade // 2), min(len(out), pos + fade // 2)
        if b - a > 2:
            # equal-power blend of the outgoing tail into the incoming head
            tail, head = out[a:pos].copy(), out[pos:b].copy()
            k = min(len(tail), len(head))
            w = np.linspace(0, 1, k)[:, None]
            out[pos - k:pos] = tail[-k:] * np.sqrt(1 - w) + head[:k] * np.sqrt(w)
    return out



def legacy_feature_sound(feature, srcs, seq, arc, fps, pieces, encoded, reused):
    """Dialogue/effects/ambience stems cut like the picture, joined with equal-power
    crossfades at the seams; the music re-scored for the feature's mood arc (crossfades at
    act changes, continuous across episode seams inside an act), ducked under dialogue;
    mastered ONCE for the whole feature. Cached by what it is made of."""
    from studio_kit.audio.mix import MixSettings, duck_gain
    from studio_kit.audio.music import plan_score, render_score

    stems = [stems_of(s.mix, s.master) for s in srcs]
    sig = [[(c.source, c.a, c.b) for c in cuts] for _p, _d, _t, cuts, _a, _m in seq]
    skey = stable_hash("feature-sound-2", feature.loudness.model_dump(), CROSSFADE_S,
                       MUSIC_CROSSFADE_S, [round(d, 6) for _p, d, *_ in seq], sig,
                       [{k: file_hash(v)[:16] for k, v in st.items()} for st in stems], arc)
    sounds = FolderCache(pieces, "feature-sound", prefix="sound-", suffix=".m4a")
    sound = sounds.path(skey[:16])
    sound_rec = sound.with_suffix(".json")
    if sounds.get(skey[:16]) is not None and sound_rec.is_file():
        reused.append(sound.name)
        return sound, json.loads(sound_rec.read_text())
    cache: dict[tuple[int, str], np.ndarray] = {}

    def layer(i: int, name: str) -> np.ndarray:
        if (i, name) not in cache:
            path = stems[i].get(name)
            cache[(i, name)] = _decode_audio(path, srcs[i].duration_s).astype(np.float32)
        return cache[(i, name)]

    # only the layers some source has (no full-length zeros): memory is the limit at length
    names = tuple(k for k in ("dialogue", "effects", "ambience", "mix")
                  if any(k in st for st in stems))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for _p, d, _t, cuts, _a, _m in seq:
        n = int(round(d * SAMPLE_RATE))
        for k in names:
            if not cuts:
                parts[k].append(np.zeros((n, 2), np.float32))
                continue
            segs = []
            for c in cuts:
                x = layer(c.source, k) if k in stems[c.source] else None
                a, b = int(round(c.a / fps * SAMPLE_RATE)), int(round(c.b / fps * SAMPLE_RATE))
                segs.append(x[a:b] if x is not None else np.zeros((b - a, 2), np.float32))
            y = np.concatenate(segs)
            parts[k].append(np.pad(y, ((0, max(0, n - len(y))), (0, 0)))[:n])
    joined: dict[str, np.ndarray] = {}
    for k in names:
        joined[k] = _join_audio(parts.pop(k)).astype(np.float32, copy=False)
    cache.clear()
    n_total = len(next(iter(joined.values())))
    settings = MixSettings()
    score = render_score(plan_score(arc), n_total / SAMPLE_RATE, crossfade_s=MUSIC_CROSSFADE_S,
                         seed=int(stable_hash("feature-music", feature.id)[:8], 16) % 10_000)
    music = score.popitem()[1][:n_total].copy()
    while score:
        music += score.popitem()[1][:n_total]
    del score
    # the speech is what the music ducks under (old renders without stems: their mix)
    speech = joined.pop("dialogue", None)
    if "mix" in joined:
        speech = joined.pop("mix") if speech is None else speech + joined.pop("mix")
    music *= np.float32(settings.gain("music"))
    music *= duck_gain(speech, settings)[:, None]
    mix = speech
    mix += music
    del music
    for k in list(joined):
        mix += joined.pop(k)
    curve, _report = master(mix, feature.loudness)
    mastered = mix * curve[:, None]
    with tempfile.TemporaryDirectory(dir=pieces) as stmp:
        wav = write_wav(Path(stmp) / "mix.wav", mastered.astype(np.float32))
        part_s = Path(stmp) / sound.name
        _run(["-i", str(wav), "-c:a", "aac", "-b:a", "192k", str(part_s)],
             "encode the feature sound")
        sounds.publish(skey[:16], part_s)
    loud = {"integrated_lufs": round(integrated_lufs(mastered), 2),
            "true_peak_dbtp": round(true_peak_dbtp(mastered), 2),
            "target_lufs": feature.loudness.lufs}
    atomic_write_text(sound_rec, json.dumps(loud))
    encoded.append(sound.name)
    return sound, loud



if __name__ == "__main__":
    main()
