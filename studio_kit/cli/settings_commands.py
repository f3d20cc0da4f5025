"""``studio settings``: every STUDIO_* variable, its value now, its default and its use."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ..settings import StudioSettings, env_name, secret_fields, settings
from . import app

_HELP = ("Show the studio's configuration: every STUDIO_* environment variable (one "
         "pydantic-settings model, studio_kit/settings.py), its value now, its default and "
         "what it sets. Secrets show only 'set' or 'unset'. docs/configuration.md has the "
         "same table.")


@app.command("settings", help=_HELP)
def show_settings(
    only_set: bool = typer.Option(False, "--set", help="Only the variables set now."),
) -> None:
    conf = settings()  # a bad value stops here with its variable named
    secrets = set(secret_fields())
    table = Table("variable", "value", "default", "what it sets", show_lines=False)
    for field, info in StudioSettings.model_fields.items():
        name = env_name(field)
        value = getattr(conf, field)
        is_set = value != info.default
        if only_set and not is_set:
            continue
        if name in secrets:
            shown = "set" if value is not None else "unset"
        else:
            shown = str(value) if is_set else "-"
        default = "unset" if info.default in (None, "") else str(info.default)
        table.add_row(name, shown, default, info.description or "")
    Console(width=200).print(table)
