"""Re-render caches: audio layers and dub masters, AAC tracks, vault-backed piece stores.

Each cache must give exactly what a cold computation gives, and a dialogue edit must redo
only what it changed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from studio_kit.audio.episode import VaultLayers, build_episode_audio
from studio_kit.edit.mux import MuxReport, mux_master
from studio_kit.edit.pieces import DirPieces, VaultPieces
from studio_kit.edit.synth import make_clip
from studio_kit.models import Act, CastMember, DialogueLine, Shot, Storyboard
from studio_kit.store.vault import Vault
from studio_kit.video_encoding import ffmpeg_exe


class DictLayers:
    """An in-memory LayerCache that counts what it is asked."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[dict[str, np.ndarray], dict[str, Any]]] = {}
        self.hits = 0
        self.puts: list[str] = []

    def get(self, key: str):
        hit = self.items.get(key)
        self.hits += hit is not None
        return None if hit is None else ({k: v.copy() for k, v in hit[0].items()}, hit[1])

    def put(self, key: str, arrays, meta) -> None:
        self.items[key] = ({k: v.copy() for k, v in arrays.items()}, dict(meta))
        self.puts.append(key)


def _episode(project, english: str) -> Storyboard:
    sb = Storyboard(episode="09", acts=[
        Act(id="a1", mood="mysterious", shots=[
            Shot(id="s1", scene="lamp_room", duration_s=2.0,
                 characters=[CastMember(character="theo", mark="by_window")],
                 action="A door bangs below.",
                 dialogue=[DialogueLine(character="theo", text=english,
                                        translations={"fr": "Mara ?"})]),
            Shot(id="s2", scene="lamp_room", duration_s=1.0,
                 characters=[CastMember(character="mara", mark="by_lens")],
                 dialogue=[DialogueLine(character="mara", text="Stay.",
                                        translations={"fr": "Reste."})]),
        ]),
    ])
    project.save_storyboard(sb)
    return sb


def _files(result) -> dict[str, bytes]:
    paths = {"master": result.master, "me": result.me, **result.stems}
    for lang, dub in result.dubs.items():
        paths[f"dub:{lang}"] = dub.master
        paths[f"dubdial:{lang}"] = dub.dialogue
    return {k: Path(v).read_bytes() for k, v in paths.items()}


def test_dialogue_edit_rerenders_only_the_dialogue(sample_project, tmp_path) -> None:
    cache = DictLayers()
    _episode(sample_project, "Mara?")
    cold = build_episode_audio(sample_project, "09", out_dir=tmp_path / "cold",
                               music_stems=False, dubs=["fr"])
    cached = build_episode_audio(sample_project, "09", out_dir=tmp_path / "c1",
                                 music_stems=False, dubs=["fr"], layer_cache=cache)
    assert _files(cached) == _files(cold)  # a cache miss computes what a cold build does
    assert len(cache.puts) == 4 and cache.hits == 0  # music, ambience, effects, fr dub
    again = build_episode_audio(sample_project, "09", out_dir=tmp_path / "c2",
                                music_stems=False, dubs=["fr"], layer_cache=cache)
    assert _files(again) == _files(cold) and cache.hits == 4 and len(cache.puts) == 4

    # an English line edit that keeps the shot's length; the French line is unchanged
    _episode(sample_project, "Theo?")
    edited_cold = build_episode_audio(sample_project, "09", out_dir=tmp_path / "ecold",
                                      music_stems=False, dubs=["fr"])
    def cuts(r):
        return [(t.shot_id, t.start_s, t.duration_s) for t in r.shots]

    assert cuts(edited_cold) == cuts(cold)  # same timing: only the words changed
    edited = build_episode_audio(sample_project, "09", out_dir=tmp_path / "e1",
                                 music_stems=False, dubs=["fr"], layer_cache=cache)
    assert len(cache.puts) == 4 and cache.hits == 8  # nothing new rendered but dialogue
    got, want = _files(edited), _files(edited_cold)
    assert got == want
    assert got["master"] != _files(cold)["master"]  # the edit is heard
    assert got["dub:fr"] == _files(cold)["dub:fr"]  # the dub did not change
    assert edited.dubs["fr"].report == cold.dubs["fr"].report


def test_vault_layers_round_trip(tmp_path) -> None:
    store = VaultLayers(Vault(tmp_path / "vault"))
    assert store.get("k") is None
    arrays = {"b": np.arange(12, dtype=np.float32).reshape(6, 2), "a": np.ones((3, 2))}
    store.put("k", arrays, {"report": {"gain_db": 1.5}})
    got, meta = store.get("k")
    assert list(got) == ["b", "a"]  # order kept: sums over layers stay bit-identical
    assert all(np.array_equal(got[k], arrays[k]) and got[k].dtype == arrays[k].dtype
               for k in arrays)
    assert meta == {"report": {"gain_db": 1.5}}


