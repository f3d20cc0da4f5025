"""Shared helpers for the surfaces: which project to open, small HTML pieces."""

from __future__ import annotations

import html
from pathlib import Path

from studio_kit import resources
from studio_kit.project.series_folder import Project
from studio_kit.settings import settings

DEFAULT_PROJECT = resources.sample_series()


def project_path(path: str | Path | None = None) -> Path:
    """The project a surface opens: ``path``, else $STUDIO_PROJECT, else the sample series."""
    if path:
        return Path(path).resolve()
    env = settings().project
    return env.resolve() if env else DEFAULT_PROJECT


def open_project(path: str | Path | None = None) -> Project:
    return Project.load(project_path(path))


def storyboarded_episodes(project: Project) -> list[str]:
    """The project's episodes that have a storyboard, in order (a clear error when there is
    none: the surfaces that edit or deliver an episode need one)."""
    from studio_kit.errors import StudioError

    eps = [e for e, ep in sorted(project.episodes.items()) if ep.storyboard]
    if not eps:
        raise StudioError("no episode has a storyboard", file=project.root / "episodes",
                          hint="import a script first (studio import-script)")
    return eps


def header(title: str, subtitle: str = "") -> str:
    sub = f"<div style='color:#555'>{html.escape(subtitle)}</div>" if subtitle else ""
    return f"<h2 style='margin:4px 0'>{html.escape(title)}</h2>{sub}"


def table(rows: list[dict], columns: list[str] | None = None, css_class: str = "") -> str:
    """A plain HTML table (escaped) for read-only listings."""
    if not rows:
        return "<i>none</i>"
    columns = columns or list(rows[0])
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(c)}</th>"
                   for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:2px 8px'>{html.escape(str(r.get(c, '')))}</td>"
                         for c in columns) + "</tr>" for r in rows)
    return f"<table class='{css_class}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
