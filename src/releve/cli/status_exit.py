"""How `releve capture status` and `releve station status` end, for a monitoring check
or a cron job to act on:

    0  all is well
    1  something needs attention: each reason is printed on a line of its own
    2  the status cannot be read (not a capture state or station folder, a damaged file)

(`releve station sync` keeps 3 for a segment held, as `releve import` does.)
"""

from __future__ import annotations

import typer
from rich.markup import escape

from .console import out

OK_EXIT, ATTENTION_EXIT, UNREADABLE_EXIT = 0, 1, 2


def conclude(reasons: list[str]) -> None:
    """Print why attention is needed and exit 1, or say that all is well."""
    for reason in reasons:
        out.print(f"[bold red]attention:[/] {escape(reason)}", highlight=False)
    if reasons:
        raise typer.Exit(ATTENTION_EXIT)
    out.print("[green]ok:[/] nothing needs attention", highlight=False)
