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
    except OSError as exc:
        # a path the user gave that cannot be used (an output folder that is a file, no
        # permission, disk full): name it instead of showing a traceback
        if exc.filename is None:
            raise
        where = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 else "")
        console.print("[bold red]error:[/] " + _escape(f"{where}: {exc.strerror or exc}\n"
                      "    hint: check the path: inputs must exist; outputs need a folder you "
                      "can write (not an existing file)"), highlight=False)
        return 2
    except Exception as exc:  # click usage errors carry their own exit code
        import click
        from typer.exceptions import Exit as TyperExit
        from typer.exceptions import TyperException

        # typer >= 0.2x vendors click (typer._click): its usage errors are TyperExceptions
        if isinstance(exc, click.exceptions.ClickException | TyperException) and hasattr(
                exc, "show"):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Exit | TyperExit):
            return exc.exit_code
        raise
    return 0


def _escape(text: str) -> str:
    """Printable error text: configured secrets redacted, rich markup escaped."""
    from rich.markup import escape

    from ..secrets import redact

    return escape(redact(text))


def run() -> None:
    sys.exit(main())
