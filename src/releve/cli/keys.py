"""`releve keys ...`: station identities, capture signing keys and vault tokens."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ..vault import keys as vault_keys
from .console import clear_errors, err

keys_app = typer.Typer(help="Create station identities, capture signing keys and vault tokens.", no_args_is_help=True)


@keys_app.command("station")
def keys_station(name: str, out_dir: Path = typer.Option(..., "--out", help="Folder for NAME.key")) -> None:
    """Create a station's age identity (0600); print its public recipient."""
    with clear_errors():
        path, recipient = vault_keys.create_station_identity(out_dir, name)
    err.print(f"identity written to {escape(str(path))} (mode 0600)")
    print(recipient)


@keys_app.command("token")
def keys_token(out_file: Path = typer.Option(..., "--out", help="New file for the token")) -> None:
    """Create a token for `releve vault serve --writer-token-file/--reader-token-file`
    (0600); clients read it with --token-file."""
    with clear_errors():
        vault_keys.create_token_file(out_file)
    err.print(f"token written to {escape(str(out_file))} (mode 0600)")


@keys_app.command("signer")
def keys_signer(name: str, out_dir: Path = typer.Option(..., "--out", help="Folder for the key pair")) -> None:
    """Create a capture's signing key (0600) and public key, in minisign's formats."""
    with clear_errors():
        key_path, pub_path, public = vault_keys.create_signer(out_dir, name)
    err.print(f"signing key written to {escape(str(key_path))} (mode 0600), "
              f"public key to {escape(str(pub_path))}")
    print(public.to_base64())
