"""Masters: MP4 (H.264 + AAC, dub tracks, soft subtitles) and ProRes 422 HQ .mov (PCM).

The picture is stream-copied into the MP4 (it was encoded once, by the shot render or a
transition segment); audio tracks are padded or trimmed to the picture's exact duration so
sound and picture end together. Every audio and subtitle track carries an ISO 639-2
language tag, which is what players show in their language menus.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel

from ..errors import StudioError
from .encoding import H264_PARAMS
from .frames import run_ffmpeg
from .probe import MediaInfo, probe

# ISO 639-1 -> ISO 639-2/T. Hand-written because no package in our stack maps them
# (babel knows language names, not alpha-3 codes); 3-letter codes pass through unchanged.
_ISO639_2 = {
    "ar": "ara", "bn": "ben", "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan",
    "de": "deu", "el": "ell", "en": "eng", "es": "spa", "et": "est", "eu": "eus",
    "fa": "fas", "fi": "fin", "fr": "fra", "ga": "gle", "gl": "glg", "he": "heb",
    "hi": "hin", "hr": "hrv", "hu": "hun", "hy": "hye", "id": "ind", "is": "isl",
    "it": "ita", "ja": "jpn", "ka": "kat", "ko": "kor", "lt": "lit", "lv": "lav",
    "ms": "msa", "nb": "nob", "nl": "nld", "nn": "nno", "no": "nor", "pl": "pol",
    "pt": "por", "ro": "ron", "ru": "rus", "sk": "slk", "sl": "slv", "sq": "sqi",
    "sr": "srp", "sv": "swe", "sw": "swa", "ta": "tam", "th": "tha", "tr": "tur",
    "uk": "ukr", "ur": "urd", "vi": "vie", "yo": "yor", "zh": "zho", "zu": "zul",
    "br": "bre", "af": "afr", "am": "amh", "ha": "hau", "ig": "ibo", "te": "tel",
}


def iso639_2(language: str) -> str:
    """'en' / 'pt-BR' / 'fra' -> 'eng' / 'por' / 'fra'."""
    primary = language.split("-")[0].lower()
    if len(primary) == 3 and primary.isalpha():
        return primary
    try:
        return _ISO639_2[primary]
    except KeyError:
        raise StudioError(f"no ISO 639-2 code known for language {language!r}",
                          field="languages",
                          hint="use a 3-letter ISO 639-2 code (e.g. 'bre') in series.yaml"
                          ) from None


class MasterInfo(BaseModel):
    path: str
    duration_s: float
    audio_languages: list[str]
    subtitle_languages: list[str]


def _check(path: str | Path, what: str) -> str:
    if not Path(path).is_file():
        raise StudioError(f"{what} not found", file=path, hint="render that stage first")
    return str(path)


def mux_master(
    video: str | Path,
    out: str | Path,
    *,
    audio: str | Path | None = None,
    audio_language: str = "en",
    dubs: Mapping[str, str | Path] | None = None,
    subtitles: Mapping[str, str | Path] | None = None,
    title: str | None = None,
    audio_bitrate: str = "192k",
) -> MasterInfo:
    """MP4 master: picture copied, master mix + dubs as AAC, SRT files as mov_text tracks.

    ``dubs``/``subtitles``: language -> audio file / .srt file.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    vinfo = probe(video).video
    duration = vinfo.frames / (vinfo.fps or 24) if vinfo.frames else vinfo.duration_s
    inputs = ["-i", _check(video, "picture")]
    maps = ["-map", "0:v:0"]
    meta: list[str] = []
    audio_tracks: list[tuple[str, str]] = []
    if audio is not None:
        audio_tracks.append((audio_language, _check(audio, "master mix")))
    for lang, path in (dubs or {}).items():
        audio_tracks.append((lang, _check(path, f"{lang} dub")))
    for n, (lang, path) in enumerate(audio_tracks):
        inputs += ["-i", path]
        maps += ["-map", f"{n + 1}:a:0"]
        code = iso639_2(lang)
        meta += [f"-metadata:s:a:{n}", f"language={code}",
                 f"-metadata:s:a:{n}", f"title={'Main mix' if n == 0 and audio else 'Dub'}"
                 f" ({lang})", f"-disposition:a:{n}", "default" if n == 0 else "0"]
    subs = list((subtitles or {}).items())
    for n, (lang, path) in enumerate(subs):
        inputs += ["-i", _check(path, f"{lang} captions")]
        maps += ["-map", f"{len(audio_tracks) + n + 1}:s:0"]
        meta += [f"-metadata:s:s:{n}", f"language={iso639_2(lang)}",
                 f"-disposition:s:{n}", "0"]
    codecs = ["-c:v", "copy"]
    if audio_tracks:
        codecs += ["-c:a", "aac", "-b:a", audio_bitrate, "-ar", "48000", "-af", "apad"]
    if subs:
        codecs += ["-c:s", "mov_text"]
    if title:
        meta += ["-metadata", f"title={title}"]
    part = out.with_name(f".{out.name}.part.mp4")
    run_ffmpeg([*inputs, *maps, *codecs, *meta, "-t", f"{duration:.6f}",
                "-movflags", "+faststart", str(part)], what="mux the MP4 master", file=out)
    part.replace(out)
    return _master_info(probe(out, packets=False))


def prores_master(
    video: str | Path,
    out: str | Path,
    *,
    audio: str | Path | None = None,
    audio_language: str = "en",
    dubs: Mapping[str, str | Path] | None = None,
) -> MasterInfo:
    """ProRes 422 HQ (prores_ks profile 3, 10-bit 4:2:2) .mov with 24-bit PCM audio."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    vinfo = probe(video).video
    duration = vinfo.frames / (vinfo.fps or 24) if vinfo.frames else vinfo.duration_s
    inputs = ["-i", _check(video, "picture")]
    maps = ["-map", "0:v:0"]
    meta: list[str] = []
    tracks = ([(audio_language, str(audio))] if audio is not None else []) + [
        (k, str(v)) for k, v in (dubs or {}).items()]
    for n, (lang, path) in enumerate(tracks):
        inputs += ["-i", _check(path, f"{lang} audio")]
        maps += ["-map", f"{n + 1}:a:0"]
        meta += [f"-metadata:s:a:{n}", f"language={iso639_2(lang)}"]
    p = H264_PARAMS
    codecs = ["-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0",
              "-pix_fmt", "yuv422p10le", "-colorspace", p.colorspace,
              "-color_primaries", p.color_primaries, "-color_trc", p.color_trc,
              "-color_range", p.color_range]
    if tracks:
        codecs += ["-c:a", "pcm_s24le", "-ar", "48000", "-af", "apad"]
    part = out.with_name(f".{out.name}.part.mov")
    run_ffmpeg([*inputs, *maps, *codecs, *meta, "-t", f"{duration:.6f}", str(part)],
               what="encode the ProRes master", file=out)
    part.replace(out)
    return _master_info(probe(out, packets=False))


def _master_info(info: MediaInfo) -> MasterInfo:
    return MasterInfo(path=info.path, duration_s=info.duration_s,
                      audio_languages=[s.language or "und" for s in info.of_type("audio")],
                      subtitle_languages=[s.language or "und" for s in info.of_type("subtitle")])
