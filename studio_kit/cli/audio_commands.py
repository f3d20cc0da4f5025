"""Audio commands: voices, say, mix."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..errors import StudioError
from . import app, console


@app.command()
def voices(engine: str = typer.Option("espeak", help="TTS engine"),
           language: str = typer.Option(None, "--language", "-l",
                                        help="Only voices for this language")) -> None:
    """List the languages and voices a TTS engine speaks (with counts)."""
    from rich.console import Console

    from ..audio.tts import get_tts

    tts = get_tts(engine)
    vs = tts.voices()
    by_lang: dict[str, list[str]] = {}
    for v in vs:
        for lang in v.languages:
            by_lang.setdefault(lang, []).append(v.name)
    if language:
        by_lang = {k: v for k, v in by_lang.items()
                   if k.lower() == language.lower() or k.lower().startswith(language.lower() + "-")}
        if not by_lang:
            raise StudioError(f"{engine} has no voice for {language!r}",
                              hint="run 'studio voices' for the full list")
    n_voices = len({name for names in by_lang.values() for name in names})
    table = Table(title=f"{engine}: {len(by_lang)} languages, {n_voices} voices")
    table.add_column("language")
    table.add_column("voices")
    for lang in sorted(by_lang):
        table.add_row(lang, ", ".join(sorted(set(by_lang[lang]))))
    out = Console()
    out.print(table)
    if variants := tts.variants():
        out.print(f"voice variants (VoiceProfile.voice): {', '.join(variants)}")
    out.print(f"{len(by_lang)} languages, {n_voices} voices")


@app.command()
def say(project: Path = typer.Argument(..., help="Series folder"),
        character: str = typer.Argument(..., help="Character id"),
        text: str = typer.Argument(..., help="What to say"),
        output: Path = typer.Option(Path("say.wav"), "-o", "--output", help="WAV to write"),
        language: str = typer.Option(None, "--language", "-l",
                                     help="Override the character's language")) -> None:
    """Speak a line in a character's voice to a WAV file."""
    from ..project.series_folder import Project

    p = Project.load(project)  # check the input before the (slow) audio imports
    ch = p.characters.get(character)
    if ch is None:
        raise StudioError(f"unknown character {character!r}", file=p.root / "characters",
                          hint=f"characters: {', '.join(sorted(p.characters)) or 'none'}")
    from ..audio import SAMPLE_RATE
    from ..audio.dialogue import cast_voices, synthesize, to_rate
    from ..audio.mix import write_wav

    voice = cast_voices(p.characters)[ch.id]  # the voice the episode gives them
    speech = synthesize(text, voice, language or voice.language, where="text")
    write_wav(output, to_rate(speech.samples, speech.sample_rate), SAMPLE_RATE)
    console.print(f"[green]wrote[/] {output} ({speech.duration_s:.2f} s, {speech.engine} "
                  f"voice {speech.voice}, {len(speech.visemes)} visemes)")


@app.command()
def mix(project: Path = typer.Argument(..., help="Series folder"),
        episode: str = typer.Argument("01"),
        language: str = typer.Option(None, "--language", "-l",
                                     help="Speak every line in this language"),
        out: Path = typer.Option(None, "--out", "-o", help="Output folder"),
        dubs: bool = typer.Option(True, help="Also build a dub per series language")) -> None:
    """Build, mix and master an episode's audio (master, stems, M&E, dubs)."""
    from ..project.series_folder import Project

    if out is not None and out.exists() and not out.is_dir():
        raise StudioError("--out is a file, not a folder", file=out, field="--out",
                          hint="pass a folder for the master, stems and dubs")
    p = Project.load(project)
    if language and language not in p.series.languages and not any(
            language in line.translations for shot in p.storyboard(episode).shots
            for line in shot.dialogue):
        raise StudioError(f"no line has a {language!r} translation and {language!r} is not "
                          "a series language", field="--language",
                          hint=f"series languages: {', '.join(p.series.languages)}; add "
                          f"{language} to series.yaml languages or translations to the lines")
    p.storyboard(episode)  # an unknown episode is reported before the audio imports
    from ..audio.episode import build_episode_audio

    result = build_episode_audio(p, episode, language=language, out_dir=out, dubs=dubs)
    r = result.report
    console.print(f"[green]mastered[/] {result.master}: {result.duration_s:.2f} s, "
                  f"{r.integrated_lufs:.2f} LUFS (target {r.target_lufs:g}), "
                  f"true peak {r.true_peak_dbtp:.2f} dBTP (ceiling {r.ceiling_dbtp:g})")
    for name, path in result.stems.items():
        console.print(f"  stem {name}: {path}")
    console.print(f"  M&E: {result.me}")
    for lang, dub in result.dubs.items():
        console.print(f"  dub {lang}: {dub.master} ({dub.report.integrated_lufs:.2f} LUFS, "
                      f"{dub.missing_translations} lines without translation)")
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {w}")
