"""Audio speed: a 3-minute episode (30 lines, 4 layers) built, mixed and mastered; eSpeak
synthesis speed; mastering with pyloudnorm + our true-peak limiter vs ffmpeg's two-pass
``loudnorm``; true-peak measurement, candidate-only vs full 4x oversampling.

Run: ``.venv/bin/python -m bench.audio_bench``
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from bench import cpu_seconds

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "lighthouse"

LINES = [
    ("mara", "That lamp has been dark for ten years.", {"fr": "Cette lampe est éteinte depuis dix ans."}),
    ("theo", "Mara? Are you up there?", {"fr": "Mara ? Tu es là-haut ?"}),
    ("mara", "Stay where you are, Theo.", {"fr": "Reste où tu es, Theo."}),
    ("theo", "Someone lit it. Who else has a key?", {"fr": "Quelqu'un l'a allumée. Qui a une clé ?"}),
    ("elodie", "Excusez-moi. Vous êtes la gardienne du phare ?", {"en": "Excuse me. Are you the lighthouse keeper?"}),
    ("mara", "Nobody. That's the problem.", {"fr": "Personne. C'est bien le problème."}),
]
SCENES = ["cliff_path", "lamp_room", "harbour_cafe"]
ACTIONS = ["Fog rolls in.", "Footsteps on the iron stair.", "A phone rings behind the counter.",
           "The door creaks open.", "Mara watches the beam.", "Glass shatters somewhere below."]


def _episode(project) -> None:
    from studio_kit.models import Act, CastMember, DialogueLine, Shot, Storyboard

    acts = []
    k = 0
    for a, mood in enumerate(["mysterious", "tense", "ominous"]):
        shots = []
        for _ in range(10):
            who, text, tr = LINES[k % len(LINES)]
            scene = SCENES[(k // 4) % 3]
            shots.append(Shot(id=f"s{k:02d}", scene=scene, duration_s=6.0,
                              characters=[CastMember(character=who)],
                              action=ACTIONS[k % len(ACTIONS)],
                              dialogue=[DialogueLine(character=who, text=text,
                                                     translations=tr)]))
            k += 1
        acts.append(Act(id=f"act{a}", mood=mood, shots=shots))
    project.save_storyboard(Storyboard(episode="99", acts=acts))


def _ffmpeg_loudnorm(src: Path, dst: Path, lufs: float, tp: float) -> None:
    from imageio_ffmpeg import get_ffmpeg_exe

    ff = get_ffmpeg_exe()
    first = subprocess.run([ff, "-hide_banner", "-nostats", "-i", str(src), "-af",
                            f"loudnorm=I={lufs}:TP={tp}:LRA=20:print_format=json", "-f", "null",
                            "-"], capture_output=True, text=True, check=True).stderr
    m = json.loads(first[first.rindex("{"):first.rindex("}") + 1])
    af = (f"loudnorm=I={lufs}:TP={tp}:LRA=20:measured_I={m['input_i']}:"
          f"measured_TP={m['input_tp']}:measured_LRA={m['input_lra']}:"
          f"measured_thresh={m['input_thresh']}:offset={m['target_offset']}:linear=true")
    subprocess.run([ff, "-hide_banner", "-y", "-i", str(src), "-af", af, "-ar", "48000",
                    "-c:a", "pcm_s24le", str(dst)], capture_output=True, check=True)


class _Clock:
    """Wall time and CPU time (this process + finished child processes such as ffmpeg):
    CPU time is the fairer figure when other jobs share the machine."""

    def __enter__(self) -> _Clock:
        self.w0 = time.perf_counter()
        self.c0 = cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = cpu_seconds() - self.c0

    def __str__(self) -> str:
        return f"{self.wall:.2f} s | {self.cpu:.2f} s"


def main() -> None:
    from scipy.signal import resample_poly

    from studio_kit.audio.dialogue import _CACHE, synthesize
    from studio_kit.audio.episode import build_episode_audio
    from studio_kit.audio.mix import integrated_lufs, master, true_peak_dbtp
    from studio_kit.models import LoudnessTarget
    from studio_kit.project.series_folder import Project

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lighthouse"
        shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns(".studio"))
        project = Project.load(root)
        _episode(project)

        # 1. eSpeak speed (cold cache)
        _CACHE.clear()
        dur = 0.0
        with _Clock() as c:
            for i in range(30):
                who, text, _ = LINES[i % len(LINES)]
                sp = synthesize(f"{text} ({i})", project.characters[who].voice,
                                project.characters[who].voice.language)
                dur += sp.duration_s
        rows.append(("eSpeak NG synthesis, 30 lines", str(c),
                     f"{dur:.1f} s of speech, {dur / c.cpu:.0f}x real time (CPU)"))

        # 2. whole episode, cold TTS cache, no dubs; then with 2 dubs
        _CACHE.clear()
        with _Clock() as c:
            res = build_episode_audio(project, "99", out_dir=Path(tmp) / "out", dubs=False,
                                      music_stems=False)
        rows.append((f"episode audio {res.duration_s:.0f} s, 30 lines, 4 layers: master + "
                     "4 stems + M&E (the pipeline's settings)",
                     str(c), f"{res.duration_s / c.wall:.0f}x real time (wall); "
                     f"{res.report.integrated_lufs:.2f} LUFS, {res.report.true_peak_dbtp:.2f} "
                     "dBTP"))
        with _Clock() as c:
            res2 = build_episode_audio(project, "99", out_dir=Path(tmp) / "out2")
        rows.append(("same + 4 music stems + dubs en, fr (each mixed and mastered)", str(c),
                     f"{len(res2.dubs)} dubs; "
                     f"{res2.duration_s * (1 + len(res2.dubs)) / c.wall:.0f}x real time (wall)"))

        # 3. mastering: ours vs ffmpeg loudnorm two-pass, on the same unmastered mix
        stems = [sf.read(res.stems[k], dtype="float32")[0] for k in res.stems]
        curve_scale = 10 ** (-res.report.gain_db / 20)
        mix = (sum(stems) * curve_scale).astype(np.float32)  # back to about the raw mix
        raw = Path(tmp) / "raw.wav"
        sf.write(raw, mix, 48000, subtype="FLOAT")
        target = LoudnessTarget()
        with _Clock() as ours:
            curve, rep = master(mix, target)
        out_ours = mix * curve[:, None]
        dst = Path(tmp) / "ff.wav"
        with _Clock() as ff:
            _ffmpeg_loudnorm(raw, dst, target.lufs, target.peak)
        ffx = sf.read(dst, dtype="float32")[0]
        rows.append(("master: pyloudnorm + true-peak limiter (ours)", str(ours),
                     f"{integrated_lufs(out_ours):.2f} LUFS, {true_peak_dbtp(out_ours):.2f} dBTP"))
        rows.append(("master: ffmpeg loudnorm two-pass (linear)", str(ff),
                     f"{integrated_lufs(ffx):.2f} LUFS, {true_peak_dbtp(ffx):.2f} dBTP; "
                     f"ours takes {ours.cpu / ff.cpu:.2f}x its CPU"))

        # 4. true-peak measurement
        with _Clock() as fast:
            tp_fast = true_peak_dbtp(out_ours)
        with _Clock() as slow:
            full = 20 * np.log10(max(np.abs(resample_poly(out_ours[:, c], 4, 1)).max()
                                     for c in range(2)))
        rows.append(("true peak: local maxima + 12-tap 4x interpolation (ours)",
                     str(fast), f"{tp_fast:.3f} dBTP"))
        rows.append(("true peak: full 4x resample_poly (naive)", str(slow),
                     f"{full:.3f} dBTP; ours takes {fast.cpu / slow.cpu:.2f}x its CPU"))

    print("| what | wall | CPU | result |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    import os

    print(f"\n(load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
