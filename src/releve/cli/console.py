"""What every `releve` command prints with, and how an error an operator can act on ends
a command: one red line on stderr and exit status 1 (a real bug keeps its traceback)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from ..errors import ReleveError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Say what went wrong in one red line and end the command with `code`."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextlib.contextmanager
def clear_errors(*more: type[Exception]) -> Iterator[None]:
    """Every error Relève raises on purpose (ReleveError), and those of `more`, become
    one red line and exit status 1."""
    caught: tuple[type[Exception], ...] = (ReleveError, *more)
    try:
        yield
    except caught as exc:
        fail(str(exc))


def progress_bar(total: int) -> Progress:
    """A bar on stderr for long reads and writes; none when stderr is not a terminal."""
    return Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=err,
                    disable=not err.is_terminal or total < 8 * 1024 * 1024)
