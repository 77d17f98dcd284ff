"""What every `releve` command prints with, and how an error an operator can act on ends
a command: one red line on stderr and exit status 1 (a real bug keeps its traceback).
A command that runs until stopped says what it does through `Say`, in the log's form."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from .. import logs
from ..errors import ReleveError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Say what went wrong in one red line and end the command with `code`."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextlib.contextmanager
def clear_errors(*more: type[Exception], code: int = 1) -> Iterator[None]:
    """Every error Relève raises on purpose (ReleveError), and those of `more`, become
    one red line and exit status `code`."""
    caught: tuple[type[Exception], ...] = (ReleveError, *more)
    try:
        yield
    except caught as exc:
        fail(str(exc), code)


def progress_bar(total: int) -> Progress:
    """A bar on stderr for long reads and writes; none when stderr is not a terminal."""
    return Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=err,
                    disable=not err.is_terminal or total < 8 * 1024 * 1024)


class Say:
    """Where a command's progress lines go: printed, for a command that ends (a terminal,
    a cron mail), or logged with the time, level and component (logs.py) for one that
    runs until stopped (`component` given), whose output is read hours later."""

    def __init__(self, component: str | None = None):
        self.log = None
        if component is not None:
            logs.configure()
            self.log = logging.getLogger(f"releve.{component}")

    def info(self, text: str) -> None:
        if self.log is None:
            out.print(escape(text), highlight=False)
        else:
            self.log.info("%s", text)

    def problem(self, label: str, text: str) -> None:
        """`label`: "ALERT", "capture failed"...: red on a terminal, an ERROR in a log."""
        if self.log is None:
            err.print(f"[bold red]{escape(label)}:[/] {escape(text)}", highlight=False)
        else:
            self.log.error("%s: %s", label, text)

    def note(self, text: str) -> None:
        """Said on stderr, neither progress nor a problem (the command stopping, a pause
        before a retry): a WARNING in a log."""
        if self.log is None:
            err.print(escape(text), highlight=False)
        else:
            self.log.warning("%s", text)
