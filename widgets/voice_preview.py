"""Voice preview: speak a line in a character's voice; the WAV plays in the browser."""

from __future__ import annotations

import io
from typing import Any

import ipywidgets as w

from studio_kit.errors import StudioError
from studio_kit.models import Character, VoiceProfile

from . import validation


def speak_wav(text: str, profile: VoiceProfile, language: str | None = None) -> bytes:
    """Synthesize ``text`` with the profile's TTS engine and return WAV bytes (16-bit PCM)."""
    import soundfile as sf

    from studio_kit.audio.tts.base import get_tts

    speech = get_tts(profile.engine).synthesize(text, profile, language=language)
    buf = io.BytesIO()
    sf.write(buf, speech.samples, speech.sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def sample_line(project: Any, character: Character) -> str:
    """The character's first line in any storyboard, else a neutral sentence."""
    for ep in sorted(project.episodes.values(), key=lambda e: e.id):
        if ep.storyboard is None:
            continue
        for shot in ep.storyboard.shots:
            for line in shot.dialogue:
                if line.character == character.id:
                    return line.text
    return f"Hello, my name is {character.name}."


class VoicePreview(w.VBox):
    """Voice settings of one character, a line to try, Preview (plays) and Save."""

    def __init__(self, project: Any, character_id: str, form: validation.Form | None = None,
                 on_saved=None) -> None:
        self.project = project
        self.character_id = character_id
        self.form = form or validation.Form()
        self.on_saved = on_saved
        ch = project.characters[character_id]
        v = ch.voice
        self.engine_text = w.Text(value=v.engine, description="Engine")
        self.voice_text = w.Text(value=v.voice or "", description="Voice", placeholder="f3, m1 ...")
        self.language_text = w.Text(value=v.language, description="Language")
        self.pitch = w.IntSlider(value=v.pitch, min=0, max=99, description="Pitch")
        self.rate = w.IntSlider(value=v.rate, min=80, max=450, description="Rate (wpm)")
        self.line_text = w.Text(value=sample_line(project, ch), description="Line",
                           layout=w.Layout(width="520px"))
        self.play_button = w.Button(description="Preview voice")
        self.play_button.add_class("studio-voice-preview")
        self.save_button = w.Button(description="Save voice")
        self.audio = w.Audio(format="wav", autoplay=True, controls=True)
        self.audio.add_class("studio-voice-audio")
        self.audio_box = w.Box([])
        self.play_button.on_click(lambda _b: self.preview())
        self.save_button.on_click(lambda _b: self.save())
        self._shown = self.profile_data()
        f = self.form
        super().__init__([
            f.field("voice.engine", self.engine_text), f.field("voice.voice", self.voice_text),
            f.field("voice.language", self.language_text), f.field("voice.pitch", self.pitch),
            f.field("voice.rate", self.rate), self.line_text,
            w.HBox([self.play_button, self.save_button]), self.audio_box,
        ])

    def profile_data(self) -> dict[str, Any]:
        return {"engine": self.engine_text.value.strip(), "voice": self.voice_text.value.strip() or None,
                "language": self.language_text.value.strip(), "pitch": self.pitch.value,
                "rate": self.rate.value,
                "volume": self.project.characters[self.character_id].voice.volume}

    def candidate(self) -> dict[str, Any]:
        """The project's copy with the voice settings moved on this page (one left alone
        cannot revert a change saved elsewhere meanwhile)."""
        data = self.project.characters[self.character_id].model_dump(mode="json",
                                                                     exclude_none=True)
        shown = getattr(self, "_shown", {})
        voice = data.setdefault("voice", {})
        for k, v in self.profile_data().items():
            if k in shown and shown[k] == v:
                continue
            if v is None:
                voice.pop(k, None)
            else:
                voice[k] = v
        return data

    def preview(self) -> bytes | None:
        out: list[bytes] = []

        def act() -> str:
            ch = validation.check(self.project, "character", self.candidate())
            wav = speak_wav(self.line_text.value, ch.voice)  # type: ignore[union-attr]
            out.append(wav)
            self.audio.value = wav
            self.audio_box.children = [self.audio]
            return f"{len(wav) // 1024} KiB of speech"

        try:
            validation.guarded(self.form, act)
        except ImportError:
            self.form.show(StudioError("no TTS engine installed (studio_kit.audio)"))
        return out[0] if out else None

    def save(self) -> None:
        def act() -> str:
            merged: list[str] = []
            path = validation.save(self.project, "character", self.candidate(),
                                   on_merge=merged.extend)
            v = self.project.characters[self.character_id].voice
            if merged:  # show the merged voice, so a next save keeps it
                self.engine_text.value, self.voice_text.value = v.engine, v.voice or ""
                self.language_text.value = v.language
                self.pitch.value, self.rate.value = v.pitch, v.rate
            self._shown = self.profile_data()
            if self.on_saved:
                self.on_saved()
            return f"saved {path.name}" + (validation.merged_note(merged) if merged else "")

        validation.guarded(self.form, act)
