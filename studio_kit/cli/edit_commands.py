"""Edit commands: export-otio, export-timeline, import-timeline, probe."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import StudioError
from ..project.series_folder import Project
from . import app, console


@app.command("export-otio")
def export_otio_cmd(
    project: Path = typer.Argument(..., help="Series folder"),
    episode: str = typer.Argument(..., help="Episode number, e.g. 01"),
    out: Path = typer.Option(..., "-o", "--output", help="The .otio file to write"),
    render: Path | None = typer.Option(
        None, help="The render to export: its render.json, its episode folder or its "
        "output folder (default: <project>/out/episode-NN)"),
    clips: Path | None = typer.Option(
        None, help="Before any render: folder of shots named <shot id>.mp4 for a cut planned "
        "from the storyboard (missing ones are left as offline media)"),
    planned: bool = typer.Option(
        False, "--planned", help="Export the cut planned from the storyboard (nominal "
        "durations, no sound) even if a render exists"),
) -> None:
    """Export an episode's cut to OpenTimelineIO: by default the cut the last render made
    (the master's durations, cards, transitions, sound tracks); before any render, the cut
    planned from the storyboard."""
    from ..edit.timeline import timeline_from_storyboard
    from ..exporters.otio import find_render
    from ..registry import EXPORTERS

    p = Project.load(project)
    sb = p.storyboard(episode)
    exporter = EXPORTERS.get("otio")()
    if render is None and clips is None and not planned:
        default = p.root / "out" / f"episode-{sb.episode}"
        try:
            render = find_render(default)
        except StudioError:
            render = None
    if render is not None and not planned:
        if clips is not None:
            raise StudioError("--clips and --render exclude each other", field="clips",
                              hint="a render's cut uses the clips the render made")
        record = find_render(render, sb.episode)
        exporter.export_render(record, out, episode=sb.episode, project=p.root)
        import opentimelineio as otio

        back = otio.adapters.read_from_file(str(out))
        audio = [t for t in back.tracks if t.kind == otio.schema.TrackKind.Audio]
        console.print(f"[green]wrote[/] {out}: the cut of {record} - "
                      f"{len(list(back.tracks[0].find_clips()))} clips, "
                      f"{len(audio)} sound tracks, {back.duration().to_seconds():.2f} s")
        return
    found: dict[str, Path] = {}
    if clips is not None:
        if not clips.is_dir():
            raise StudioError("clips folder not found", file=clips,
                              hint="pass the folder holding <shot id>.mp4 files")
        found = {s.id: clips / f"{s.id}.mp4" for s in sb.shots if (clips / f"{s.id}.mp4").is_file()}
    fmt = p.series.format
    tl = timeline_from_storyboard(sb, found, fps=fmt.fps_fraction, width=fmt.width,
                                  height=fmt.height, series_title=p.series.title)
    exporter.export(tl, out)
    console.print(f"[green]wrote[/] {out}: {len(tl.items)} clips "
                  f"({len(found)}/{len(sb.shots)} shots with media), {tl.duration_s:.2f} s")
    console.print("[yellow]planned from the storyboard[/]: nominal durations, no sound; "
                  "a render's cut (dialogue-lengthened shots, transition handles) differs - "
                  "render first for the cut the master has")


@app.command("probe")
def probe_cmd(
    file: Path = typer.Argument(..., help="A video or audio file"),
    as_json: bool = typer.Option(False, "--json", help="Print the full probe as JSON"),
) -> None:
    """Streams, durations, frame counts, keyframes and languages of a media file."""
    from rich.console import Console
    from rich.table import Table

    from ..edit.probe import probe

    info = probe(file)
    if as_json:
        typer.echo(info.model_dump_json(indent=2, exclude={"streams": {"__all__": {
            "extradata_hex"}}}))
        return
    table = Table(title=f"{file} ({info.format}, {info.duration_s:.3f} s, "
                        f"{info.size_bytes / 1e6:.2f} MB)")
    for col in ("#", "type", "codec", "profile", "lang", "duration s", "frames", "detail",
                "keyframes"):
        table.add_column(col)
    for s in info.streams:
        if s.type == "video":
            detail = f"{s.width}x{s.height} {s.fps or 0:g} fps {s.pix_fmt}"
        elif s.type == "audio":
            detail = f"{s.sample_rate} Hz x{s.channels}"
        else:
            detail = s.title or ""
        keys = f"{len(s.keyframes_s)}" if s.type == "video" else ""
        table.add_row(str(s.index), s.type, s.codec, s.profile or "", s.language or "",
                      f"{s.duration_s:.3f}", str(s.frames), detail, keys)
    Console().print(table)


@app.command("export-timeline")
def export_timeline_cmd(
    project: Path = typer.Argument(..., help="Series folder"),
    episode: str = typer.Argument(..., help="Episode number, e.g. 01"),
    out: Path = typer.Option(..., "-o", "--output",
                             help="The file to write: .otio, .edl (CMX 3600), .xml (FCP 7) or "
                                  ".fcpxml (Final Cut Pro X)"),
    fmt: str | None = typer.Option(
        None, "--format", help="otio, edl, fcp7 or fcpx (default: from the -o suffix)"),
) -> None:
    """Export the storyboard's cut for an editor; clip names are shot ids; with a render,
    each clip is the shot's current take with its real length (trims as source ranges)."""
    from ..exporters.interchange import FORMATS, export_timeline, format_suffix, take_media

    if fmt is not None:
        suffix = format_suffix(fmt)
        if out.suffix.lower() not in FORMATS:
            out = out.with_name(out.name + suffix)
        elif out.suffix.lower() != suffix:
            raise StudioError(f"--format {fmt} writes {suffix}, not {out.suffix}", file=out,
                              field="--format", hint=f"name the file *{suffix}, or drop "
                                                     "--format")
    p = Project.load(project)
    sb = p.storyboard(episode)
    media = take_media(p, sb.episode)
    path = export_timeline(sb, out, media)
    console.print(f"[green]wrote[/] {path}: {len(sb.shots)} clips "
                  f"({len(media)} with their takes)")


@app.command("import-timeline")
def import_timeline_cmd(
    project: Path = typer.Argument(..., help="Series folder"),
    episode: str = typer.Argument(..., help="Episode number, e.g. 01"),
    timeline: Path = typer.Argument(..., help="The edited .otio, .edl, .xml or .fcpxml"),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the changes, write nothing"),
) -> None:
    """Merge an edited timeline (order, trims, removals, transitions) into the storyboard;
    anything ambiguous is listed with its clip name."""
    from ..exporters.interchange import merge_timeline, take_media

    p = Project.load(project)
    sb = p.storyboard(episode)
    report = merge_timeline(sb, timeline, take_media(p, sb.episode))
    console.print(report.text())
    if dry_run or not report.changes:
        console.print("[yellow]dry run: nothing written[/]" if dry_run else "nothing to do")
        return
    assert report.storyboard is not None
    console.print(f"[green]wrote[/] {p.save_storyboard(report.storyboard)}")