@pytest.fixture(scope="module")
def media(artifacts_dir: Path) -> dict[str, Path]:
    d = artifacts_dir / "render_caches"
    d.mkdir(parents=True, exist_ok=True)
    out = {"video": make_clip(d / "picture.mp4", seconds=2, width=160, height=90)}
    for name, hz in (("en", 440), ("en2", 550), ("fr", 660)):
        out[name] = d / f"{name}.wav"
        subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"sine=frequency={hz}:sample_rate=48000:duration=1.5",
                        str(out[name])], check=True)
    return out


def _audio(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        n = len(c.streams.audio)
    out = []
    for i in range(n):  # one pass per track: decoding reads the file to its end
        with av.open(str(path)) as c:
            out.append(np.concatenate([f.to_ndarray() for f in c.decode(audio=i)], axis=1))
    return out


def test_dub_track_is_not_reencoded_after_an_original_language_edit(media, tmp_path) -> None:
    pieces = VaultPieces(Vault(tmp_path / "vault"), "aac_track")
    rep = MuxReport()
    mux_master(media["video"], tmp_path / "a.mp4", audio=media["en"], dubs={"fr": media["fr"]},
               aac_cache=pieces, report=rep)
    assert (rep.encoded, rep.reused) == (2, 0)
    rep = MuxReport()
    edited = mux_master(media["video"], tmp_path / "b.mp4", audio=media["en2"],
                        dubs={"fr": media["fr"]}, aac_cache=pieces, report=rep)
    assert (rep.tracks, rep.encoded, rep.reused) == (2, 1, 1)  # only English re-encoded
    assert edited.audio_languages == ["eng", "fra"]
    mux_master(media["video"], tmp_path / "c.mp4", audio=media["en2"],
               dubs={"fr": media["fr"]})  # no cache: a scratch folder
    got, want = _audio(tmp_path / "b.mp4"), _audio(tmp_path / "c.mp4")
    assert len(got) == 2 and all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    # every track padded to the picture (2 s) and the picture stream-copied
    assert all(abs(a.shape[1] / 48000 - 2.0) < 0.05 for a in got)
    with av.open(str(media["video"])) as a, av.open(str(tmp_path / "b.mp4")) as b:
        assert [bytes(x) for x in a.demux(video=0) if x.size] == \
            [bytes(x) for x in b.demux(video=0) if x.size]


def test_dir_pieces_cache_keeps_files(tmp_path) -> None:
    cache = DirPieces(tmp_path, ".mov")
    src = tmp_path / "x.bin"
    src.write_bytes(b"abc")
    assert cache.get("k") is None
    assert cache.put("k", src).read_bytes() == b"abc" and cache.get("k") is not None


def test_prores_pieces_early_then_master_only_concatenates(media, tmp_path) -> None:
    from studio_kit.edit.mux import ProresReport, prores_master, prores_pieces

    pieces = VaultPieces(Vault(tmp_path / "vault"), "prores_piece")
    early = prores_pieces(media["video"], pieces, work_dir=tmp_path / "work")
    assert early.pieces >= 1 and early.encoded == early.pieces
    rep = ProresReport()
    prores_master(media["video"], tmp_path / "a.mov", audio=media["en"], pieces=pieces,
                  report=rep)
    assert rep.encoded == 0 and rep.reused == early.pieces
    prores_master(media["video"], tmp_path / "cold.mov", audio=media["en"])  # no cache
    with av.open(str(tmp_path / "a.mov")) as a, av.open(str(tmp_path / "cold.mov")) as b:
        assert [bytes(x) for x in a.demux(video=0) if x.size] == \
            [bytes(x) for x in b.demux(video=0) if x.size]


def test_pcm24_packing_is_the_low_three_bytes(tmp_path) -> None:
    import soundfile as sf

    from studio_kit.audio.mix import pack_pcm24, write_wav

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 5, 7, 1001):
        ints = rng.integers(-8388608, 8388608, size=(n, 2)).astype("<i4")
        want = np.ascontiguousarray(ints.view(np.uint8).reshape(-1, 4)[:, :3]).tobytes()
        assert pack_pcm24(ints) == want
    x = (rng.standard_normal((4801, 2)) * 0.5).astype(np.float32)
    x[0] = [1.5, -1.5]  # clamped to full scale, never wrapped
    y, sr = sf.read(str(write_wav(tmp_path / "x.wav", x)), dtype="float32", always_2d=True)
    assert sr == 48000 and y.shape == x.shape
    assert np.abs(y - np.clip(x, -1, 1)).max() < 2 / 8388608


def test_vault_pieces_force_stores_but_never_reuses(tmp_path) -> None:
    vault = Vault(tmp_path / "vault")
    src = tmp_path / "x.bin"
    src.write_bytes(b"abc")
    VaultPieces(vault, "transition_region").put("k", src)
    assert VaultPieces(vault, "transition_region").get("k").read_bytes() == b"abc"
    assert VaultPieces(vault, "transition_region", force=True).get("k") is None
    assert VaultPieces(vault, "prores_piece").get("k") is None  # kinds are separate
