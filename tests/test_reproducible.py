"""Bit-reproducible renders: the same project rendered twice gives the same master essence.

Two clean renders (fresh project copies, each in its own Python process, as two users or
two CI runs would make them) at 64x36 without C2PA signing (its manifest carries a
timestamp) must give identical MP4 bytes, the same ProRes essence, identical decoded audio samples on every track
and identical video packets. What broke it: eSpeak NG seeded its random generator from the
clock and kept synthesis state between utterances (see ``audio/tts/espeak.py``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
from test_pipeline_episode import small_sample

ROOT = Path(__file__).resolve().parents[1]

_RENDER = """
import json, sys
from studio_kit.pipeline import RenderOptions, render_episode
opts = RenderOptions(engine="local", width=64, height=36, sign=False, prores=True)
r = render_episode(sys.argv[1], "01", options=opts, out_dir=sys.argv[2])
print(json.dumps({"master": r.master, "mix": r.mix, "prores": r.prores}))
"""


def _render_in_new_process(root: Path) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-c", _RENDER, str(root), str(root / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _essence(path: str) -> tuple[list[str], list[str]]:
    """(sha256 of each audio track's decoded samples, sha256 of each video packet)."""
    audio = []
    with av.open(path) as c:
        tracks = len(c.streams.audio)
        video = [hashlib.sha256(bytes(p)).hexdigest() for p in c.demux(video=0) if p.size]
    for n in range(tracks):
        with av.open(path) as c:
            pcm = [f.to_ndarray() for f in c.decode(audio=n)]
        audio.append(hashlib.sha256(np.concatenate(pcm, axis=-1).tobytes()).hexdigest())
    return audio, video


def test_two_clean_renders_give_identical_master_essence(tmp_path: Path) -> None:
    a = _render_in_new_process(small_sample(tmp_path / "a" / "lighthouse"))
    b = _render_in_new_process(small_sample(tmp_path / "b" / "lighthouse"))
    audio_a, video_a = _essence(a["master"])
    audio_b, video_b = _essence(b["master"])
    assert len(audio_a) == 2 and video_a  # main mix + French dub, and a picture
    assert audio_a == audio_b, "decoded audio differs between two renders"
    assert video_a == video_b, "video packets differ between two renders"
    assert Path(a["mix"]).read_bytes() == Path(b["mix"]).read_bytes()  # the PCM mix too
    assert Path(a["master"]).read_bytes() == Path(b["master"]).read_bytes()  # unsigned MP4
    assert _essence(a["prores"]) == _essence(b["prores"])  # and the ProRes master


def test_a_line_sounds_the_same_whatever_was_spoken_before() -> None:
    """eSpeak NG's state is reset per line: order and process history do not matter."""
    from studio_kit.audio.tts.espeak import EspeakTTS
    from studio_kit.models import VoiceProfile

    tts = EspeakTTS()
    mara = VoiceProfile(engine="espeak", language="en", voice="f3", pitch=55, rate=165)
    theo = VoiceProfile(engine="espeak", language="en", voice="m3", pitch=40, rate=180)
    line = "That lamp has been dark for ten years."
    first = tts.synthesize(line, mara, language="en").samples
    tts.synthesize("Mara? Are you up there?", theo, language="en")
    tts.synthesize("Bonjour, je cherche la gardienne.", mara, language="fr")
    again = tts.synthesize(line, mara, language="en").samples
    assert np.array_equal(first, again)
