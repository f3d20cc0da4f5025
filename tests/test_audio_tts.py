"""TTS: eSpeak NG (embedded) and the ElevenLabs adapter against a local fake server."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fakes.elevenlabs_server import FakeElevenLabs

from studio_kit.audio.tts import TTSError, clean_text, get_tts
from studio_kit.audio.tts.base import TTSAuthError, TTSRateLimited, TTSServiceError
from studio_kit.audio.tts.elevenlabs import ElevenLabsTTS
from studio_kit.models import VoiceProfile
from studio_kit.registry import TTS
from studio_kit.visemes import Viseme


def test_registered_engines() -> None:
    assert {"espeak", "elevenlabs"} <= set(TTS.names())


def test_espeak_languages_and_voices() -> None:
    tts = get_tts("espeak")
    langs = tts.languages()
    assert len(langs) >= 100, len(langs)  # the shipped data: ~150 codes, 141 voices
    assert {"en", "fr", "de", "ja", "sw", "cmn"} <= set(langs)
    assert {"m1", "f2"} <= set(tts.variants())


def test_espeak_line_has_samples_phonemes_visemes() -> None:
    s = get_tts("espeak").synthesize("Stay where you are, Theo.", VoiceProfile(voice="m3"))
    assert s.sample_rate == 22050
    assert 0.8 < s.duration_s < 3.0
    assert np.abs(s.samples).max() > 0.05
    assert s.voice == "en+m3"
    starts = [p[0] for p in s.phonemes]
    assert starts == sorted(starts) and len(starts) > 10
    kinds = {v for _, v in s.visemes}
    assert {Viseme.e, Viseme.cdg} & kinds and s.visemes[-1][1] == Viseme.rest
    assert s.visemes[-1][0] <= s.duration_s + 1e-6


def test_french_line_uses_french_voice() -> None:
    tts = get_tts("espeak")
    text = "Bonjour, je suis journaliste."
    fr = tts.synthesize(text, VoiceProfile(language="fr", voice="f2"))
    en = tts.synthesize(text, VoiceProfile(language="en", voice="f2"))
    assert fr.voice == "fr+f2" and fr.language == "fr"
    fr_ph = [p[2].lstrip("',") for p in fr.phonemes]
    en_ph = [p[2].lstrip("',") for p in en.phonemes]
    # French phonology: nasal vowel in "bonjour", front rounded /y/ in "suis", and a
    # plain /Z/ in "journaliste"; English reads the same letters with 'dZ' and long vowels.
    assert "O~" in fr_ph and "y" in fr_ph and "dZ" not in fr_ph
    assert "dZ" in en_ph and "O~" not in en_ph


def test_voice_parameters_change_the_audio() -> None:
    tts = get_tts("espeak")
    slow = tts.synthesize("One two three four.", VoiceProfile(rate=120))
    fast = tts.synthesize("One two three four.", VoiceProfile(rate=300))
    assert fast.duration_s < slow.duration_s * 0.7
    quiet = tts.synthesize("One two.", VoiceProfile(volume=30))
    loud = tts.synthesize("One two.", VoiceProfile(volume=150))
    assert np.abs(quiet.samples).max() < np.abs(loud.samples).max()


@pytest.mark.parametrize("language", ["xx", "zz-QQ"])
def test_unknown_language_is_a_clear_error(language: str) -> None:
    with pytest.raises(TTSError) as err:
        get_tts("espeak").synthesize("hello", VoiceProfile(language=language))
    assert "no voice for language" in str(err.value) and "studio voices" in str(err.value)


def test_unknown_voice_variant_is_a_clear_error() -> None:
    with pytest.raises(TTSError, match="no voice variant 'm99'"):
        get_tts("espeak").synthesize("hello", VoiceProfile(voice="m99"))


def test_text_cleaning_markup_emoji_and_empty() -> None:
    assert clean_text("<b>Hello</b> *there* 😀 [[note]] {beat} friend") == "Hello there friend"
    for bad in ("", "   ", "😀🎉", "<break/>", "..."):
        with pytest.raises(TTSError, match="nothing to speak"):
            clean_text(bad)


def test_dialogue_line_with_emoji_is_spoken_without_it(sample_project) -> None:
    from studio_kit.audio.dialogue import speak_line
    from studio_kit.models import DialogueLine

    line = DialogueLine(character="mara", text="I see it 🔦 now.")
    sl = speak_line(sample_project.characters, line, shot_id="x", index=0)
    assert sl.text == "I see it 🔦 now." and sl.duration_s > 0.5
    with pytest.raises(TTSError, match="shot x line 1"):
        speak_line(sample_project.characters, DialogueLine(character="mara", text="🔦"),
                   shot_id="x", index=0)


# -- ElevenLabs adapter against a real loopback server -------------------------------------
KEY = "sk-test-5ecret-4242"


@pytest.fixture
def eleven(monkeypatch):
    with FakeElevenLabs(api_key=KEY) as server:
        monkeypatch.setenv("ELEVENLABS_API_KEY", KEY)
        monkeypatch.setenv("ELEVENLABS_BASE_URL", server.url)
        yield server


def _profile() -> VoiceProfile:
    return VoiceProfile(engine="elevenlabs", voice="v-rachel", language="fr")


def test_elevenlabs_happy_path(eleven) -> None:
    tts = ElevenLabsTTS()
    s = tts.synthesize("Bonjour Mara", _profile())
    assert s.sample_rate == 22050 and abs(s.duration_s - 12 * 0.07) < 0.01
    assert s.language == "fr" and s.voice == "v-rachel"
    assert s.visemes[0] == (0.0, Viseme.mbp)  # 'B'
    assert (0.07, Viseme.o) in s.visemes  # 'o'
    req = eleven.requests[-1]
    assert req["path"].startswith("/v1/text-to-speech/v-rachel/with-timestamps")
    assert "output_format=pcm_22050" in req["path"]
    assert req["headers"]["xi-api-key"] == KEY
    assert [v.id for v in tts.voices()] == ["v-rachel", "v-adam"]


def test_elevenlabs_401_is_auth_error_without_the_key(eleven, monkeypatch) -> None:
    monkeypatch.setenv("ELEVENLABS_API_KEY", "wrong-key-777")
    with pytest.raises(TTSAuthError) as err:
        ElevenLabsTTS().synthesize("Bonjour", _profile())
    assert "401" in str(err.value) and "wrong-key-777" not in str(err.value)


def test_elevenlabs_missing_key(eleven, monkeypatch) -> None:
    monkeypatch.delenv("ELEVENLABS_API_KEY")
    with pytest.raises(TTSAuthError, match="ELEVENLABS_API_KEY is not set"):
        ElevenLabsTTS().synthesize("Bonjour", _profile())


def test_elevenlabs_429_honours_retry_after(eleven) -> None:
    eleven.script(429, {"detail": "rate limited"}, {"Retry-After": "1"})
    tts = ElevenLabsTTS()
    t0 = time.monotonic()
    s = tts.synthesize("Oui", _profile())
    assert time.monotonic() - t0 >= 0.95
    assert s.duration_s > 0 and tts.attempts == [(429, 1.0), (200, 0.0)]


def test_elevenlabs_429_gives_up(eleven) -> None:
    for _ in range(3):
        eleven.script(429, {"detail": "rate limited"}, {"Retry-After": "0"})
    tts = ElevenLabsTTS(max_retries=2)
    with pytest.raises(TTSRateLimited):
        tts.synthesize("Oui", _profile())
    assert [a[0] for a in tts.attempts] == [429, 429, 429]


def test_elevenlabs_5xx_retries_then_succeeds_or_fails(eleven) -> None:
    eleven.script(500, {"detail": "boom"})
    eleven.script(503, "")
    tts = ElevenLabsTTS(backoff_s=0.05)
    assert tts.synthesize("Oui", _profile()).duration_s > 0
    assert [a[0] for a in tts.attempts] == [500, 503, 200]
    for _ in range(2):
        eleven.script(502, "")
    with pytest.raises(TTSServiceError, match="HTTP 502 after 2 attempts"):
        ElevenLabsTTS(max_retries=1, backoff_s=0.05).synthesize("Oui", _profile())


@pytest.mark.parametrize("body", ["{not json", {"audio_base64": "???", "alignment": {}},
                                  {"alignment": {"characters": ["a"]}}, "[1, 2]"])
def test_elevenlabs_malformed_answers(eleven, body) -> None:
    eleven.script(200, body)
    with pytest.raises(TTSServiceError):
        ElevenLabsTTS().synthesize("Oui", _profile())


def test_elevenlabs_bad_input(eleven) -> None:
    with pytest.raises(TTSError, match="does not speak 'sw'"):
        ElevenLabsTTS().synthesize("Habari", _profile().model_copy(update={"language": "sw"}))
    with pytest.raises(TTSError, match="voice not found"):
        ElevenLabsTTS().synthesize("Oui", _profile().model_copy(update={"voice": "nope"}))


def test_elevenlabs_in_an_episode_never_writes_the_key(eleven, sample_project, tmp_path) -> None:
    from studio_kit.audio.episode import build_episode_audio
    from studio_kit.models import Act, DialogueLine, Shot, Storyboard

    ch = sample_project.characters["elodie"]
    sample_project.save_character(ch.model_copy(update={"voice": _profile()}))
    sb = Storyboard(episode="07", acts=[Act(id="a", mood="calm", shots=[
        Shot(id="s1", scene="harbour_cafe", duration_s=1.5,
             dialogue=[DialogueLine(character="elodie", text="Oui, bien sûr.")])])])
    sample_project.save_storyboard(sb)
    out = tmp_path / "audio"
    result = build_episode_audio(sample_project, "07", out_dir=out, dubs=False)
    assert result.cues[0].engine == "elevenlabs"
    for path in [*out.rglob("*"), *sample_project.root.rglob("*")]:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
