"""`releve keys ...`: station identities, capture signing keys, vault tokens and the
HIS client key of SMART Backend Services."""

from __future__ import annotations

from pathlib import Path

import orjson
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


@keys_app.command("client")
def keys_client(name: str,
                alg: str = typer.Option("ES384", help="ES384 (EC P-384) or RS384 (RSA 3072)"),
                out_dir: Path = typer.Option(Path("."), "--out", help="Folder for the key pair")) -> None:
    """Create a SMART Backend Services client key: NAME.pem (private, 0600; capture's
    --client-key) and NAME.jwks.json, the public JWKS to register with the HIS (printed)."""
    from ..fhir.smart import SmartError, new_client_key
    from ..files import write_atomic

    with clear_errors():
        if not name or name.startswith(".") or not all(c.isalnum() or c in "-_." for c in name):
            raise SmartError(f"key name {name!r}: use letters, digits, '-', '_' and '.'")
        key_path, jwks_path = out_dir / f"{name}.pem", out_dir / f"{name}.jwks.json"
        for path in (key_path, jwks_path):
            if path.exists():
                raise SmartError(f"{path} already exists; keys are never overwritten")
        pem, jwks = new_client_key(alg)
        public = orjson.dumps(jwks, option=orjson.OPT_INDENT_2) + b"\n"
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(key_path, pem)  # 0600 from its creation on
        write_atomic(jwks_path, public, vault_keys.PUBLIC)
    err.print(f"{alg} private key written to {escape(str(key_path))} (mode 0600), public JWKS "
              f"to {escape(str(jwks_path))}: register it with the HIS, which names the client (--client-id)")
    print(public.decode(), end="")
