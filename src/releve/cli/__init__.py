"""`releve <component> <verb>`: one command per operation, each with a clear message.

Every Typer command of the package lives here, one module per group:

    keys.py            releve keys station|signer|token
    vault.py           releve vault init|verify|cat|serve|checkpoint|rebuild-state
    import_files.py    releve import
    capture.py         releve capture [status]
    station.py         releve station init|sync|status|serve|downtime
    station_users.py   releve station user ... and releve station audit
    station_print.py   releve station print ...
    journal.py         releve journal verify|export|pull, with reconcile.py (reconcile)
                       and identities.py (identities)
    verify.py          releve verify (the restored HIS against the vault)
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


class LazyGroup(TyperGroup):
    """Sub-apps and commands named in LAZY are imported only when their command runs (or
    help lists them): a capture does not pay for the demo hospital's or the station's
    modules, nor a reconcile for capture's and the vault's."""

    LAZY = {"keys": ("releve.cli.keys", "keys_app"),
            "vault": ("releve.cli.vault", "vault_app"),
            "import": ("releve.cli.import_files", "import_files"),
            "capture": ("releve.cli.capture", "capture_app"),
            "verify": ("releve.cli.verify", "verify"),
            "demo": ("releve.cli.demo", "demo_app"),
            "station": ("releve.cli.station", "station_app"),
            "journal": ("releve.cli.journal", "journal_app")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, attribute = self.LAZY[cmd_name]
            found = getattr(importlib.import_module(module), attribute)
            command: click.Command
            if isinstance(found, typer.Typer):
                command = typer.main.get_group(found)  # a group, without completion options
            else:  # a command's function: made a command as app.command() would
                single = typer.Typer(add_completion=False)
                single.command(cmd_name)(found)
                command = typer.main.get_command(single)
            command.name = cmd_name
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(help="Relève: the hospital's care goes on when its information system is down.",
                  no_args_is_help=True, add_completion=False, cls=LazyGroup)


@app.callback()
def releve(
    s3_endpoint: str | None = typer.Option(
        None, "--s3-endpoint", help="S3 endpoint of s3:// vaults, over AWS_ENDPOINT_URL"),
    s3_region: str | None = typer.Option(
        None, "--s3-region", help="S3 region of s3:// vaults, over AWS_REGION"),
) -> None:
    """Every command is in LAZY: without a callback Typer would not make `app` a group.
    The S3 overrides go through the environment, so that every command that reaches a
    vault (and the workers it forks) sees them, as boto3 reads them there."""
    import os

    if s3_endpoint:
        os.environ["AWS_ENDPOINT_URL"] = s3_endpoint
    if s3_region:
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = s3_region
