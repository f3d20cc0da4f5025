"""Synthesized lines persist in the vault: a new process speaks only changed lines."""

from __future__ import annotations

import numpy as np

from studio_kit.audio import dialogue
from studio_kit.audio.dialogue import VaultSpeechStore, synthesize
from studio_kit.audio.tts.base import clean_text
from studio_kit.models.character import VoiceProfile
from studio_kit.store.hashing import stable_hash
from studio_kit.store.vault import Vault


def _key(text: str, profile: VoiceProfile, lang: str) -> str:
    return stable_hash("tts", profile.engine, profile.model_dump_json(), lang,
                       clean_text(text, where="test"))


def test_line_round_trips_through_the_vault(tmp_path) -> None:
    vault = Vault(tmp_path / "vault")
    store = VaultSpeechStore(vault)
    profile = VoiceProfile(voice="f2", pitch=61)
    text = "The lamp is lit again."
    dialogue._CACHE.clear()
    spoken = synthesize(text, profile, "en", store=store)
    assert spoken.duration_s > 0.5
    rec = vault.lookup("tts", _key(text, profile, "en"))
    assert rec is not None
    back = VaultSpeechStore(vault).load(rec.key)
    assert back is not None and back.sample_rate == spoken.sample_rate
    assert np.array_equal(back.samples, spoken.samples)
    assert back.visemes == spoken.visemes and back.voice == spoken.voice
    assert back.phonemes == [tuple(p) for p in spoken.phonemes]


def test_a_stored_line_is_not_spoken_again(tmp_path) -> None:
    vault = Vault(tmp_path / "vault")
    store = VaultSpeechStore(vault)
    profile = VoiceProfile(rate=150)
    text = "Nobody has climbed the stair."
    dialogue._CACHE.clear()
    spoken = synthesize(text, profile, "en", store=store)
    # what another process stored under this line's key is what this one gets back
    marked = type(spoken)(**{**spoken.__dict__, "samples": np.full(480, 0.25, np.float32)})
    store.save(_key(text, profile, "en"), marked)
    dialogue._CACHE.clear()
    again = synthesize(text, profile, "en", store=store)
    assert len(again.samples) == 480 and float(again.samples[0]) == 0.25
    # a changed text is a different key: synthesized for real
    other = synthesize("Nobody at all.", profile, "en", store=store)
    assert other.duration_s > 0.3 and len(other.samples) != 480
