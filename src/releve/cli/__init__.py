"""`releve <component> <verb>`: one command per operation, each with a clear message.

Every Typer command of the package lives here, one module per group:

    keys.py            releve keys station|signer|token
    vault.py           releve vault init|verify|cat|serve|checkpoint|rebuild-state
    import_files.py    releve import
    capture.py         releve capture [status]
    station.py         releve station init|sync|status|serve|downtime
    station_users.py   releve station user ... and releve station audit
    station_print.py   releve station print ...
    journal.py         releve journal verify|export
    demo.py            releve demo ...

console.py holds what they share: the consoles and `clear_errors`, which turns any
ReleveError into one red line and exit status 1; tokens.py the secret options (a file,
the environment, or, with a warning, the command line). The library under releve/ knows
nothing of Typer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    # the click TyperGroup's methods take: recent Typer carries its own copy of it
    from typer import _click as click

from .capture import capture_app
from .import_files import import_files
from .keys import keys_app
from .vault import vault_app


class LazyGroup(TyperGroup):
    """Sub-apps named in LAZY are imported only when their command runs (or help lists
    them): a capture does not pay for the demo hospital's or the station's modules."""

    LAZY = {"demo": ("releve.cli.demo", "demo_app"),
            "station": ("releve.cli.station", "station_app"),
            "journal": ("releve.cli.journal", "journal_app")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, attribute = self.LAZY[cmd_name]
            sub_app = getattr(importlib.import_module(module), attribute)
            command = typer.main.get_group(sub_app)  # a group, without completion options
            command.name = cmd_name
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(help="Relève: the hospital's care goes on when its information system is down.",
                  no_args_is_help=True, add_completion=False, cls=LazyGroup)
app.add_typer(keys_app, name="keys")
app.add_typer(vault_app, name="vault")
app.command("import")(import_files)
app.add_typer(capture_app, name="capture")
