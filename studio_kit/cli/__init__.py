"""The ``studio`` command line.

Every module in this package adds its commands to ``app`` when imported; ``main`` imports
them all. A StudioError is printed as a plain message (file, line, field, hint) with exit
code 2, never as a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer
from rich.console import Console

from ..errors import StudioError

app = typer.Typer(
    name="studio",
    help="An open studio for AI video series: import, storyboard, render, review, deliver.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)


def _load_commands() -> None:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def main(argv: list[str] | None = None) -> int:
    _load_commands()
    try:
        app(args=argv, standalone_mode=False)
    except StudioError as err:
        console.print("[bold red]error:[/] " + _escape(str(err)), highlight=False)
        return 2
    except typer.Abort:
        console.print("aborted")
        return 130
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        raise
    return 0


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def run() -> None:
    sys.exit(main())
