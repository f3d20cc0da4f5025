"""store.cache: one cache abstraction over the vault, one --force mechanism for every cache.

Real vault on disk, real files; the force scope is checked across threads (a render's pools
share the vault object, not the context)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from studio_kit.audio import dialogue
from studio_kit.audio.dialogue import VaultSpeechStore, synthesize
from studio_kit.audio.episode import VaultLayers
from studio_kit.edit.pieces import VaultPieces
from studio_kit.models.character import VoiceProfile
from studio_kit.store import cache as cache_mod
from studio_kit.store.cache import (
    NAMESPACES,
    Cache,
    force_vault,
    forcing,
    namespace,
    reset_stats,
    stats,
)
from studio_kit.store.vault import Vault


def test_put_lookup_counts_and_same_record_format(tmp_path) -> None:
    vault = Vault(tmp_path / "v")
    c = Cache(vault, "qc-reference")
    key = c.key("scene", 1)
    assert c.lookup(key) is None
    src = tmp_path / "a.bin"
    src.write_bytes(b"piece")
    rec = c.put(key, files={"piece": src}, data={"j": b"{}"}, meta={"m": 1})
    assert not src.exists()  # moved into the vault
    # the record is the vault's own stage record: readable by the raw primitive too
    raw = vault.lookup("qc-reference", key)
    assert raw is not None and raw.outputs == rec.outputs and raw.meta == {"m": 1}
    assert c.get_file(key, "piece").read_bytes() == b"piece"
    assert c.get_file(key, "absent") is None
    assert (c.counts.hits, c.counts.misses, c.counts.puts) == (2, 1, 1)
    # a corrupt object is a miss (quarantined), so its entry is made again
    vault.path(rec.outputs["piece"]).write_bytes(b"bit rot")
    assert Cache(vault, "qc-reference").lookup(key) is None


def test_json_and_array_entries_round_trip(tmp_path) -> None:
    vault = Vault(tmp_path / "v")
    c = Cache(vault, "audio_layer")
    made = []
    value = c.get_or_make("k", "reference", lambda: made.append(1) or {"a": [1, 2]})
    assert value == {"a": [1, 2]} and made == [1]
    assert c.get_or_make("k", "reference", lambda: made.append(2)) == {"a": [1, 2]}
    assert made == [1]
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    c.put_arrays("arr", {"music": x}, {"lufs": -23.0})
    arrays, meta = c.get_arrays("arr")
    assert np.array_equal(arrays["music"], x) and meta == {"lufs": -23.0}
    assert not list((vault.root / "tmp").iterdir())  # scratch .npy files moved in


def test_forcing_remakes_once_per_scope_and_a_normal_run_hits(tmp_path) -> None:
    vault = Vault(tmp_path / "v")
    Cache(vault, "tts").put_json("k", "r", {"v": 1})
    assert Cache(vault, "tts").get_json("k", "r") == {"v": 1}  # a normal run hits
    with forcing():
        forced = Cache(Vault(tmp_path / "v"), "tts")
        assert forced.forcing and forced.lookup("k") is None  # made before the scope
        forced.put_json("k", "r", {"v": 2})
        # made inside the scope: reused (also by another cache object of the scope)
        assert Cache(vault, "tts").get_json("k", "r") == {"v": 2}
        assert forced.counts.forced == 1
    assert not Cache(vault, "tts").forcing
    assert Cache(vault, "tts").get_json("k", "r") == {"v": 2}
    with forcing(False):  # a flag passed through: nothing forced
        assert Cache(vault, "tts").get_json("k", "r") == {"v": 2}


def test_generation_is_never_forced(tmp_path) -> None:
    """--force never pays for a take again: the paid generation cache is not forceable."""
    assert NAMESPACES["generation"].forceable is False
    vault = force_vault(Vault(tmp_path / "v"))
    Cache(vault, "generation").put_json("h", "video", {"asset": "x"})
    with forcing():
        assert Cache(vault, "generation").get_json("h", "video") == {"asset": "x"}
    with pytest.raises(ValueError, match="already declared"):
        namespace("generation", "x", forceable=True)


def test_a_vault_bound_scope_reaches_every_thread(tmp_path) -> None:
    """forcing() is a context variable: threads of a pool do not inherit it; a scope bound
    to the vault object (force_vault, what a forced render does) reaches them all."""
    vault = Vault(tmp_path / "v")
    for i in range(4):
        Cache(vault, "transition_region").put_json(f"k{i}", "piece", i)
    with forcing(), ThreadPoolExecutor(2) as pool:
        seen = list(pool.map(lambda i: Cache(vault, "transition_region").lookup(f"k{i}")
                             is not None, range(4)))
    assert seen == [True] * 4  # the context did not travel into the pool's threads
    force_vault(vault)
    scope = vault.force_scope
    force_vault(vault)  # idempotent: the scope (what it made) is kept
    assert vault.force_scope is scope

    def work(i: int) -> bool:
        c = Cache(vault, "transition_region")
        if c.lookup(f"k{i}") is not None:
            return True
        c.put_json(f"k{i}", "piece", i * 10)
        return False

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(work, range(4))) == [False] * 4  # all re-made
        assert list(pool.map(work, range(4))) == [True] * 4  # then reused in the scope
    assert Cache(Vault(tmp_path / "v"), "transition_region").get_json("k3", "piece") == 30


def test_a_vault_opened_inside_forcing_carries_the_scope(tmp_path) -> None:
    Cache(Vault(tmp_path / "v"), "aac_track").put_json("k", "piece", 1)
    with forcing():
        vault = Vault(tmp_path / "v")
    hit = []
    t = threading.Thread(target=lambda: hit.append(Cache(vault, "aac_track").lookup("k")))
    t.start()
    t.join()
    assert hit == [None]


def test_stats_per_namespace(tmp_path) -> None:
    reset_stats()
    vault = Vault(tmp_path / "v")
    Cache(vault, "conform_track").lookup("a")
    Cache(vault, "conform_track").put_json("a", "track", 1)
    Cache(vault, "conform_track").lookup("a")
    assert stats()["conform_track"] == {"hits": 1, "misses": 1, "puts": 1, "forced": 0}
    reset_stats()
    assert stats() == {}


def test_pieces_and_layers_obey_the_scope_and_their_own_flag(tmp_path) -> None:
    vault = Vault(tmp_path / "v")
    src = tmp_path / "x.bin"
    src.write_bytes(b"abc")
    VaultPieces(vault, "prores_piece").put("k", src)
    assert VaultPieces(vault, "prores_piece").get("k").read_bytes() == b"abc"
    assert VaultPieces(vault, "prores_piece", force=True).get("k") is None
    assert not VaultPieces(vault, "prores_piece", force=False).force
    x = np.ones((4, 2), np.float32)
    VaultLayers(vault).put("m", {"music": x}, {"n": 4})
    assert VaultLayers(vault).get("m")[1] == {"n": 4}
    forced = force_vault(Vault(tmp_path / "v"))
    assert VaultPieces(forced, "prores_piece").force
    assert VaultPieces(forced, "prores_piece").get("k") is None
    assert VaultLayers(forced).get("m") is None
    VaultLayers(forced).put("m", {"music": x * 2}, {"n": 4})
    assert np.array_equal(VaultLayers(forced).get("m")[0]["music"], x * 2)


def test_tts_lines_are_spoken_again_under_force_once(tmp_path, monkeypatch) -> None:
    """The memory copy and the vault store both obey the scope: a forced run speaks each
    line once, then reuses it inside the run; a normal run speaks nothing."""
    from studio_kit.audio.tts import base as tts_base

    calls: list[str] = []
    real = tts_base.get_tts

    def counting(engine: str):
        eng = real(engine)

        class Counted:
            def synthesize(self, text, profile, language):
                calls.append(text)
                return eng.synthesize(text, profile, language=language)

        return Counted()

    monkeypatch.setattr(dialogue, "get_tts", counting)
    profile = VoiceProfile(voice="f2")
    text = "The keeper climbs."
    dialogue._CACHE.clear()
    store = VaultSpeechStore(Vault(tmp_path / "v"))
    first = synthesize(text, profile, "en", store=store)
    synthesize(text, profile, "en", store=store)
    dialogue._CACHE.clear()
    synthesize(text, profile, "en", store=VaultSpeechStore(Vault(tmp_path / "v")))
    assert calls == [text]  # memory, then the vault: spoken once
    forced = VaultSpeechStore(force_vault(Vault(tmp_path / "v")))
    again = synthesize(text, profile, "en", store=forced)  # in memory AND in the vault
    assert calls == [text, text]
    assert np.array_equal(again.samples, first.samples)  # same line, made anew
    synthesize(text, profile, "en", store=forced)
    synthesize(text, profile, "en", store=VaultSpeechStore(forced.vault))
    assert calls == [text, text]  # once per forced run
    with forcing():  # no store: the memory copy obeys the context's scope
        synthesize(text, profile, "en")
        synthesize(text, profile, "en")
    assert calls == [text, text, text]
    assert isinstance(json.loads(json.dumps(cache_mod.stats())), dict)  # plain data


def test_folder_cache_publishes_counts_and_obeys_the_scope(tmp_path) -> None:
    from studio_kit.edit.pieces import DirPieces
    from studio_kit.store.cache import FolderCache

    c = FolderCache(tmp_path, "feature-card", prefix="card-", suffix=".mp4")
    assert c.get("k") is None
    part = c.part("k")
    assert part.name.endswith(".mp4") and part.parent == tmp_path
    part.write_bytes(b"card")
    p = c.publish("k", part)
    assert p == tmp_path / "card-k.mp4" and not part.exists()
    assert c.get("k") == p and (c.counts.hits, c.counts.misses, c.counts.puts) == (1, 1, 1)
    with forcing():
        assert c.get("k") is None  # made before the scope
        part = c.part("k")
        part.write_bytes(b"card 2")
        c.publish("k", part)
        assert c.get("k").read_bytes() == b"card 2"
    assert FolderCache(tmp_path, "x", prefix="card-", suffix=".mp4", force=True).get("k") is None
    d = DirPieces(tmp_path, ".m4a")
    src = tmp_path / "t.bin"
    src.write_bytes(b"aac")
    assert d.put("key", src) == tmp_path / "key.m4a" and d.get("key").read_bytes() == b"aac"
