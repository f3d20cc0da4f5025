"""DCP command: studio dcp MASTER OUT --title ... (SMPTE 2K DCP, see docs/dcp.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from . import app, console


@app.command()
def dcp(master: Path = typer.Argument(..., help="Picture master (MP4/MOV/MKV), 24 fps"),
        out: Path = typer.Argument(..., help="DCP folder to create (must not exist)"),
        title: str = typer.Option(..., "--title", help="ContentTitleText of the CPL"),
        audio: list[Path] = typer.Option(None, "--audio",
                                         help="Sound (default: the master's own); for 5.1 "
                                              "one 5.1 file or six mono stems L R C LFE Ls Rs"),
        container: str = typer.Option("flat", help="flat (1998x1080) or scope (2048x858)"),
        layout: str = typer.Option("stereo", "--layout", help="stereo or 5.1"),
        kind: str = typer.Option("feature", help="CPL ContentKind"),
        issuer: str = typer.Option("studio-kit", help="Issuer in the CPL/PKL"),
        convert_fps: bool = typer.Option(False, "--convert-fps",
                                         help="Retime a non-24 fps master to 24 fps"),
        subtitles: list[str] = typer.Option(None, "--subtitles", help=(
            "LANG=FILE.srt (repeatable): the MainSubtitle track file; --language picks "
            "which one when several are given")),
        language: str = typer.Option("en", "--language", help="The DCP's language"),
        subtitle_font: Path | None = typer.Option(None, "--subtitle-font", help=(
            "OpenType/TrueType font carried with the subtitles (default Courier Prime)")),
        ) -> None:
    """Export a SMPTE 2K DCP (XYZ JPEG 2000 + PCM in MXF, CPL, PKL, ASSETMAP)."""
    from pydantic import ValidationError

    from ..dcp import DcpError, DcpOptions, export_dcp

    subs: dict[str, Path] = {}
    for item in subtitles or []:
        lang, sep, path = item.partition("=")
        if not sep or not lang or not path:
            raise DcpError(f"--subtitles {item!r} is not LANG=FILE", field="subtitles",
                           hint="e.g. --subtitles en=captions/en.srt")
        subs[lang] = Path(path)
    try:
        opts = DcpOptions(title=title, container=container, audio=layout, kind=kind,
                          issuer=issuer, convert_fps=convert_fps, language=language,
                          subtitle_font=subtitle_font)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise DcpError(f"{e['msg']} (got {e['input']!r})", field=str(e["loc"][0]),
                       hint="--container flat|scope, --layout stereo|5.1") from None
    res = export_dcp(master, list(audio) if audio else master, out, opts,
                     subtitles=subs or None, progress=lambda f: console.print(f"  {f:5.0%}", end="\r"))
    console.print()
    for note in res.notes:
        console.print(f"note: {note}")
    console.print(f"DCP {res.path}: {res.frames} frames ({res.duration_s:.1f} s), "
                  f"{res.size[0]}x{res.size[1]}; provenance report {res.provenance_html}")
